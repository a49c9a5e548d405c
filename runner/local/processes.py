"""Worker processes: started in sessions of their own on a socket pair, and ended with
everything they started (the worker leads its session, so its process group is its tree)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection

from runner.local.protocol import WorkerConfig

_RUNNER_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Not `python -m runner.local.worker`: that puts the worker's working directory (the
# user's source_directory) first on sys.path, where a folder named `runner` would shadow
# this package. The name stays in the command line, for ps and pgrep.
_WORKER_MAIN = (f"import sys; sys.path.insert(0, {_RUNNER_ROOT!r}); "
                "import runner.local.worker as w; w.main()")


def spawn(config: WorkerConfig, worker_env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Connection]:
    """A worker process with fd 1 and 2 on its log files (opened here, so even an
    interpreter crash lands there) and its end of a socket pair; returns ours."""
    parent, child = socket.socketpair()
    env = dict(worker_env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_RUNNER_ROOT, env.get("PYTHONPATH")) if p)
    with open(config.stdout, "ab") as out, open(config.stderr, "ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_MAIN, str(child.fileno())],
            pass_fds=[child.fileno()], start_new_session=True, env=env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=err, cwd=config.working_dir)
    child.close()
    return proc, Connection(parent.detach())


def kill_tree(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the worker's whole session; after SIGKILL, reap it (its exit status is final)."""
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
