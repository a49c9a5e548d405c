"""`runner` commands that run a spec and operate runs, from any terminal: apply, resume,
retry, cancel, runs, rm, gc, status, results, logs, report."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runner import api
from runner.errors import RunnerError
from runner.cli.common import EXIT_INTERRUPTED, EXIT_OK, TARGETS, _err, cli, override_options
from runner.runs.display import counted, outcome_text, runs_table, status_lines
from runner.runs.status import Status, exit_code
from runner.watch import print_follow, watch_status

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from runner.runs.folder import RunFolder
    from runner.runs.outcome import RunResult


def _complete_runs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Tab on a RUN: `latest`, then the project's run ids, newest first. Never an error:
    a shell prints whatever a completion raises."""
    from click.shell_completion import CompletionItem

    from runner.runs.folder import LATEST, list_runs

    try:
        ids = [run.id for run in reversed(list_runs(api.runs_dir()))]
    except (OSError, RunnerError):  # no project, RUNNER_HOME a file: nothing to offer
        ids = []
    return [CompletionItem(name) for name in (LATEST[0], *ids) if name.startswith(incomplete)]


# A run id, a prefix of one, or `latest`; run ids complete on Tab.
RUN = click.argument("run", shell_complete=_complete_runs)


def _finish(result: RunResult) -> None:
    """The outcome of apply/resume: one line per step, then where to look; exit code.
    Commands are on lines of their own: a run id is long, and a line that wraps at 80
    columns would split it."""
    for step in result.steps:
        said = outcome_text(str(step.status), step.reason if step.status != "preflight" else "")
        line = f"{step.name}: " + "\n  ".join(said.split("\n"))  # a reason's later lines under the step
        if step.reused_from:
            line = (f"{step.name}: reused the output of run {step.reused_from} (same spec, inputs and code; "
                    "allow_reuse; `runner apply --no-reuse` runs it again)")
        _err(line)
        if step.status == "preflight":
            _err(f"runner: cannot start step '{step.name}':\n{step.reason}")
    run_id = result.run.id
    if result.status.ok:
        rows = any(step.output for step in result.steps)
        _err(f"run {run_id} {result.status}")
        outputs = result.run.step(result.steps[-1].name).outputs
        _err(f"its output:\n  runner results {run_id}" if rows else
             f"the entry script wrote its outputs (summary_only) under {outputs}")
    elif result.note:  # the backend's own word on what happens next
        _err(f"run {run_id}: {result.note}")
    elif result.status in ("interrupted", "canceled"):
        _err(f"run {run_id} {result.status}; to continue it:\n  runner resume {run_id}")
    elif result.status == "failed":
        _err(f"run {run_id} failed; to see why:\n  runner status {run_id}\n  runner logs {run_id}")
    elif result.status == "error":
        _err(f"run {run_id} stopped; once the cause is fixed:\n  runner resume {run_id}")
    _report_line(result.run)
    click.echo(run_id)
    sys.exit(int(result.exit_code))


def _report_line(run: RunFolder) -> None:
    """Where the run's report is (being written by a process of the driver's, at first)."""
    state = api.report_state_of(run)
    if state != "none":
        _err(f"report{' (being written)' if state == 'writing' else ''}: {run.report_html}")


def _started(run: RunFolder) -> None:
    """The run, named as soon as it exists (as `az ml job create` names its job), with
    what follows it and stops it from another terminal."""
    _err(f"run {run.id}; from any terminal:\n  runner status {run.id} --watch\n  runner logs {run.id} -f\n"
         f"  runner cancel {run.id}")


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@override_options
@click.option("--target", type=TARGETS, help="Override the spec's target.")
@click.option("--no-reuse", is_flag=True,
              help="Run every step, even one whose spec, inputs and code are unchanged since an earlier run "
                   "(allow_reuse). On Azure ML each step is submitted with allow_reuse false (v1) or "
                   "is_deterministic false (v2).")
def apply(spec: str, sets: tuple[str, ...], set_params: tuple[str, ...], target: str | None,
          no_reuse: bool) -> None:
    """Run a spec: on this machine (target local, the default) or on Azure ML.

    Names the run on stderr as soon as it starts, with the commands that watch, follow and
    cancel it; prints the run id on stdout at the end; progress, logs and the outcome go
    to stderr. Exit 0 when the job succeeds (failures within its thresholds included: the
    outcome says how many), 1 when a threshold is exceeded, 2 for a bad spec or a failed
    pre-flight check, 3 when Azure ML (or its SDK) fails, 130 when interrupted. On Azure,
    apply submits, follows the run to its end and downloads its output into the run folder.

    \b
    Examples:
      runner apply specs/mnist.yaml
      runner apply specs/mnist.single-image.yaml --set-param batch_size_param=1
      runner apply specs/mnist.yaml --target azureml-v2
      runner apply specs/mnist.yaml --no-reuse
    """
    from runner.runs.outcome import ApplyOptions

    _finish(api.apply(spec, sets, set_params, target, options=ApplyOptions(reuse=not no_reuse, started=_started)))


