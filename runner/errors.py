"""The root of every error runner reports, and the exit code each kind means.

Every error a user can meet derives from RunnerError and carries its exit code, so the
CLI maps them in one place (runner/cli/common.py) and a situation exits the same way
on every command (DVC's `DvcException` habit). The lowest layer: every other imports it,
and it imports nothing of runner (the CLI catches these before it has loaded anything).
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the job ran and exceeded a threshold
    USAGE = 2  # a spec or usage error, or a failed pre-flight check
    BACKEND = 3  # the backend failed (internal errors too)
    INTERRUPTED = 130
    BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left


class RunnerError(Exception):
    """An error of runner's own making (not a bug): said in one line, no traceback, and
    the process exits with the class's `exit_code`."""

    exit_code: ClassVar[ExitCode] = ExitCode.BACKEND

    def report(self) -> str:
        """What the CLI prints on stderr."""
        return f"runner: {self}"
