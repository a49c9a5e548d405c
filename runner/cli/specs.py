"""`runner` commands about a spec: validate, plan, diff, schema, example, init."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from runner import api
from runner.cli.common import EXIT_OK, EXIT_USAGE, FORMATS, TARGETS, _err, cli, override_options


@cli.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path())
@override_options
@click.option("--target", type=TARGETS, help="Refuse what this target cannot express (default: each spec's own).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True,
              help="json: a list of {file, ok, errors}; github: ::error annotations for GitHub Actions.")
@click.option("--no-files", is_flag=True, help="Do not look for the files a spec names (entry script, source "
                                               "directory, local datasets and models): a spec away from its data.")
def validate(specs: tuple[str, ...], sets: tuple[str, ...], set_params: tuple[str, ...], target: str | None,
             fmt: str, no_files: bool) -> None:
    """Check specs: every problem at once, with file:line:col and field path.

    SPECS are files, folders (every spec below them, variants included: YAML that is
    not a spec, and names starting with . or _, are skipped) or - for standard input
    (named <stdin>; its paths are relative to the working directory). Overrides, if
    given, apply to every spec. The files a spec names (its entry script and source
    directory, local datasets and models) must be there, as `apply` needs them, unless
    --no-files. Exit 0 when all are valid, 2 otherwise.

    \b
    Examples:
      runner validate specs/
      runner validate specs/ --target azureml-v2 --format github   # in a CI job
      runner validate specs/ --no-files   # where the data and models are not
      cat specs/mnist.yaml | runner validate -
    """
    stdin = sys.stdin.buffer.read() if "-" in specs else None
    results = api.validate(list(specs), sets, set_params, target=target, stdin=stdin, files=not no_files)
    failed = sum(not result.ok for result in results)
    if fmt != "text":
        from runner.spec.report import as_github, as_json

        found = [(result.path, result.error.diagnostics if result.error else []) for result in results]
        click.echo((as_json if fmt == "json" else as_github)(found), nl=False)
    for result in results if fmt == "text" else ():
        click.echo(f"{'ok   ' if result.ok else 'error'} {result.path}")
        if result.error is not None:
            _err(result.error.report())
    if no_files:
        _err("note: files not checked (--no-files): entry scripts, source directories, datasets and models")
    sys.exit(EXIT_USAGE if failed else EXIT_OK)


@cli.command()
@click.argument("spec", type=click.Path())
@override_options
@click.option("--target", type=TARGETS, help="Override the spec's target.")
@click.option("--against", metavar="REF", help="Show what changes from SPEC (its extends chain, code, models and "
                                               "inputs) as git revision REF has it, e.g. origin/main or HEAD.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="markdown: for a pull request comment.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (--format json).")
@click.option("--exit-code", is_flag=True, help="With --against: exit 1 when something changes, as git diff does.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write the plan to FILE instead.")
@click.option("--no-files", is_flag=True, help="Do not look for the files the spec names (as validate --no-files).")
def plan(spec: str, sets: tuple[str, ...], set_params: tuple[str, ...], target: str | None, against: str | None,
         fmt: str, as_json: bool, exit_code: bool, out: str | None, no_files: bool) -> None:
    """Show the fully resolved spec and what will run, without running it.

    Variants are merged, templates rendered, parameters bound and defaults filled in;
    parameters changed from the base spec are marked. Each step shows its work (input
    files, bytes, rows, mini-batches, workers: counted from a listing, no data read) and
    whether `apply` would reuse an earlier run, and why. Secrets are never printed.
    SPEC - reads the spec from standard input (named <stdin>; its paths are relative to
    the working directory).

    With --target azureml or azureml-v2 it also shows what apply will create or reuse
    in the workspace and the compiled pipeline (no credentials or network needed);
    --out then writes just the compiled YAML. With --against REF it shows what changes
    instead: each field (as `runner diff`), the parameters, each step's code file by file,
    its models and its work; SPEC may then be a folder: every spec below it, one section
    each (--exit-code: 1 if any changed).

    \b
    Examples:
      runner plan specs/mnist.single-image.yaml
      runner plan specs/mnist.yaml --set steps[0].parallel_run.node_count=1 --out plan.txt
      runner plan specs/mnist.yaml --target azureml-v2 --out job.yaml   # then: az ml job create -f job.yaml
      runner plan specs/ --against origin/main --format markdown --exit-code   # a PR comment
    """
    fmt = "json" if as_json else fmt
    if exit_code and not against:
        raise click.UsageError("--exit-code needs --against REF: it says whether SPEC changed since REF")
    if spec == "-" and against:
        raise click.UsageError("--against REF compares a spec file with git's: name the file, not -")
    if os.path.isdir(spec) and not against:
        raise click.UsageError(f"{spec} is a folder: plan one spec, or review the folder's with --against REF")
    if against:
        if os.path.isdir(spec):
            _show_reviews(api.review_specs([spec], against, sets, set_params, target), fmt, exit_code, out)
            return
        _show_review(api.review(spec, against=against, sets=sets, set_params=set_params, target=target), fmt,
                     exit_code, out)
        return
    text = _stdin_spec() if spec == "-" else None
    spec = "<stdin>" if spec == "-" else spec
    base_dir = os.path.dirname(os.path.abspath(out)) if out else "."
    # Into a file: what the compiled job reads beside it is made there (the backend's part).
    result, compiled = api.plan_compiled(spec, sets, set_params, target, base_dir=base_dir, stage=bool(out),
                                         text=text, files=not no_files)
    shown = _plan_view(result, api.preview(result, spec), compiled, fmt, bool(out))
    if not out:
        click.echo(shown, nl=False)
        return
    _write(out, shown)
    if compiled and "***" in shown:
        _err(f"note: {out} shows secret values as ***; `runner apply` fills them in, "
             "`az ml job create` needs them set first")


def _stdin_spec() -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.UsageError(f"standard input is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _plan_view(result: Any, work: Any, compiled: Any, fmt: str, to_file: bool) -> str:
    """The plan as `fmt` says, every secret value hidden wherever it ended up (a header,
    the compiled pipeline); into a file with a compiled pipeline, just the pipeline (for
    azureml-v2, what `az ml job create -f` takes)."""
    from runner.render import hidden

    return hidden(_plan_view_revealed(result, work, compiled, fmt, to_file), result)


def _plan_view_revealed(result: Any, work: Any, compiled: Any, fmt: str, to_file: bool) -> str:
    from runner.render import plan_json, plan_text

    if fmt == "json":
        data = json.loads(plan_json(result, work))
        if compiled:
            data["compiled"] = compiled.data
        return json.dumps(data, indent=2) + "\n"
    if compiled and to_file and fmt == "text":
        return str(compiled.text)
    if fmt == "markdown":
        from runner.review.views import plan_markdown

        return plan_markdown(result, work, compiled)
    text = plan_text(result, work)
    if compiled:
        text += "\n".join(["", f"Azure ML ({compiled.target}): what `runner apply` creates, reuses and submits",
                           *compiled.description, "", "Compiled:", compiled.text])
    return text


def _write(out: str, text: str) -> None:
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        _err(f"runner: cannot write --out {out}: {exc.strerror or exc}")
        sys.exit(EXIT_USAGE)
    _err(f"wrote {out}")


def _show_review(review: Any, fmt: str, exit_code: bool, out: str | None) -> None:
    from runner.review.views import review_json, review_markdown, review_text

    view = {"text": review_text, "markdown": review_markdown, "json": review_json}[fmt]
    _show_reviews_text(view(review), review.secrets, out)
    sys.exit(1 if exit_code and review.changed else EXIT_OK)


def _show_reviews(reviews: list[Any], fmt: str, exit_code: bool, out: str | None) -> None:
    from runner.review.views import reviews_json, reviews_markdown, reviews_text

    view = {"text": reviews_text, "markdown": reviews_markdown, "json": reviews_json}[fmt]
    _show_reviews_text(view(reviews), [s for r in reviews for s in r.secrets], out)
    sys.exit(1 if exit_code and any(r.changed for r in reviews) else EXIT_OK)


def _show_reviews_text(text: str, secrets: list[str], out: str | None) -> None:
    from runner.spec.secrets import redact

    text = redact(text, secrets)
    if out:
        _write(out, text)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@override_options
@click.option("--target", type=TARGETS, help="Compare for this target (with an Azure one, the compiled pipelines).")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="markdown: for a pull request comment.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when something changes, as git diff does.")
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
              help="Folder for runner-spec.schema.json, runner-variant.schema.json, runner-status.schema.json "
                   "and runner-runs.schema.json.")
def schema(folder: str) -> None:
    """Write the JSON Schemas editors use to check specs as you type, and those of
    `runner status --json` and `runner runs --json` for scripts that read them."""
    for path in api.write_schemas(folder):
        click.echo(str(path))


@cli.command()
@click.argument("name", type=click.Choice(api.EXAMPLES))
@click.option("--root", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where data/ and models/ go (the example specs expect the repository root).")
@click.option("--force", is_flag=True, help="Make them again even if they are there.")
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
        _err(f"{made.test_images:,} test images in {made.images}, model in {made.model}: {verb}; "
             f"held-out accuracy {made.test_accuracy:.1%}")
    else:
        _err(f"{made.rows:,} rows in {made.data}, model in {made.model}: {verb}")


@cli.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False))
@click.option("--tabular", is_flag=True, help="CSV rows scored with pandas (the tabular extra), not text files.")
@click.option("--name", help="The spec's name (default: from the folder's name).")
@click.option("--force", is_flag=True, help="Overwrite the files that are there.")
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
    if made.note:
        _err(made.note)
    spec = os.path.relpath(made.spec, made.folder)
    where = "" if os.path.samefile(made.folder, ".") else f"cd {made.folder} && "
    _err(f"next: {where}runner validate specs/ && runner apply {spec} && runner results latest")
