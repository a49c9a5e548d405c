"""The states a run or a step is in, and the one table of exit codes (as dbt keeps
`RunStatus` and its exit codes together: a new state cannot forget its code)."""

from __future__ import annotations

from enum import Enum

from runner.errors import ExitCode  # the codes live with the error root; the table of states is here

__all__ = ["EXIT_CODES", "ExitCode", "Status", "exit_code"]


class Status(str, Enum):
    """Stored as its value in run.json and step.json; compares equal to that text."""

    PENDING = "pending"  # a step not reached yet
    CREATED = "created"  # the run folder exists; nothing ran
    SUBMITTING = "submitting"  # an Azure run being built and submitted
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    REUSED = "reused"  # allow_reuse: an earlier run's output stands for this step
    FAILED = "failed"  # a threshold was exceeded (or every worker failed to start)
    PREFLIGHT = "preflight"  # a check before any mini-batch ran failed
    INTERRUPTED = "interrupted"  # Ctrl-C, SIGTERM or a killed driver: resumable
    CANCELED = "canceled"  # stopped by `runner cancel` (as on Ctrl-C): resumable
    ERROR = "error"  # the backend failed (a full disk, an Azure service error)

    def __str__(self) -> str:
        return self.value

    @property
    def ok(self) -> bool:
        return self in (Status.SUCCEEDED, Status.REUSED)

    @property
    def finished(self) -> bool:
        return self not in (Status.PENDING, Status.CREATED, Status.SUBMITTING, Status.RUNNING)


EXIT_CODES = {
    Status.SUCCEEDED: ExitCode.OK,
    Status.REUSED: ExitCode.OK,
    Status.FAILED: ExitCode.FAILED,
    Status.PREFLIGHT: ExitCode.USAGE,
    Status.INTERRUPTED: ExitCode.INTERRUPTED,
    Status.CANCELED: ExitCode.INTERRUPTED,  # what the canceled `runner apply` exits with
    Status.ERROR: ExitCode.BACKEND,
}


def exit_code(status: Status) -> ExitCode:
    """A run that ends in a state with no code of its own (still running?) is a backend error."""
    return EXIT_CODES.get(status, ExitCode.BACKEND)
