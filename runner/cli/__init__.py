"""The `runner` command: parse flags, call the API, map errors to exit codes.

Exit codes: 0 ok, 1 the job ran and failed its thresholds, 2 spec or usage error,
3 backend error, 130 interrupted or canceled, 141 the reader of the output left.
Results go to stdout, diagnostics and logs to stderr.
"""

from __future__ import annotations

import os
import sys

import click

from runner.cli.common import EXIT_BACKEND, EXIT_INTERRUPTED, EXIT_OK, _err, cli

__all__ = ["cli", "main"]


def main() -> None:
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
