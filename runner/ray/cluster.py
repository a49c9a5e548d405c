"""The driver's connection to a Ray cluster: joined (or, for `address: local`, started)
once per command, and left when it ends.

The workers' hosts (runner/ray/host.py) import the runner package on every node. Where
each node alive at the start already imports this very package (the same files, by
digest: an installed runner, a shared virtual environment, an image with it), nothing is
shipped: shipping it as the job's runtime_env py_modules costs each actor a fresh Ray
worker process set up for that environment, about a second per start (bench/results/ray.md).
Otherwise, or with RUNNER_RAY_SHIP_RUNNER=always (a cluster whose nodes come and go), the
driver joins again with the package as py_modules.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runner.errors import ExitCode, RunnerError
from runner.plan.plan import RayPlan

# Ray's own start-up output and its workers' are not the job's: the workers' output goes
# to the run folder (runner/ray/host.py), Ray's to its session folder.
_QUIET: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False}


CONNECT_SECONDS = 10.0
PROBE_SECONDS = 30.0  # for every node to say which runner it imports; past it, the package is shipped
SHIP_ENV = "RUNNER_RAY_SHIP_RUNNER"
_RUNNER_PACKAGE = str(Path(__file__).resolve().parents[1])  # runner/


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
    ship = os.environ.get(SHIP_ENV, "") == "always"
    _join(ray, address, ship)
    try:
        if not ship and not nodes_import_this_runner(ray):
            ray.shutdown()
            _join(ray, address, ship=True)
        _notices_to_stderr(ray)
        yield
    finally:
        ray.shutdown()


def _join(ray: Any, address: str, ship: bool) -> None:
    runtime_env = {"py_modules": [_RUNNER_PACKAGE]} if ship else None
    try:
        if address == "local":  # this run's own cluster: on the loopback address, reached from nowhere else
            ray.init(include_dashboard=False, runtime_env=runtime_env, _node_ip_address="127.0.0.1", **_QUIET)
        else:
            ray.init(address=None if address == "auto" and "RAY_ADDRESS" in os.environ else address,
                     runtime_env=runtime_env, **_QUIET)
    except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError: Ray's words
        raise ClusterError(f"cannot join the Ray cluster at {address}: {_first_line(exc)}") from exc


def nodes_import_this_runner(ray: Any) -> bool:
    """Whether every node alive now imports the runner package this driver runs: a task
    on each (no CPU taken) returns the digest of the package it imports. A node without
    runner, with another version, or not answering within PROBE_SECONDS: False."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    # Pickled by reference: the node imports this module from its own runner, or fails.
    probe = ray.remote(num_cpus=0, max_retries=0)(package_digest)
    nodes = [node["NodeID"] for node in ray.nodes() if node.get("Alive")]
    refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
            for node in nodes]
    try:
        found = ray.get(refs, timeout=PROBE_SECONDS)
    except Exception:  # noqa: BLE001 - ModuleNotFoundError on the node, a timeout, a node lost: ship it
        for ref in refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        return False
    mine = package_digest()
    return bool(nodes) and all(digest == mine for digest in found)


def package_digest() -> str:
    """The runner package's files (not their bytecode), as one digest."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if "__pycache__" not in p.parts and p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


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
