"""The `runner` command: parse flags, call the API, map errors to exit codes.

Exit codes: 0 ok, 1 the job ran and failed its thresholds, 2 spec or usage error,
3 backend error, 130 interrupted. Results go to stdout, diagnostics and logs to stderr.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runner import __version__, api
from runner.runs.display import outcome_text, status_lines
from runner.runs.status import ExitCode, Status, exit_code
from runner.watch import print_follow, watch_status

if TYPE_CHECKING:
    from runner.runs.outcome import RunResult

EXIT_OK, EXIT_USAGE, EXIT_BACKEND, EXIT_INTERRUPTED = ExitCode.OK, ExitCode.USAGE, ExitCode.BACKEND, \
    ExitCode.INTERRUPTED
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left
TARGETS = click.Choice(list(api.TARGETS))


def render(diagnostics: Any) -> str:
    from runner.spec.diagnostics import render as render_diagnostics

    return render_diagnostics(diagnostics)


def _err(message: str) -> None:
    click.echo(message, err=True)


def spec_errors_exit(func: Callable[..., Any]) -> Callable[..., Any]:
    """A bad spec is the user's to fix: print every diagnostic and exit 2, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except api.SpecError as exc:
            _err(render(exc.diagnostics))
            sys.exit(EXIT_USAGE)

    return wrapper


