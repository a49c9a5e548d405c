"""The errors every backend raises (kept free of imports: the CLI catches them before it
has loaded anything else)."""


class RunError(Exception):
    """A run that cannot be found, resumed or read, or a failed pre-flight (exit 2)."""


class BackendError(Exception):
    """The backend failed, or this build cannot run the target (exit 3)."""
