"""The `runner` command: parse flags, call the API, map errors to exit codes.

Exit codes: 0 ok, 1 the job ran and failed its thresholds, 2 spec or usage error,
3 backend error, 130 interrupted or canceled, 141 the reader of the output left.
Results go to stdout, diagnostics and logs to stderr.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn

import click

from runner.cli.common import EXIT_BACKEND, EXIT_INTERRUPTED, EXIT_OK, _err, cli

__all__ = ["cli", "main"]


def main() -> None:
    try:
        _main()
    except SystemExit as exc:  # every way out, the commands' own sys.exit included
        if (exc.code is None or isinstance(exc.code, int)) and _is_the_program():
            _leave(exc.code or 0)
        raise


def _main() -> None:
    """Errors of runner's own (RunnerError) and a reader that left are answered by the
    group (cli/common.py), for every command alike; here only what click and Python raise."""
    try:
        code = cli.main(prog_name="runner", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except click.exceptions.Exit as exc:  # --help, --version
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # usage errors: exit 2, as click would
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.Abort):  # click turns Ctrl-C into Abort; we keep 130
        _err("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # a bug in runner, not in the user's spec
        if os.environ.get("RUNNER_DEBUG"):
            raise
        _err(f"runner: internal error: {type(exc).__name__}: {exc} (set RUNNER_DEBUG=1 for a traceback)")
        sys.exit(EXIT_BACKEND)


def _is_the_program() -> bool:
    """Whether `runner` or `python -m runner` called main (both import it by name into a
    __main__ read from a file), not Python that goes on after it: a notebook or a prompt
    catches SystemExit, and os._exit would end it."""
    program = sys.modules.get("__main__")
    return getattr(program, "main", None) is main and hasattr(program, "__file__") and not sys.flags.interactive


def _leave(code: int) -> NoReturn:
    """Exit with `code`, skipping the interpreter's teardown where nothing needs it: freeing
    every module's objects one by one costs a short command a tenth of its time (~30 ms of
    `runner apply` of one file), and the process ends anyway. What an exit must still do
    is done here first: the output flushed, the atexit functions run (logging's, temporary
    folders'). With a thread alive that is not a daemon (an Azure SDK's pool), the ordinary exit
    joins it first."""
    threading = sys.modules.get("threading")
    if threading is not None and any(not t.daemon and t is not threading.main_thread()
                                     for t in threading.enumerate()):
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a reader that left, a closed stream: the ordinary exit reports it
        sys.exit(code)
    atexit._run_exitfuncs()  # each one's error is printed, not raised
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # what an atexit function printed to a reader that left
            pass
    os._exit(int(code))
