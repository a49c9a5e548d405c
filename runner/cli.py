"""The `runner` command: parse flags, call the API, map errors to exit codes.

Exit codes: 0 ok, 1 the job ran and failed its thresholds, 2 spec or usage error,
3 backend error, 130 interrupted. Results go to stdout, diagnostics and logs to stderr.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from runner import __version__, api
from runner.render import plan_json, plan_text
from runner.spec.diagnostics import render

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BACKEND, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
TARGETS = click.Choice(["local", "azureml", "azureml-v2"])


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
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@override_options
def validate(specs: tuple[str, ...], sets: tuple[str, ...], set_params: tuple[str, ...]) -> None:
    """Check specs: every problem at once, with file:line:col and field path.

    Overrides, if given, apply to every spec. Exit 0 when all are valid, 2 otherwise.
    """
    failed = 0
    for result in api.validate(list(specs), sets, set_params):
        if result.ok:
            click.echo(f"ok    {result.path}")
        else:
            failed += 1
            click.echo(f"error {result.path}")
            assert result.error is not None
            _err(render(result.error.diagnostics))
    sys.exit(EXIT_USAGE if failed else EXIT_OK)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@override_options
@click.option("--target", type=TARGETS, help="Override the spec's target.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write the plan to FILE instead.")
@spec_errors_exit
def plan(spec: str, sets: tuple[str, ...], set_params: tuple[str, ...], target: str | None,
         as_json: bool, out: str | None) -> None:
    """Show the fully resolved spec and what will run, without running it.

    Variants are merged, templates rendered, parameters bound and defaults filled in;
    parameters changed from the base spec are marked. Secrets are never printed.

    \b
    Examples:
      runner plan specs/mnist.single-image.yaml
      runner plan specs/mnist.yaml --set steps[0].parallel_run.node_count=1 --out plan.txt
    """
    result = api.plan(spec, sets, set_params, target)
    text = plan_json(result) if as_json else plan_text(result)
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            _err(f"runner plan: cannot write --out {out}: {exc.strerror or exc}")
            sys.exit(EXIT_USAGE)
        _err(f"wrote {out}")
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("--out", "folder", type=click.Path(file_okay=False), default="schema", show_default=True,
              help="Folder for runner-spec.schema.json and runner-variant.schema.json.")
def schema(folder: str) -> None:
    """Write the JSON Schemas editors use to check specs as you type."""
    for path in api.write_schemas(folder):
        click.echo(str(path))


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@override_options
@click.option("--target", type=TARGETS, help="Override the spec's target.")
@spec_errors_exit
def apply(spec: str, sets: tuple[str, ...], set_params: tuple[str, ...], target: str | None) -> None:
    """Run a spec: on this machine (target local) or on Azure ML."""
    result = api.plan(spec, sets, set_params, target)
    _err(f"runner apply: spec is valid, but no engine for target '{result.target}' is in this build yet")
    sys.exit(EXIT_BACKEND)


@cli.command()
def runs() -> None:
    """List runs, oldest first."""
    found = api.list_runs()
    if not found:
        _err(f"no runs yet (they are kept under {api.RUNS_DIR})")
    for path in found:
        click.echo(path.name)


def _run_command(name: str, help_text: str, *options: Callable[..., Any]) -> None:
    """status / results / logs: each reads one run folder."""

    def command(run: str, **_: Any) -> None:
        folder = api.RUNS_DIR / run
        if not folder.is_dir():
            _err(f"no run named '{run}' (`runner runs` lists them)")
            sys.exit(EXIT_USAGE)
        _err(f"runner {name}: reading runs is not in this build yet")
        sys.exit(EXIT_BACKEND)

    command.__doc__ = help_text
    decorated = click.argument("run")(command)
    for option in options:
        decorated = option(decorated)
    cli.command(name=name)(decorated)


_run_command("status", "Show a run's progress: items and mini-batches done, failed, total.")
_run_command("results", "Show a run's output rows.",
             click.option("--head", type=click.IntRange(min=0), default=10, show_default=True, help="Rows to show."))
_run_command("logs", "Show a run's logs.",
             click.option("--worker", type=click.IntRange(min=0), help="Only this worker's user log."))


def main() -> None:
    try:
        cli.main(prog_name="runner", standalone_mode=True)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # a bug in runner, not in the user's spec
        if os.environ.get("RUNNER_DEBUG"):
            raise
        _err(f"runner: internal error: {type(exc).__name__}: {exc} (set RUNNER_DEBUG=1 for a traceback)")
        sys.exit(EXIT_BACKEND)