@cli.command()
@RUN
@click.option("--accept-changed-inputs", is_flag=True,
              help="Go on although input tables changed since the run was planned: their unfinished "
                   "mini-batches fail and are listed in failed_items.jsonl.")
def resume(run: str, accept_changed_inputs: bool) -> None:
    """Continue an interrupted run (Ctrl-C, a killed driver): what was committed stays,
    exactly once; the rest runs. RUN is a run id, a prefix of one, or `latest`.

    Input tables changed since the run was planned (size, modification time or inode)
    stop it first, listed, before anything runs."""
    _finish(api.resume(run, accept_changed_inputs=accept_changed_inputs))


@cli.command()
@RUN
@click.option("--update-code", is_flag=True,
              help="Run with the code as source_directory holds it now (a fix), not the run's snapshot.")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE",
              help="Change how the items run: run_invocation_timeout, run_max_try, process_count_per_node, "
                   "node_count, error_threshold, allowed_failed_count, allowed_failed_percent, logging_level or "
                   "environment_variables.NAME (optionally steps[I].parallel_run.FIELD). A secret is read from the "
                   "environment: environment_variables.API_TOKEN='{{ env.API_TOKEN }}'.")
@click.option("--set-param", "set_params", multiple=True, metavar="NAME=VALUE",
              help="Change a pipeline parameter bound to one of those fields.")
@click.option("--accept-changed-inputs", is_flag=True,
              help="Go on although input tables changed since the run was planned: their mini-batches fail.")
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
@RUN
def cancel(run: str) -> None:
    """Stop a running run from any terminal, as Ctrl-C in its own would: locally the
    driver stops its workers, keeps what it committed and records `canceled` (`runner
    resume` goes on later); waits until it has stopped. An Azure run is canceled in Azure
    ML (and recorded `canceled`). RUN is a run id, a prefix of one, or `latest`."""
    _err(api.cancel(run))


@contextlib.contextmanager
def _watching(run: str) -> Iterator[None]:
    """Ctrl-C while watching a run from another terminal stops the watching, not the
    run: said so (a bare `interrupted` reads as if the run stopped); exit 130 still."""
    try:
        yield
    except KeyboardInterrupt:
        _err(f"stopped watching; the run goes on (`runner cancel {run}` stops it)")
        sys.exit(int(EXIT_INTERRUPTED))


STATUSES = click.Choice(sorted(s.value for s in Status), case_sensitive=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True,
              help="Print the runs as a JSON list: each run's run.json (schema/runner-runs.schema.json).")
@click.option("--status", "statuses", multiple=True, type=STATUSES, help="Only runs in this state (repeatable).")
@click.option("--spec", "specs", multiple=True, metavar="NAME",
              help="Only runs of this spec: its file (from here, or by file name) or its name (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the newest N (still listed oldest first).")
def runs(as_json: bool, statuses: tuple[str, ...], specs: tuple[str, ...], limit: int | None) -> None:
    """List the project's runs, oldest first: id, status (with the items that failed
    within the thresholds of a run that succeeded), target, start, duration and spec.

    Runs are kept in the nearest `.runner/` folder up from the working directory (or
    $RUNNER_HOME). Runs that failed their pre-flight checks are summed up in one line
    (`--status preflight` lists them, `runner gc` removes them)."""
    found = api.list_runs(statuses=statuses, specs=specs)
    preflight = [] if as_json or statuses else [r for r in found if r.status == Status.PREFLIGHT]
    found = [r for r in found if r.status != Status.PREFLIGHT] if preflight else found
    found = found[len(found) - min(limit, len(found)):] if limit is not None else found
    if as_json:
        from runner.runs.views import runs_json

        click.echo(runs_json(found))
        return
    if not found and not preflight:
        which = " or ".join(statuses) if statuses else ""
        of = f" of {' or '.join(specs)}" if specs else ""
        _err(f"no runs{' with status ' + which if which else ''}{of}{' yet' if not which and not of else ''} "
             f"(they are kept under {api.runs_dir()})")
    for line in runs_table(found):
        click.echo(line)
    if preflight:
        click.echo(f"and {counted(len(preflight), 'failed pre-flight check')} "
                   f"(newest {preflight[-1].id}): `runner runs --status preflight` lists them, "
                   "`runner gc` removes them")


@cli.command()
@click.argument("runs", nargs=-1, required=True, shell_complete=_complete_runs)
@click.option("--force", is_flag=True, help="Remove a run even though a later run reused its output.")
def rm(runs: tuple[str, ...], force: bool) -> None:
    """Remove runs' folders. RUN is a run id, a prefix of one, or `latest`.

    A running run is refused (`runner cancel` it first). So is a run whose output a later
    run reused (allow_reuse): the later run's rows stay, but the logs and reports of the
    reused step would go; --force removes it anyway. All named runs go, or none."""
    for line in api.remove(runs, force):
        _err(line)


