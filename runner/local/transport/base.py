"""The one thing engines differ in: how a worker is started, reached, watched and ended.

The supervisor (runner/local/driver/supervisor.py) runs the same loop over either
transport: processes on this machine (processes.py) or Ray actors on a cluster
(runner/ray/actors.py). Either way the worker is the same program (runner/local/worker/
main.py) speaking the same protocol over a `Connection`; what differs is where it runs,
how its connection arrives, and where the driver learns which mini-batch it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Protocol

from runner.local.protocol import Tasks, WorkerConfig

if TYPE_CHECKING:
    from runner.plan.plan import StepPlan
    from runner.runs.folder import StepFolder


class Handle(Protocol):
    """A started worker, as subprocess.Popen shows one: its exit status once known."""

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int:
        """The exit status; subprocess.TimeoutExpired when it has not exited in `timeout`."""
        ...


class InFlightView(Protocol):
    """What the driver reads of the mini-batch a worker runs: (id or -1, rows or None,
    started in time.monotonic_ns)."""

    def read(self) -> tuple[int, int | None, int]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    def spawn(self, index: int, node: int, config: WorkerConfig,
              env: dict[str, str]) -> tuple[Handle, Connection | None, InFlightView, WorkerConfig]:
        """A new worker for slot `index` on node `node`, and the configuration to send it
        (`config`, or as the worker sees it where it runs). The connection is None when it
        arrives later, through `connected`."""
        ...

    def wakeup(self) -> int | None:
        """A file descriptor readable when a connection has arrived (None: they never
        arrive later)."""
        ...

    def connected(self) -> list[tuple[Handle, Connection]]:
        """The connections that arrived since the last call, each with its worker."""
        ...

    def tasks(self, ids: list[int], offsets: list[int]) -> Tasks:
        """The message that gives a worker these mini-batches."""
        ...

    def kill(self, handle: Handle, sig: int) -> None:
        """SIGKILL ends the worker's whole tree at once and for good; another signal
        asks it to stop."""
        ...

    def exit_text(self, handle: Handle) -> str:
        """How it ended, in words (`killed by SIGKILL`, `exit code 1`, the node lost...)."""
        ...

    def peak_memory_mb(self, handle: Handle) -> float | None: ...

    def close(self) -> None:
        """Every worker is ended: release what the transport holds."""
        ...


# A step's transport, made when the step's workers start (runner/local/driver/engine.py).
Transports = Callable[["StepPlan", "StepFolder"], Transport]
