"""The errors every backend raises (kept free of heavy imports: the CLI catches them
before it has loaded anything else). Each carries its exit code (runner/errors.py)."""

from runner.errors import ExitCode, RunnerError


class RunError(RunnerError):
    """A run that cannot be found, resumed or read, or a usage error about one (exit 2)."""

    exit_code = ExitCode.USAGE


class PreflightError(RunError):
    """A check before anything ran rules the run out (exit 2): the inputs, the entry
    script, the code snapshot, or what the Azure ML workspace holds. The step is
    recorded `preflight`; fixing the cause and applying again is the way on."""


class BackendError(RunnerError):
    """The backend failed, or this build cannot run the target (exit 3)."""

    exit_code = ExitCode.BACKEND
