"""Operating a run from other terminals: `runner logs -f` follows it and `status
--watch` watches it until it ends, `runner cancel` stops it as Ctrl-C would and records
`canceled`, and `runner resume` finishes it exactly once. Every command is its own
process, as from separate terminals."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.faults.test_crashes import ROOT, assert_exactly_once, run_id_of, start, wait_for
from tests.local.helpers import cli, make_files, write_spec

# Runs the first 10 mini-batches (items 0-29), then waits for the test's word (a file):
# the run cannot end before it is canceled, however slow the machine.
GATED = '''
import os, time

def init():
    print("init", os.getpid(), flush=True)

def run(mini_batch):
    out = []
    for path in mini_batch:
        name = os.path.basename(path)
        deadline = time.monotonic() + 120
        while int(name[1:5]) >= 30 and not os.path.exists(os.environ["RELEASE"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        with open(path) as handle:
            out.append(f"{name}: {int(handle.read())}")
    return out
'''


def _command(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "runner", *args], cwd=root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})


class _Terminal:
    """A pseudo-terminal for a command's stdout, read on a thread as it is written (a
    full pty buffer would stop the command)."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        self.data = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # the other end closed (EIO)
                return
            if not chunk:
                return
            self.data += chunk

    def text(self) -> str:
        os.close(self.slave)
        self.reader.join(timeout=10)
        os.close(self.master)
        return self.data.decode(errors="replace")