def override_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--set and --set-param, shared by every command that loads one spec."""
    func = click.option("--set-param", "set_params", multiple=True, metavar="NAME=VALUE",
                        help="Override a pipeline parameter (a dataset parameter takes a dataset name).")(func)
    func = click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                        help="Override any field, e.g. steps[0].parallel_run.node_count=1. Applied last.")(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="runner")
def cli() -> None:
    """Declarative parallel batch inference with Azure ML ParallelRunStep semantics.

    \b
    Examples:
      runner validate specs/*.yaml
      runner plan specs/mnist.single-image.yaml
      runner plan specs/mnist.yaml --set-param batch_size_param=10 --json
    """


@cli.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path())
@override_options
@click.option("--target", type=TARGETS, help="Refuse what this target cannot express (default: each spec's own).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True,
              help="json: a list of {file, ok, errors}; github: ::error annotations for GitHub Actions.")
def validate(specs: tuple[str, ...], sets: tuple[str, ...], set_params: tuple[str, ...], target: str | None,
             fmt: str) -> None:
    """Check specs: every problem at once, with file:line:col and field path.

    SPECS are files, folders (every spec below them, variants included: YAML that is
    not a spec, and names starting with . or _, are skipped) or - for standard input
    (named <stdin>; its paths are relative to the working directory). Overrides, if
    given, apply to every spec. Exit 0 when all are valid, 2 otherwise.

    \b
    Examples:
      runner validate specs/
      runner validate specs/ --target azureml-v2 --format github   # in a CI job
      cat specs/mnist.yaml | runner validate -
    """
    stdin = sys.stdin.buffer.read() if "-" in specs else None
    results = api.validate(list(specs), sets, set_params, target=target, stdin=stdin)
    failed = sum(not result.ok for result in results)
    if fmt != "text":
        from runner.spec.report import as_github, as_json

        found = [(result.path, result.error.diagnostics if result.error else []) for result in results]
        click.echo((as_json if fmt == "json" else as_github)(found), nl=False)
    for result in results if fmt == "text" else ():
        click.echo(f"{'ok   ' if result.ok else 'error'} {result.path}")
        if result.error is not None:
            _err(render(result.error.diagnostics))
    sys.exit(EXIT_USAGE if failed else EXIT_OK)


FORMATS = click.Choice(["text", "markdown", "json"])


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@override_options
@click.option("--target", type=TARGETS, help="Override the spec's target.")
@click.option("--against", metavar="REF", help="Show what changes from SPEC (and its extends chain) as git "
                                               "revision REF has it, e.g. origin/main or HEAD.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="markdown: for a pull request comment.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (--format json).")
@click.option("--exit-code", is_flag=True, help="With --against: exit 1 when something changes, as git diff does.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write the plan to FILE instead.")
@spec_errors_exit
def plan(spec: str, sets: tuple[str, ...], set_params: tuple[str, ...], target: str | None, against: str | None,
         fmt: str, as_json: bool, exit_code: bool, out: str | None) -> None:
    """Show the fully resolved spec and what will run, without running it.

    Variants are merged, templates rendered, parameters bound and defaults filled in;
    parameters changed from the base spec are marked. Each step shows its work (input
    files, bytes, rows, mini-batches, workers: counted from a listing, no data read) and
    whether `apply` would reuse an earlier run, and why. Secrets are never printed.

    With --target azureml or azureml-v2 it also shows what apply will create or reuse
    in the workspace and the compiled pipeline (no credentials or network needed);
    --out then writes just the compiled YAML. With --against REF it shows what changes
    instead, field by field (as `runner diff`).

    \b
    Examples:
      runner plan specs/mnist.single-image.yaml
      runner plan specs/mnist.yaml --set steps[0].parallel_run.node_count=1 --out plan.txt
      runner plan specs/mnist.yaml --target azureml-v2 --out job.yaml   # then: az ml job create -f job.yaml
      runner plan specs/mnist.yaml --against origin/main --format markdown   # a PR comment
    """
    fmt = "json" if as_json else fmt
    if against:
        _show_review(api.review(spec, against=against, sets=sets, set_params=set_params, target=target), fmt,
                     exit_code, out)
        return
    from runner.render import plan_json, plan_text

    base_dir = os.path.dirname(os.path.abspath(out)) if out else "."
    result, compiled = api.plan_compiled(spec, sets, set_params, target, base_dir=base_dir)
    work = api.preview(result, spec)
    if fmt == "json":
        data = json.loads(plan_json(result, work))
        if compiled:
            data["compiled"] = compiled.data
        text = json.dumps(data, indent=2) + "\n"
    elif compiled and out and fmt == "text":
        text = compiled.text  # the file itself: for azureml-v2, what `az ml job create -f` takes
    elif fmt == "markdown":
        from runner.review import plan_markdown

        text = plan_markdown(result, work, compiled)
    else:
        text = plan_text(result, work)
        if compiled:
            text += "\n".join(["", f"Azure ML ({compiled.target}): what `runner apply` creates, reuses and submits",
                               *compiled.description, "", "Compiled:", compiled.text])
    if out:
        if compiled and compiled.stage:
            try:
                api.stage_inputs(compiled)
            except api.RunError as exc:
                _err(f"runner plan: {exc}")
                sys.exit(EXIT_USAGE)
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            _err(f"runner plan: cannot write --out {out}: {exc.strerror or exc}")
            sys.exit(EXIT_USAGE)
        _err(f"wrote {out}")
        if compiled and "***" in text:
            _err(f"note: {out} shows secret values as ***; `runner apply` fills them in, "
                 "`az ml job create` needs them set first")
    else:
        click.echo(text, nl=False)


def _show_review(review: Any, fmt: str, exit_code: bool, out: str | None) -> None:
    from runner.review import review_json, review_markdown, review_text

    text = {"text": review_text, "markdown": review_markdown, "json": review_json}[fmt](review)
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            _err(f"runner: cannot write --out {out}: {exc.strerror or exc}")
            sys.exit(EXIT_USAGE)
        _err(f"wrote {out}")
    else:
        click.echo(text, nl=False)
    sys.exit(1 if exit_code and review.changed else EXIT_OK)


@cli.command()
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@override_options
@click.option("--target", type=TARGETS, help="Compare for this target (with an Azure one, the compiled pipelines).")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="markdown: for a pull request comment.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when something changes, as git diff does.")
@spec_errors_exit
def diff(old: str, new: str, sets: tuple[str, ...], set_params: tuple[str, ...], target: str | None, fmt: str,
         exit_code: bool) -> None:
    """Show what changes from spec OLD to spec NEW, as the job sees it.

    Both are resolved in full (variants merged, templates rendered, defaults filled in),
    then compared field by field, with where NEW sets each value; then the parameters,
    the work (mini-batches) and, for an Azure target, the compiled pipeline as a diff.

    \b
    Examples:
      runner diff specs/mnist.yaml specs/mnist.single-image.yaml
      runner diff specs/tabular.yaml specs/tabular.azure.yaml --target azureml --format markdown
    """
    _show_review(api.review(new, old=old, sets=sets, set_params=set_params, target=target), fmt, exit_code, None)


@cli.command()
@click.option("--out", "folder", type=click.Path(file_okay=False), default="schema", show_default=True,
              help="Folder for runner-spec.schema.json and runner-variant.schema.json.")
def schema(folder: str) -> None:
    """Write the JSON Schemas editors use to check specs as you type."""
    for path in api.write_schemas(folder):
        click.echo(str(path))


def run_errors_exit(func: Callable[..., Any]) -> Callable[..., Any]:
    """A run that cannot be found or resumed: exit 2; a target not in this build: exit 3."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except api.RunError as exc:
            _err(f"runner: {exc}")
            sys.exit(EXIT_USAGE)
        except api.BackendError as exc:
            _err(f"runner: {exc}")
            sys.exit(EXIT_BACKEND)

    return wrapper


def _finish(result: RunResult) -> None:
    """The outcome of apply/resume: one line per step, then where to look; exit code."""
    for step in result.steps:
        line = f"{step.name}: {outcome_text(str(step.status), step.reason if step.status != 'preflight' else '')}"
        if step.reused_from:
            line = f"{step.name}: reused the output of run {step.reused_from} (same spec, inputs and code; allow_reuse)"
        _err(line)
        if step.status == "preflight":
            _err(f"runner: cannot start step '{step.name}':\n{step.reason}")
    run_id = result.run.id
    if result.status.ok:
        rows = any(step.output for step in result.steps)
        # Two lines: a run id is long, and a line that wraps at 80 columns splits a word.
        _err(f"run {run_id} {result.status}")
        _err(f"`runner results {run_id}` shows the output" if rows else
             f"the entry script wrote its outputs (summary_only) under {result.run.path / result.steps[-1].name}"
             "/outputs")
    elif result.note:  # the backend's own word on what happens next
        _err(f"run {run_id}: {result.note}")
    elif result.status in ("interrupted", "canceled"):
        _err(f"run {run_id} {result.status}; `runner resume {run_id}` continues it")
    elif result.status == "failed":
        _err(f"run {run_id} failed; see `runner status {run_id}` and `runner logs {run_id}`")
    elif result.status == "error":
        _err(f"run {run_id} stopped; `runner resume {run_id}` goes on once the cause is fixed")
    click.echo(run_id)
    sys.exit(int(result.exit_code))


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@override_options
@click.option("--target", type=TARGETS, help="Override the spec's target.")
@spec_errors_exit
@run_errors_exit
def apply(spec: str, sets: tuple[str, ...], set_params: tuple[str, ...], target: str | None) -> None:
    """Run a spec: on this machine (target local, the default) or on Azure ML.

    Prints the run id on stdout; progress, logs and the outcome go to stderr. Exit 0 when
    the job succeeds (failures within its thresholds included), 1 when a threshold is
    exceeded, 2 for a bad spec or a failed pre-flight check, 3 when Azure ML (or its SDK)
    fails, 130 when interrupted. On Azure, apply submits, follows the run to its end and
    downloads its output into the run folder.

    \b
    Examples:
      runner apply specs/mnist.yaml
      runner apply specs/mnist.single-image.yaml --set-param batch_size_param=1
      runner apply specs/mnist.yaml --target azureml-v2
    """
    _finish(api.apply(spec, sets, set_params, target))


@cli.command()
@click.argument("run")
@click.option("--accept-changed-inputs", is_flag=True,
              help="Go on although input tables changed since the run was planned: their unfinished "
                   "mini-batches fail and are listed in failed_items.jsonl.")
@run_errors_exit
def resume(run: str, accept_changed_inputs: bool) -> None:
    """Continue an interrupted run (Ctrl-C, a killed driver): what was committed stays,
    exactly once; the rest runs. RUN is a run id, a prefix of one, or `latest`.

    Input tables changed since the run was planned (size, modification time or inode)
    stop it first, listed, before anything runs."""
    _finish(api.resume(run, accept_changed_inputs=accept_changed_inputs))


@cli.command()
@click.argument("run")
@click.option("--update-code", is_flag=True,
              help="Run with the code as source_directory holds it now (a fix), not the run's snapshot.")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE",
              help="Change how the items run: run_invocation_timeout, run_max_try, process_count_per_node, "
                   "node_count, error_threshold, allowed_failed_count, allowed_failed_percent, logging_level or "
                   "environment_variables.NAME (optionally steps[I].parallel_run.FIELD).")
@click.option("--set-param", "set_params", multiple=True, metavar="NAME=VALUE",
              help="Change a pipeline parameter bound to one of those fields.")
@click.option("--accept-changed-inputs", is_flag=True,
              help="Go on although input tables changed since the run was planned: their mini-batches fail.")
@run_errors_exit
def retry(run: str, update_code: bool, sets: tuple[str, ...], set_params: tuple[str, ...],
          accept_changed_inputs: bool) -> None:
    """Run a run's failed and never-run mini-batches again, into its own output: each row
    once, the failures they replace gone from its counts and failed_items.jsonl.

    With the run's code snapshot (a transient failure), or with --update-code the code as
    it is now (a fix), recorded so `runner status` lists each code version and its rows.
    Exit 0 when nothing failed (it says so), else as `runner apply`.

    \b
    Examples:
      runner retry latest
      runner retry latest --update-code
      runner retry job-20250101-120000 --set run_invocation_timeout=300 --set run_max_try=5
    """
    result = api.retry(run, update_code=update_code, sets=sets, set_params=set_params,
                       accept_changed_inputs=accept_changed_inputs)
    if not result.steps:
        _err(f"runner: {result.note}")
        click.echo(result.run.id)
        sys.exit(EXIT_OK)
    _finish(result)


@cli.command()
@click.argument("run")
@run_errors_exit
def cancel(run: str) -> None:
    """Stop a running run from any terminal, as Ctrl-C in its own would: locally the
    driver stops its workers, keeps what it committed and records `canceled` (`runner
    resume` goes on later); waits until it has stopped. An Azure run is canceled in Azure
    ML (and recorded `canceled`). RUN is a run id, a prefix of one, or `latest`."""
    _err(api.cancel(run))


STATUSES = click.Choice(sorted(s.value for s in Status), case_sensitive=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the runs as a JSON list (every field of run.json).")
@click.option("--status", "statuses", multiple=True, type=STATUSES, help="Only runs in this state (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the newest N (still listed oldest first).")
@run_errors_exit
def runs(as_json: bool, statuses: tuple[str, ...], limit: int | None) -> None:
    """List the project's runs, oldest first.

    Runs are kept in the nearest `.runner/` folder up from the working directory (or
    $RUNNER_HOME). Runs that failed their pre-flight checks are summed up in one line
    (`--status preflight` lists them, `runner gc` removes them)."""
    found = api.list_runs(statuses=statuses)
    preflight = [] if as_json or statuses else [r for r in found if r["status"] == Status.PREFLIGHT]
    found = [r for r in found if r["status"] != Status.PREFLIGHT] if preflight else found
    found = found[len(found) - min(limit, len(found)):] if limit is not None else found
    if as_json:
        click.echo(json.dumps(found, indent=1, default=str))
        return
    if not found and not preflight:
        _err(f"no runs{' with status ' + ' or '.join(statuses) if statuses else ' yet'} "
             f"(they are kept under {api.runs_dir()})")
    for info in found:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started") or 0))
        click.echo(f"{info.get('id', '?'):<48} {str(info.get('status', '?')):<12} {info.get('target', 'local'):<11} "
                   f"{started}  {info.get('spec', '')}")
    if preflight:
        click.echo(f"and {len(preflight)} failed pre-flight check{'s' if len(preflight) > 1 else ''} "
                   f"(newest {preflight[-1]['id']}): `runner runs --status preflight` lists them, "
                   "`runner gc` removes them")


@cli.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Remove a run even though a later run reused its output.")
@run_errors_exit
def rm(runs: tuple[str, ...], force: bool) -> None:
    """Remove runs' folders. RUN is a run id, a prefix of one, or `latest`.

    A running run is refused (`runner cancel` it first). So is a run whose output a later
    run reused (allow_reuse): the later run's rows stay, but the logs and reports of the
    reused step would go; --force removes it anyway. All named runs go, or none."""
    for line in api.remove(runs, force):
        _err(line)


@cli.command()
@click.option("--keep", type=click.IntRange(min=0), metavar="N",
              help="Also remove every run but the newest N of each spec file.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@run_errors_exit
def gc(keep: int | None, dry_run: bool) -> None:
    """Remove runs that failed their pre-flight checks and, with --keep N, the older runs
    of each spec (interrupted and canceled ones too: they cannot be resumed after).

    Never removes a running run, nor one whose output a kept run reused (it is kept,
    and said so: that step's logs and reports are there)."""
    said = api.gc(keep, dry_run)
    for line in said:
        _err(line)
    if not said:
        _err("nothing to remove")


@cli.command()
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--watch", "-w", is_flag=True,
              help="Redraw it until the run ends, then exit as `runner apply` would (0, 1, 2, 3 or 130).")
@click.option("--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True, metavar="SECONDS",
              help="How often --watch reads the status.")
@run_errors_exit
def status(run: str, as_json: bool, watch: bool, interval: float) -> None:
    """Show a run's progress: mini-batches and items done, failed, left; items/s and
    mini-batches/s; while it runs, the time left (ETA).

    With --watch, from any terminal: on a terminal the status is redrawn in place; into
    a file or a pipe a new block is written only when it changes."""
    if watch:
        if as_json:
            raise click.UsageError("--watch draws text; --json prints one status")
        out = sys.stdout
        ended = watch_status(lambda: api.status(run), out, interval, out.isatty(),
                             lambda: shutil.get_terminal_size().columns)
        sys.exit(int(exit_code(ended)))
    info = api.status(run)
    if as_json:
        click.echo(json.dumps(info, indent=1, default=str))
        return
    for line in status_lines(info):
        click.echo(line)


@cli.command()
@click.argument("run")
@click.option("--head", type=click.IntRange(min=0), default=10, show_default=True, help="Rows to show.")
@click.option("--step", help="The step whose output to show (default: the last with one).")
@click.option("--sorted", "in_input_order", is_flag=True,
              help="Rows in input order (files as listed; a table's files, then its rows), not as they finished.")
@run_errors_exit
def results(run: str, head: int, step: str | None, in_input_order: bool) -> None:
    """Show a run's output rows: how many, and the first few (the tutorial's view).

    Rows are kept in the order their mini-batches finished; --sorted shows them in the
    order of the inputs (by mini-batch, then as run() returned them)."""
    found = api.results(run, head, step, in_input_order=in_input_order)
    _err(found.path)
    click.echo(f"{os.path.basename(found.path)} has {found.rows} rows")
    for line in found.head:
        click.echo(line)


@cli.command()
@click.argument("run")
@click.option("--worker", type=click.IntRange(min=0), help="Only this worker's user logs.")
@click.option("--sys", "system", is_flag=True, help="The engine's own logs instead of the entry script's.")
@click.option("--step", help="Only this step.")
@click.option("--follow", "-f", is_flag=True,
              help="Stream the driver's log and the workers' (or --worker's) as they grow, until the run ends.")
@run_errors_exit
def logs(run: str, worker: int | None, system: bool, step: str | None, follow: bool) -> None:
    """Show a run's logs: each worker's stdout, stderr and logging (or --sys).

    With -f, from any terminal: the driver's log and each worker's user logs (only
    --worker's; only the driver's with --sys), as `tail -f` shows them, from their start
    until the run ends; then exit 0."""
    if follow:
        shown = print_follow(api.follow(run, worker, system, step), sys.stdout)
    else:
        shown = False
        for path, text in api.logs(run, worker, system, step):
            if text.strip():
                shown = True
                click.echo(f"==> {path} <==")
                click.echo(text.rstrip("\n"))
    if not shown:
        reused = [s for s in api.status(run)["steps"] if s.get("reused_from")]
        hint = "".join(f"; step {s['name']} reused run {s['reused_from']}: `runner logs {s['reused_from']}`"
                       for s in reused)
        _err(f"no logs to show{hint}")
    elif system and not follow:
        _err("one row per mini-batch: logs/sys/report/processed_mini_batches.csv in each step's folder")


@cli.command()
@click.argument("name", type=click.Choice(["mnist", "tabular"]))
@click.option("--root", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where data/ and models/ go (the example specs expect the repository root).")
@click.option("--force", is_flag=True, help="Make them again even if they are there.")
@run_errors_exit
def example(name: str, root: str, force: bool) -> None:
    """Prepare an example's data and model, offline, from what installed packages ship.

    \b
    mnist: scikit-learn's handwritten digits as 28x28 PNG files under data/mnist/ (labels
           in data/mnist-labels.csv), a Keras classifier trained on the rest in models/mnist/.
    tabular: scikit-learn's breast cancer rows, replicated to a few MB of CSV under
           data/tabular/, with a scikit-learn classifier in models/tabular/.
    """
    made = api.prepare_example(name, root, force)
    verb = "made" if made.made else "already there (use --force to make them again)"
    if name == "mnist":
        _err(f"{made.test_images} test images in {made.images}, model in {made.model}: {verb}; "
             f"held-out accuracy {made.test_accuracy:.1%}")
    else:
        _err(f"{made.rows} rows in {made.data}, model in {made.model}: {verb}")


@cli.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False))
@click.option("--tabular", is_flag=True, help="CSV rows scored with pandas (the tabular extra), not text files.")
@click.option("--name", help="The spec's name (default: from the folder's name).")
@click.option("--force", is_flag=True, help="Overwrite the files that are there.")
@run_errors_exit
def init(folder: str, tabular: bool, name: str | None, force: bool) -> None:
    """Start a project in FOLDER (default: here) that validates and runs as it is.

    \b
    specs/NAME.yaml and a variant, with the schema line editors read (schema/)
    entry_scripts/score.py: init() and run(mini_batch), with Azure ML's helpers
    data/ and models/: a few sample inputs and a small model
    .amlignore, .gitignore (.runner/), .pre-commit-config.yaml (runner validate)

    Files that are there are never overwritten without --force.
    """
    made = api.init_project(folder, tabular, force, name)
    for path in made.written:
        click.echo(str(path))
    spec = os.path.relpath(made.spec, made.folder)
    where = "" if os.path.samefile(made.folder, ".") else f"cd {made.folder} && "
    _err(f"next: {where}runner validate specs/ && runner apply {spec} && runner results latest")


def main() -> None:
    try:
        code = cli.main(prog_name="runner", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except SystemExit:
        # click answers a reader that left (`runner logs -f | head`) with exit 1, our
        # "threshold exceeded": say what a shell says of a writer whose reader left.
        if type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):  # what click puts in its place
            sys.exit(EXIT_BROKEN_PIPE)
        raise
    except click.exceptions.Exit as exc:  # --help, --version
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # usage errors: exit 2, as click would
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.Abort):  # click turns Ctrl-C into Abort; we keep 130
        _err("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:  # the reader left (`runner logs -f | head`): stop quietly, as `yes | head` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        sys.exit(EXIT_BROKEN_PIPE)
    except Exception as exc:  # a bug in runner, not in the user's spec
        if os.environ.get("RUNNER_DEBUG"):
            raise
        _err(f"runner: internal error: {type(exc).__name__}: {exc} (set RUNNER_DEBUG=1 for a traceback)")
        sys.exit(EXIT_BACKEND)
