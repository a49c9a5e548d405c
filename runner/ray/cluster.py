"""The driver's connection to a Ray cluster: joined (or, for `address: local`, started)
once per command, and left when it ends.

The job has no runtime_env of its own: each worker's host chooses, as its actor starts,
between its node's runner package and the driver's (runner/ray/boot.py). A job-level
py_modules would cost each actor a fresh Ray worker process set up for it, and asking
every node first which runner it imports a task per node: each about a second before
the first actor starts (bench/results/ray.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from typing import Any

from runner.errors import ExitCode, RunnerError
from runner.plan.plan import RayPlan

# Ray's own start-up output and its workers' are not the job's: the workers' output goes
# to the run folder (runner/ray/host.py), Ray's to its session folder.
_QUIET: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False}


CONNECT_SECONDS = 10.0


class ClusterError(RunnerError):
    """The Ray cluster cannot be reached or used (exit 3: the backend's, not the spec's)."""

    exit_code = ExitCode.BACKEND


def ray_module() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ClusterError("the ray target needs Ray on this machine: pip install 'runner[ray]'") from exc
    return ray


@contextlib.contextmanager
def connected(plan: RayPlan | None) -> Iterator[None]:
    """Ray joined for the command's length. `local` starts a cluster of this machine,
    which ends with the command; another address is joined and left as it was."""
    ray = ray_module()
    if ray.is_initialized():  # a caller (a notebook, a test) already joined one: theirs
        yield
        return
    address = (plan or RayPlan()).address
    if address not in ("local", "auto"):
        _answers(address)
    _join(ray, address)
    try:
        _notices_to_stderr(ray)
        yield
    finally:
        ray.shutdown()


def _join(ray: Any, address: str) -> None:
    try:
        if address == "local":  # this run's own cluster: on the loopback address, reached from nowhere else
            ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", **_QUIET)
        else:
            ray.init(address=None if address == "auto" and "RAY_ADDRESS" in os.environ else address, **_QUIET)
    except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError: Ray's words
        raise ClusterError(f"cannot join the Ray cluster at {address}: {_first_line(exc)}") from exc


def _notices_to_stderr(ray: Any) -> None:
    """Ray prints the cluster's notices to a driver's stdout (a node marked dead, say),
    where `runner apply` prints only the run's id for scripts: they go to stderr."""
    worker = getattr(getattr(ray, "_private", None), "worker", None)
    printer = getattr(worker, "print_to_stdstream", None)
    if worker is None or printer is None or getattr(printer, "runner_stderr", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        printer({**data, "is_err": True}, ignore_prefix)
    to_stderr.runner_stderr = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


def _answers(address: str) -> None:
    """Something listens at a `host:port` (or `ray://host:port`) address: ray.init would
    otherwise retry an address where nothing answers for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS):
            pass
    except (OSError, ValueError) as exc:
        raise ClusterError(f"cannot join the Ray cluster at {address}: nothing answers there "
                           f"({exc.strerror or exc if isinstance(exc, OSError) else exc})") from exc


def driver_ip() -> str:
    """The address the cluster's nodes reach this machine at (Ray's own choice for it)."""
    return str(ray_module().util.get_node_ip_address())


_COLOURS = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours the names in its errors; no backtracking


def _first_line(exc: BaseException) -> str:
    text = _COLOURS.sub("", str(exc)).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]
