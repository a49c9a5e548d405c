"""What every `runner` command shares: the group, the exit codes, the option sets and
the decorators that turn errors into exit codes. The commands are in specs.py (what a
spec says and would do) and runs.py (running and operating runs)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from runner import __version__, api
from runner.runs.status import ExitCode

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


FORMATS = click.Choice(["text", "markdown", "json"])


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
