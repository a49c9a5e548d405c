"""What every `runner` command shares: the group, the exit codes, the option sets and
the one place that turns errors into exit codes. The commands are in specs.py (what a
spec says and would do) and runs.py (running and operating runs)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from runner import __version__, api
from runner.errors import ExitCode, RunnerError, file_system_error

EXIT_OK, EXIT_USAGE, EXIT_BACKEND, EXIT_INTERRUPTED = ExitCode.OK, ExitCode.USAGE, ExitCode.BACKEND, \
    ExitCode.INTERRUPTED
EXIT_BROKEN_PIPE = ExitCode.BROKEN_PIPE  # what a shell reports for a writer whose reader left
TARGETS = click.Choice(list(api.TARGETS))


def _err(message: str) -> None:
    click.echo(message, err=True)


def override_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--set and --set-param, shared by every command that loads one spec."""
    func = click.option("--set-param", "set_params", multiple=True, metavar="NAME=VALUE",
                        help="Override a pipeline parameter (a dataset parameter takes a dataset name).")(func)
    func = click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                        help="Override any field, e.g. steps[0].parallel_run.node_count=1. Applied last.")(func)
    return func


# Each command's module (runner/cli/<module>.py, where it registers itself on `cli`),
# imported only when that command is asked for: `runner validate` does not import what
# `runner apply` needs. tests/cli/test_imports.py checks this map against the modules.
COMMAND_MODULES = {
    **dict.fromkeys(["validate", "plan", "diff", "schema", "example", "init"], "specs"),
    **dict.fromkeys(["apply", "resume", "retry", "cancel", "runs", "rm", "gc", "status", "results", "logs",
                     "report"], "runs"),
}


class RunnerGroup(click.Group):
    """The group every command runs in, and the one place errors become exit codes: a
    RunnerError is said (a spec's diagnostics, or `runner: ...`) and exits with its
    class's code, whatever the command, so a situation exits alike everywhere; a reader
    that left (`runner logs -f | head`) ends the command quietly with 141; any other
    error of the file system is said with its path and cause (exit 3), never as a bug.
    Both while reading the flags (a command's --help) and while the command runs."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        return _exits(lambda: super(RunnerGroup, self).make_context(info_name, args, parent, **extra))

    def invoke(self, ctx: click.Context) -> Any:
        def run() -> Any:
            _check_working_dir()
            return super(RunnerGroup, self).invoke(ctx)

        return _exits(run)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"runner.cli.{COMMAND_MODULES[cmd_name]}")
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for module in sorted(set(COMMAND_MODULES.values())):
            importlib.import_module(f"runner.cli.{module}")
        return super().list_commands(ctx)


class WorkingDirGone(RunnerError):
    """The shell's working directory was deleted (exit 2): every relative path, and the
    project's .runner found from it, would be meaningless."""

    exit_code = ExitCode.USAGE


def _check_working_dir() -> None:
    try:
        os.getcwd()
    except FileNotFoundError as exc:
        raise WorkingDirGone("the working directory was deleted: cd to a folder that exists (the project's) "
                             "and run the command again") from exc


_T = TypeVar("_T")


def _exits(call: Callable[[], _T]) -> _T:
    try:
        return call()
    except RunnerError as exc:
        _err(exc.report())
        raise click.exceptions.Exit(int(exc.exit_code)) from None
    except BrokenPipeError:
        _quiet_stdout()
        raise click.exceptions.Exit(int(EXIT_BROKEN_PIPE)) from None
    except OSError as exc:  # what no layer below said better: the path and the cause, not "internal error"
        error = file_system_error(exc)
        _err(error.report())
        raise click.exceptions.Exit(int(error.exit_code)) from None


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so what is still buffered has somewhere to go at exit
    (a flush into the closed pipe would fail again), as `yes | head` stops quietly."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # not a file (a test's captured output): nothing to flush into a pipe
        pass


@click.group(cls=RunnerGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