@cli.command()
@click.option("--keep", type=click.IntRange(min=0), metavar="N",
              help="Also remove every finished run but the newest N of each spec file (running runs never go, "
                   "nor count).")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
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
@RUN
@click.option("--json", "as_json", is_flag=True,
              help="Print the run and its steps as JSON (schema/runner-status.schema.json).")
@click.option("--watch", "-w", is_flag=True,
              help="Redraw it until the run ends, then exit as `runner apply` would (0, 1, 2, 3 or 130). "
                   "Ctrl-C stops watching (exit 130); the run goes on.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True, metavar="SECONDS",
              help="How often --watch reads the status.")
def status(run: str, as_json: bool, watch: bool, interval: float) -> None:
    """Show a run's progress: mini-batches and items done, failed, left; items/s and
    mini-batches/s; while it runs, the time left (ETA).

    With --watch, from any terminal: on a terminal the status is redrawn in place; into
    a file or a pipe a new block is written only when it changes."""
    if watch:
        if as_json:
            raise click.UsageError("--watch draws text; --json prints one status")
        out = sys.stdout
        with _watching(run):
            ended = watch_status(lambda: api.status(run), out, interval, out.isatty(),
                                 lambda: shutil.get_terminal_size().columns)
        sys.exit(int(exit_code(ended)))
    view = api.status(run)
    if as_json:
        from runner.runs.views import status_json

        click.echo(status_json(view))
        return
    for line in status_lines(view):
        click.echo(line)
    path, state = api.report_state(run)
    if state != "none":
        click.echo(f"  report{' (being written)' if state == 'writing' else ''}: {path}")


@cli.command()
@RUN
@click.option("--head", type=click.IntRange(min=0), default=10, show_default=True, help="Rows to show.")
@click.option("--step", help="The step whose output to show (default: the last with one).")
@click.option("--sorted", "in_input_order", is_flag=True,
              help="Rows in input order (files as listed; a table's files, then its rows), not as they finished.")
def results(run: str, head: int, step: str | None, in_input_order: bool) -> None:
    """Show a run's output rows: how many, and the first few (the tutorial's view); the
    rows of a run still running, or stopped before it finished, are said to be partial.

    Rows are kept in the order their mini-batches finished; --sorted shows them in the
    order of the inputs (by mini-batch, then as run() returned them)."""
    found = api.results(run, head, step, in_input_order=in_input_order)
    _err(found.path)
    state = api.status(run).status
    # Rows of a run that did not finish well are only part of its output: said, or a
    # count read as the whole (`has 460 rows` of a canceled run) misleads.
    partial = "" if state.ok else f" (partial: run is {state})" if state == Status.RUNNING else \
        f" (partial: run {state})"
    click.echo(f"{os.path.basename(found.path)} has {counted(found.rows, 'row')}{partial}")
    for line in found.head:
        click.echo(line)


@cli.command()
@RUN
@click.option("--worker", type=click.IntRange(min=0), help="Only this worker's user logs.")
@click.option("--sys", "system", is_flag=True, help="The engine's own logs instead of the entry script's.")
@click.option("--step", help="Only this step.")
@click.option("--follow", "-f", is_flag=True,
              help="Stream the driver's log and the workers' (or --worker's) as they grow, until the run ends.")
def logs(run: str, worker: int | None, system: bool, step: str | None, follow: bool) -> None:
    """Show a run's logs: each worker's stdout, stderr and logging (or --sys).

    With -f, from any terminal: the driver's log and each worker's user logs (only
    --worker's; only the driver's with --sys), as `tail -f` shows them, from their start
    until the run ends; then exit 0. Ctrl-C stops following (exit 130); the run goes on."""
    if follow:
        with _watching(run):
            shown = print_follow(api.follow(run, worker, system, step), sys.stdout)
    else:
        shown = False
        for path, text in api.logs(run, worker, system, step):
            if text.strip():
                shown = True
                click.echo(f"==> {path} <==")
                click.echo(text.rstrip("\n"))
    if not shown:
        reused = [s for s in api.status(run).steps if s.reused_from]
        hint = "".join(f"; step {s.name} reused run {s.reused_from}: `runner logs {s.reused_from}`" for s in reused)
        _err(f"no logs to show{hint}")
    elif system and not follow:
        _err("one row per mini-batch: logs/sys/report/processed_mini_batches.csv in each step's folder")


@cli.command()
@RUN
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Where to write it (default: report.html in the run's folder).")
def report(run: str, output: Path | None) -> None:
    """Write a run's report: one HTML file that opens offline in a browser, with the
    run's parameters and counts, throughput over time, a timeline per worker, mini-batch
    durations and the slowest, failures grouped by error, what was reused, peak memory.

    A local run writes its own into its folder as it ends (`runner status` says where);
    this writes it again, or elsewhere. An Azure run's shows what its folder records.
    Needs matplotlib: pip install 'runner[report]'."""
    path = api.report(run, output.resolve() if output else None)
    click.echo(str(path))
