"""The ray target's worker transport: each worker a Ray actor (runner/ray/host.py) that
starts the worker program on its node and connects it back to the driver over TCP.

The supervisor's loop is the local engine's (runner/local/driver/supervisor.py); this
module is the one thing that differs. Actors are placed one placement-group bundle per
node (`node_count` bundles, spread across the cluster's nodes); the code snapshot is
shipped through Ray's object store (a zip each node unpacks once), and so is the driver's
`runner` package, for the nodes whose own is another (runner/ray/boot.py).
A connection proves which worker it is by a token of 32 random bytes, given to that
actor alone. Descriptors travel in Tasks and the worker reports what it runs in Started
messages, as nothing is shared with another machine.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import secrets
import signal
import socket
import subprocess
import threading
import time
import zipfile
from multiprocessing.connection import Connection
from typing import Any

from runner.local.driver.checks import PreflightError
from runner.local.protocol import ReportedInFlight, Tasks, WorkerConfig
from runner.local.transport.base import Handle
from runner.plan.plan import RayPlan, StepPlan
from runner.ray.cluster import _first_line, driver_ip, ray_module
from runner.ray import boot
from runner.runs.folder import StepFolder

TOKEN_BYTES = 32
HELLO_SECONDS = 10.0
POLL_SECONDS = 0.25
END_SECONDS = 5.0  # for a host to end its worker's tree before its actor is killed  # a connection that has not sent its token by then is dropped
PLACEMENT_SECONDS = float(os.environ.get("RUNNER_RAY_PLACEMENT_TIMEOUT", "120"))


class ActorHandle:
    """A worker actor as the supervisor holds a process: its exit status once known."""

    def __init__(self, actor: Any, done: Any) -> None:
        self.actor = actor
        self.done = done  # the ObjectRef of WorkerHost.serve: the worker's exit status
        self.returncode: int | None = None
        self.text = ""
        self.killed = False
        self.connected = False  # its worker has connected to the driver
        self._polled = 0.0

    def poll(self) -> int | None:
        """A worker's death reaches the driver as its connection's end; this is the check
        for one that never connected or whose connection lingers: asked of Ray at most
        every POLL_SECONDS, as the supervisor asks each round of its loop."""
        now = time.monotonic()
        if self.returncode is None and now - self._polled >= POLL_SECONDS:
            self._polled = now
            ready, _ = ray_module().wait([self.done], timeout=0)
            if ready:
                self._settle()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            ready, _ = ray_module().wait([self.done], timeout=timeout)
            if not ready:
                raise subprocess.TimeoutExpired("ray actor", timeout or 0.0)
            self._settle()
        assert self.returncode is not None
        return self.returncode

    def _settle(self) -> None:
        ray = ray_module()
        try:
            self.returncode = int(ray.get(self.done))
        except Exception as exc:  # noqa: BLE001 - the actor died, or could not start (runtime_env)
            self.returncode = -int(signal.SIGKILL)
            self.text = ("killed by the driver" if self.killed
                         else f"its Ray actor ended: {_first_line(exc)}")


class Actors:
    """Workers as Ray actors for one step (the Transport protocol, runner/local/transport/base.py)."""

    def __init__(self, job: StepPlan, folder: StepFolder, plan: RayPlan) -> None:
        self.ray = ray_module()
        self.plan = plan
        self.per_node = job.process_count_per_node or 1
        self.nodes = job.node_count
        self.minibatches = folder.minibatches
        self._descriptors: Any = None
        self._pending: dict[bytes, ActorHandle] = {}
        self._arrived: queue.SimpleQueue[tuple[bytes, socket.socket]] = queue.SimpleQueue()
        self._wake_read, self._wake_write = os.pipe()
        self._listener = socket.create_server((driver_ip(), 0))
        self._address = self._listener.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept, name="runner-ray-accept", daemon=True)
        self._thread.start()
        self._group = self._placement_group(job)
        self._actor_class: Any = None
        self._shipped: tuple[str, Any, str] | None = None  # (snapshot folder, its zip's ObjectRef, digest)
        self._runner: tuple[str, list[Any]] | None = None  # this runner package's digest, [its zip's ObjectRef]

    # --- placement ---------------------------------------------------------------------

    def _placement_group(self, job: StepPlan) -> Any:
        from ray.util.placement_group import placement_group, remove_placement_group

        bundle = {"CPU": self.per_node * self.plan.cpus_per_worker}
        if self.plan.gpus_per_worker:
            bundle["GPU"] = self.per_node * self.plan.gpus_per_worker
        group = placement_group([dict(bundle) for _ in range(self.nodes)], strategy="SPREAD",
                                name=f"runner-{job.name}")
        ready, _ = self.ray.wait([group.ready()], timeout=PLACEMENT_SECONDS)
        if not ready:
            remove_placement_group(group)
            self.close()
            total = {k: v for k, v in self.ray.cluster_resources().items() if k in ("CPU", "GPU")}
            free = {k: v for k, v in self.ray.available_resources().items() if k in ("CPU", "GPU")}
            raise PreflightError(f"the Ray cluster has no room for step '{job.name}': {self.nodes} node(s) of "
                                 f"{bundle} each (process_count_per_node {self.per_node} x ray.cpus_per_worker "
                                 f"{self.plan.cpus_per_worker:g}); it has {total} in all, {free} free, after "
                                 f"{PLACEMENT_SECONDS:g} s")
        return group

    def _code(self, source_directory: str) -> tuple[Any, str]:
        """The step's code snapshot as a zip in the object store, made once per snapshot
        (a retry with --update-code runs another), and its digest."""
        if self._shipped is None or self._shipped[0] != source_directory:
            data = zipped(source_directory)
            self._shipped = (source_directory, self.ray.put(data), hashlib.sha256(data).hexdigest()[:32])
        return self._shipped[1], self._shipped[2]

    def _options(self, node: int, config: WorkerConfig) -> dict[str, Any]:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        options: dict[str, Any] = {"num_cpus": self.plan.cpus_per_worker, "num_gpus": self.plan.gpus_per_worker,
                                   "max_concurrency": 3, "max_restarts": 0}
        if self.plan.pip:
            options["runtime_env"] = {"pip": list(self.plan.pip)}
        return {**options,
                "scheduling_strategy": PlacementGroupSchedulingStrategy(
                    self._group, placement_group_bundle_index=node % self.nodes)}

    # --- the Transport protocol -----------------------------------------------------

    def spawn(self, index: int, node: int, config: WorkerConfig,
              env: dict[str, str]) -> tuple[Handle, Connection | None, ReportedInFlight, WorkerConfig]:
        if self._actor_class is None:
            # By value: the class loads on a node whatever runner it has (or none), and chooses.
            self.ray.cloudpickle.register_pickle_by_value(boot)
            self._actor_class = self.ray.remote(boot.Host)
            digest, data = boot.packed()
            self._runner = (digest, [self.ray.put(data)])
        token = secrets.token_bytes(TOKEN_BYTES)
        code, digest = self._code(config.source_directory)
        remote = config._replace(  # code paths relative to where the host unpacks the code
            remote=True, minibatches="", source_directory=".", working_dir=".",
            entry_script=os.path.relpath(config.entry_script, config.source_directory),
            env={k: v for k, v in config.env.items() if k != "CUDA_VISIBLE_DEVICES"})  # Ray assigns GPUs
        assert self._runner is not None
        actor = self._actor_class.options(**self._options(node, config)).remote(*self._runner)
        handle = ActorHandle(actor, actor.serve.remote(self._address, token, remote, _job_env(env), code, digest))
        self._pending[token] = handle
        return handle, None, ReportedInFlight(), remote

    def wakeup(self) -> int | None:
        return self._wake_read

    def connected(self) -> list[tuple[Handle, Connection]]:
        os.read(self._wake_read, 4096)
        found: list[tuple[Handle, Connection]] = []
        while not self._arrived.empty():
            token, sock = self._arrived.get()
            handle = self._pending.pop(token, None)
            if handle is None or handle.killed:
                sock.close()
                continue
            handle.connected = True
            found.append((handle, Connection(sock.detach())))
        return found

    def tasks(self, ids: list[int], offsets: list[int]) -> Tasks:
        if self._descriptors is None:
            self._descriptors = open(self.minibatches, "rb")  # noqa: SIM115 - closed in close()
        lines = []
        for offset in offsets:
            self._descriptors.seek(offset)
            lines.append(self._descriptors.readline())
        return Tasks(ids, offsets, lines)

    def kill(self, handle: Handle, sig: int) -> None:
        assert isinstance(handle, ActorHandle)
        if sig != signal.SIGKILL:
            handle.actor.signal.remote(int(sig))
            return
        if not handle.killed:  # once; an actor whose worker exited is ended too, its CPUs freed
            handle.killed = True
            # The tree first (runner/ray/host.py WorkerHost.end), where a worker was started:
            # an actor still waiting for room, or lost, would not answer.
            if handle.connected and handle.returncode is None:
                try:
                    self.ray.get(handle.actor.end.remote(), timeout=END_SECONDS)
                except Exception:  # noqa: BLE001 - dead, its node lost, or stuck: Ray's kill below still ends it
                    pass
            self.ray.kill(handle.actor, no_restart=True)
        self._pending = {t: h for t, h in self._pending.items() if h is not handle}

    def exit_text(self, handle: Handle) -> str:
        assert isinstance(handle, ActorHandle)
        from runner.local.transport.processes import exit_text

        return handle.text or exit_text(handle.returncode)

    def peak_memory_mb(self, handle: Handle) -> float | None:
        assert isinstance(handle, ActorHandle)
        try:
            found = self.ray.get(handle.actor.peak_memory_mb.remote(), timeout=5)
        except Exception:  # noqa: BLE001 - gone, or busy: the figure is only informative
            return None
        return float(found) if found is not None else None

    def close(self) -> None:
        for handle in list(self._pending.values()):
            self.kill(handle, signal.SIGKILL)
        try:
            self._listener.close()  # the accept thread sees it closed and ends
        except OSError:
            pass
        if self._descriptors is not None:
            self._descriptors.close()
            self._descriptors = None
        group = getattr(self, "_group", None)
        if group is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(group)
            self._group = None
        for fd in (self._wake_read, self._wake_write):
            try:
                os.close(fd)
            except OSError:
                pass

    # --- the accepting thread ------------------------------------------------------

    def _accept(self) -> None:
        """Connections to the listener, each kept once it sent a token (which `connected`
        checks); a stranger's that says nothing in HELLO_SECONDS is dropped."""
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small messages, as on the worker's side
                sock.settimeout(HELLO_SECONDS)
                token = b""
                while len(token) < TOKEN_BYTES:
                    chunk = sock.recv(TOKEN_BYTES - len(token))
                    if not chunk:
                        raise OSError("closed before its token")
                    token += chunk
                sock.settimeout(None)
            except OSError:
                sock.close()
                continue
            self._arrived.put((token, sock))
            try:
                os.write(self._wake_write, b"\0")
            except OSError:
                return  # the transport was closed meanwhile


def zipped(folder: str) -> bytes:
    """A folder's files as a zip, names relative to it, in a stable order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for parent, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(parent, name)
                if os.path.isfile(path):
                    archive.write(path, os.path.relpath(path, folder))
    return buffer.getvalue()


def _job_env(env: dict[str, str]) -> dict[str, str]:
    """What the job adds to the driver's environment: a node keeps its own for the rest
    (PATH, HOME, and the CUDA_VISIBLE_DEVICES Ray gives the actor)."""
    return {k: v for k, v in env.items() if os.environ.get(k) != v and k != "CUDA_VISIBLE_DEVICES"}
