"""What runs on a Ray node for one worker: an actor that connects back to the driver and
starts the worker program there, the same program and protocol as a local worker.

The actor starts the worker as the local engine does (runner/local/transport/processes.py
`spawn`: behind its guard, in a session of its own, fd 1 and 2 on its log files) with the
connection to the driver as the worker's socket. The actor holds the guard's lifeline:
when the actor ends (killed by the driver, its node lost, its driver gone, which Ray
answers by ending the driver's actors) the guard ends the worker's whole tree.

Imported in the actor's process on a node, from the node's own `runner` package when it
is this very one, else from the driver's, shipped with the actor (runner/ray/boot.py
decides): it imports nothing of the driver.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile

from runner.local.protocol import WorkerConfig
from runner.local.transport.processes import kill_tree, peak_memory_mb, spawn
from runner.ray.boot import unpacked

CONNECT_SECONDS = 30.0


class WorkerHost:
    """One worker's host (a Ray actor with a few threads, so `stop` and `peak_memory_mb`
    are answered while `serve` waits)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def serve(self, address: tuple[str, int], token: bytes, config: WorkerConfig, env: dict[str, str],
              code: bytes, digest: str) -> int:
        """Unpack the code, connect to the driver, start the worker, and return its exit
        status once it ends. `code`: the step's code snapshot as a zip (`digest` names it)."""
        root = unpacked(lambda: code, "runner-code", digest)  # the worker's working directory: its code paths are relative to it
        config = _on_this_node(config._replace(working_dir=root))
        sock = socket.create_connection(address, timeout=CONNECT_SECONDS)
        sock.settimeout(None)
        # Small messages (a Started per mini-batch, then its results): Nagle's algorithm
        # would hold each behind the previous one's delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(token)
        worker_env = dict(os.environ)  # this node's environment (Ray's CUDA_VISIBLE_DEVICES...)...
        worker_env.update(env)  # ...with what the job sets
        self.proc, in_flight = spawn(config, worker_env, sock)
        in_flight.close()  # the worker reports what it runs to the driver (protocol.Started)
        return self.proc.wait()

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def end(self) -> None:
        """The worker's whole tree, ended here before the driver ends this actor: Ray ends
        an actor's direct children only, and what the worker started would be left."""
        if self.proc is not None:
            kill_tree(self.proc, signal.SIGKILL)

    def peak_memory_mb(self) -> float | None:
        return peak_memory_mb(self.proc) if self.proc is not None else None


def _on_this_node(config: WorkerConfig) -> WorkerConfig:
    """Log files and scratch where the run folder is (the same path when it is shared, as
    on one machine); a node that cannot make them writes its logs to its own temp folder."""
    paths = {"stdout": config.stdout, "stderr": config.stderr, "log_file": config.log_file}
    try:
        for path in paths.values():
            os.makedirs(os.path.dirname(path), exist_ok=True)
        scratch = config.env.get("RUNNER_WORKING_DIR")
        if scratch:
            os.makedirs(scratch, exist_ok=True)
        return config
    except OSError:
        local = tempfile.mkdtemp(prefix="runner-worker-")
        env = {**config.env, "RUNNER_WORKING_DIR": local, "RUNNER_LOG_DIR": local}
        def moved(path: str) -> str:
            return os.path.join(local, os.path.basename(path))
        return config._replace(env=env, stdout=moved(config.stdout), stderr=moved(config.stderr),
                               log_file=moved(config.log_file))
