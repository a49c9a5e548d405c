"""The root of every error runner reports, and the exit code each kind means.

Every error a user can meet derives from RunnerError and carries its exit code, so the
CLI maps them in one place (runner/cli/common.py) and a situation exits the same way
on every command (DVC's `DvcException` habit). The lowest layer: every other imports it,
and it imports nothing of runner (the CLI catches these before it has loaded anything).
"""

from __future__ import annotations

import errno
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


class FileSystemError(RunnerError):
    """The file system refused what runner had to do (exit 3): a full disk, a read-only
    mount, a file runner may not write, too many open files, a path under a file. Said
    with the path, the cause and what to do (`explained`)."""

    exit_code = ExitCode.BACKEND


# What to do about a file system error, by its errno.
_REMEDIES = {
    (errno.ENOSPC, errno.EDQUOT, errno.EFBIG): "make room",
    (errno.EMFILE, errno.ENFILE): "raise the limit of open files (`ulimit -n`)",
    (errno.EROFS,): "make that file system writable",
    (errno.EACCES, errno.EPERM): "let runner write it (its mode, its owner, or `chattr -i` where it was made immutable)",
    (errno.ENOTDIR, errno.EEXIST): "a file stands where a folder belongs: move it away",
}


def remedy(exc: OSError) -> str:
    """What a user can do about a file system error, in a few words."""
    return next((said for numbers, said in _REMEDIES.items() if exc.errno in numbers), "fix the cause")


def explained(exc: OSError) -> str:
    """`cannot write <path>: <the OS's words>`: the path (both, for a rename) and the
    cause, without the `[Errno n]` Python puts before them. An error of no file and of
    no kind this knows (a connection refused) is the OS's words alone."""
    cause = exc.strerror or str(exc)
    known = exc.errno in (errno.EMFILE, errno.ENFILE) or remedy(exc) != "fix the cause"
    if exc.filename is None and not known:
        return cause
    where = "a file" if exc.filename is None else str(exc.filename)
    if exc.filename2 is not None:
        where += f" (to {exc.filename2})"
    verb = "open" if exc.errno in (errno.EMFILE, errno.ENFILE) else "write" if known else "use"
    return f"cannot {verb} {where}: {cause}"


def file_system_error(exc: OSError) -> FileSystemError:
    """An OSError as runner says it: what could not be done, where, why, and what to do."""
    return FileSystemError(f"{explained(exc)}; {remedy(exc)}")