def _wait_for_run(root: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not list((root / ".runner" / "runs").glob("*/run.json")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no run folder"
        time.sleep(0.01)


def test_a_run_is_followed_watched_and_canceled_from_other_processes_then_resumed_once(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 60)
    write_spec(tmp_path, script="gated.py", mini_batch_size=3, env={"RELEASE": str(tmp_path / "release")})
    (tmp_path / "code" / "gated.py").write_text(GATED)
    applied = start(tmp_path)
    _wait_for_run(tmp_path, applied)
    followed = _command(tmp_path, "logs", "latest", "-f")
    watched = _command(tmp_path, "status", "latest", "--watch", "--interval", "0.2")
    terminal = _Terminal()
    on_terminal = subprocess.Popen([sys.executable, "-m", "runner", "status", "latest", "--watch", "--interval", "0.2"],
                                   cwd=tmp_path, stdout=terminal.slave, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"})
    assert wait_for(tmp_path, 5, applied), "the run ended before it was canceled"
    run_id = run_id_of(tmp_path)
    refused = cli("rm", run_id, cwd=tmp_path)
    assert refused.returncode == 2 and f"run {run_id} is running" in refused.stderr, refused.stderr

    deadline = time.monotonic() + 60
    while not terminal.data:  # drawn once while running, so the end is a redraw
        assert time.monotonic() < deadline and on_terminal.poll() is None, "status --watch drew nothing"
        time.sleep(0.01)
    canceled = cli("cancel", "latest", cwd=tmp_path)
    assert canceled.returncode == 0, canceled.stderr
    assert f"run {run_id} canceled" in canceled.stderr and f"`runner resume {run_id}`" in canceled.stderr
    _, err = applied.communicate(timeout=60)
    assert applied.returncode == 130, err
    assert f"run {run_id} canceled; to continue it:\n  runner resume {run_id}\n" in err
    out, err = followed.communicate(timeout=60)  # it ends by itself once the run has
    assert followed.returncode == 0, err
    assert "/score/logs/sys/driver.log <==" in out and "/logs/user/stdout/node0/process000.stdout.txt <==" in out
    assert "init " in out
    driver_log = (tmp_path / ".runner" / "runs" / run_id / "score" / "logs" / "sys" / "driver.log").read_text()
    assert "step canceled: by `runner cancel`" in driver_log and "Ctrl-C" not in driver_log, driver_log
    out, err = watched.communicate(timeout=60)
    assert watched.returncode == 130, err  # as the canceled `runner apply`
    blocks = out.split("\n\n")
    assert blocks[-1].startswith(f"run {run_id}: canceled") and "by `runner cancel`" in blocks[-1], out
    assert "\x1b" not in out and len(blocks) == len(set(blocks))  # no terminal: a new block only on change

    on_terminal.communicate(timeout=60)
    drawn = terminal.text()
    assert on_terminal.returncode == 130
    assert "\x1b[J" in drawn, drawn  # redrawn in place: up over the last block, cleared, drawn again
    assert drawn.rsplit("\x1b[J", 1)[1].startswith(f"run {run_id}: canceled"), drawn
    info = json.loads(cli("status", run_id, "--json", cwd=tmp_path).stdout)
    assert info["status"] == "canceled" and info["steps"][0]["status"] == "canceled"
    again = cli("cancel", "latest", cwd=tmp_path)
    assert again.returncode == 2 and "is not running (canceled)" in again.stderr
    (tmp_path / "release").touch()
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert_exactly_once(tmp_path, run_id, names, 20)
    after = cli("logs", run_id, "-f", "--sys", cwd=tmp_path)  # a run that ended: everything, at once
    assert after.returncode == 0 and "step succeeded" in after.stdout and "stdout.txt" not in after.stdout


def test_ctrl_c_in_its_own_terminal_is_still_recorded_as_interrupted(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 60)
    write_spec(tmp_path, script="gated.py", mini_batch_size=3, env={"RELEASE": str(tmp_path / "release")})
    (tmp_path / "code" / "gated.py").write_text(GATED)
    applied = start(tmp_path)
    assert wait_for(tmp_path, 3, applied)
    applied.send_signal(2)  # SIGINT, as the terminal sends on Ctrl-C
    applied.communicate(timeout=60)
    assert applied.returncode == 130
    info = json.loads(cli("status", "latest", "--json", cwd=tmp_path).stdout)
    assert info["status"] == "interrupted"


def _starting_run(root: Path) -> tuple[object, object]:
    """A canceled run whose `runner resume` holds its lock and has not recorded itself yet."""
    import fcntl

    from runner.runs.folder import new_run
    from runner.runs.records import RunRecord
    from runner.runs.status import Status

    run = new_run(root / ".runner" / "runs", "job")
    run.write(RunRecord(id=run.id, name="job", spec="spec.yaml", status=Status.CANCELED))
    lock = open(run.lock, "w")  # noqa: SIM115 - held as a starting driver holds it
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return run, lock


def test_cancel_of_a_starting_run_cancels_it_once_its_driver_records_itself(tmp_path: Path) -> None:
    from runner.runs.status import Status

    run, lock = _starting_run(tmp_path)
    # Stands for the resuming driver, which sets its own SIGINT handler (driver/stop.py):
    # SIGINT's default restored, or a test run from a background job (whose SIGINT is
    # ignored, and `sleep` inherits that) would wait for a Ctrl-C that cannot arrive.
    driver = subprocess.Popen(["sleep", "600"], preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def start_then_stop() -> None:
        time.sleep(2.5)  # cancel has read run.json by then: it finds the run starting
        run.update(status=Status.RUNNING, driver_pid=driver.pid)  # type: ignore[attr-defined]
        driver.wait()
        lock.close()  # type: ignore[attr-defined]

    starter = threading.Thread(target=start_then_stop, daemon=True)
    starter.start()
    try:
        canceled = cli("cancel", "latest", cwd=tmp_path)
        assert canceled.returncode == 0, canceled.stderr
        assert driver.wait(timeout=30) == -2  # SIGINT, as Ctrl-C
    finally:
        driver.kill()
        starter.join(timeout=10)


def test_cancel_of_a_run_still_starting_says_so(tmp_path: Path) -> None:
    _, lock = _starting_run(tmp_path)
    with lock:  # type: ignore[attr-defined]
        refused = cli("cancel", "latest", cwd=tmp_path)
    assert refused.returncode == 2 and "is starting" in refused.stderr, refused.stderr
    assert "not running" not in refused.stderr
