"""Worker processes: started in sessions of their own on a socket pair, and ended with
everything they started, even what left their session.

The process started here is the worker's guard (runner/local/procs/guard.py): it forks the
worker and is the child subreaper of all it starts, so the guard's tree is the worker's
whole tree. Each guard also holds the read end of the driver's lifeline, a pipe whose
write end only this process holds: when the driver dies, however it dies, the guards see
end-of-file and end their trees at once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path

from runner.local.procs.proctree import children, end_tree
from runner.local.protocol import InFlight, Tasks, WorkerConfig
from runner.local.transport.base import Handle
from runner.plan.plan import StepPlan
from runner.runs.folder import StepFolder, no_links

# The folder holding the `runner` package (this file is runner/local/transport/processes.py).
_RUNNER_ROOT = str(Path(__file__).resolve().parents[3])
# Not `python -m runner.local.worker.main`: that puts the worker's working directory (the
# user's source_directory) first on sys.path, where a folder named `runner` would shadow
# this package. The name stays in the command line, for ps and pgrep.
_WORKER_MAIN = (f"import sys; sys.path.insert(0, {_RUNNER_ROOT!r}); "
                "import runner.local.procs.guard as g; g.start(int(sys.argv[1]), int(sys.argv[2])); "
                "import runner.local.worker.main as w; w.main()")
_lifeline: tuple[int, int] | None = None  # (read, write); the write end is never closed nor passed on


def _lifeline_fd() -> int:
    """The read end of one pipe for the driver's life, made on first use. Both ends are
    close-on-exec, so no other program the driver starts holds the write end open."""
    global _lifeline
    if _lifeline is None:
        _lifeline = os.pipe()
    return _lifeline[0]


def _shared_page() -> int:
    """A file of one page in memory, for InFlight (a memfd; elsewhere than Linux an
    unlinked temporary file)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("runner-in-flight", os.MFD_CLOEXEC)
    else:  # pragma: no cover - macOS
        fd, name = tempfile.mkstemp(prefix="runner-in-flight-")
        os.unlink(name)
    os.ftruncate(fd, InFlight.SIZE)
    return fd


class Processes:
    """The local engine's transport: worker processes on this machine, on socket pairs."""

    def spawn(self, index: int, node: int, config: WorkerConfig,
              env: dict[str, str]) -> tuple[Handle, Connection | None, InFlight, WorkerConfig]:
        parent, child = socket.socketpair()
        proc, in_flight = spawn(config, env, child)
        return proc, Connection(parent.detach()), in_flight, config

    def wakeup(self) -> int | None:
        return None

    def connected(self) -> list[tuple[Handle, Connection]]:
        return []

    def tasks(self, ids: list[int], offsets: list[int]) -> Tasks:
        return Tasks(ids, offsets, None)

    def kill(self, handle: Handle, sig: int) -> None:
        assert isinstance(handle, subprocess.Popen)
        kill_tree(handle, sig)

    def exit_text(self, handle: Handle) -> str:
        return exit_text(handle.returncode)

    def peak_memory_mb(self, handle: Handle) -> float | None:
        assert isinstance(handle, subprocess.Popen)
        return peak_memory_mb(handle)

    def close(self) -> None:
        pass


def local_processes(job: StepPlan, folder: StepFolder) -> Processes:
    """The local engine's Transports."""
    return Processes()


def spawn(config: WorkerConfig, worker_env: dict[str, str],
          child: socket.socket) -> tuple[subprocess.Popen[bytes], InFlight]:
    """A worker process with fd 1 and 2 on its log files (opened here, so even an
    interpreter crash lands there), `child` (its end of the connection: closed here) and
    the page where it publishes its mini-batch in flight. Also what a Ray actor runs on
    its node (runner/ray/host.py)."""
    lifeline = _lifeline_fd()
    env = dict(worker_env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_RUNNER_ROOT, env.get("PYTHONPATH")) if p)
    page = _shared_page()
    try:
        in_flight = InFlight(page)
        in_flight.reset()
        with open(config.stdout, "ab", opener=no_links) as out, open(config.stderr, "ab", opener=no_links) as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER_MAIN, str(child.fileno()), str(lifeline), str(page)],
                pass_fds=[child.fileno(), lifeline, page], start_new_session=True, env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=config.working_dir)
    finally:
        os.close(page)
        child.close()
    return proc, in_flight


def kill_tree(proc: subprocess.Popen[bytes], sig: int) -> None:
    """SIGKILL: freeze and kill the guard's tree, the guard first (so nothing is handed
    up past it meanwhile), then reap the guard: its exit status is final. Other signals
    go to the session (SIGTERM: the guard then ends its tree itself). The session is
    signalled in every case: it covers a tree /proc could not show."""
    if sig == signal.SIGKILL and proc.returncode is None and proc.poll() is None:
        end_tree(proc.pid, include_root=True)  # not reaped: its pid is still the guard's
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    if sig == signal.SIGKILL:
        proc.wait()


def exit_text(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def peak_memory_mb(proc: subprocess.Popen[bytes]) -> float | None:
    """The peak resident memory (VmHWM, MB) of the worker under the guard process `proc`, as
    it is now (None where /proc does not say: the worker gone, another OS)."""
    peaks = []
    for pid in children(proc.pid):
        try:
            with open(f"/proc/{pid}/status", "rb") as handle:
                for line in handle:
                    if line.startswith(b"VmHWM:"):
                        peaks.append(round(int(line.split()[1]) / 1024, 1))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return max(peaks) if peaks else None
