"""Whether a run is running: its driver holds the run's lock (a pid alone may have been
reused by another process since the driver was killed)."""

from __future__ import annotations

import fcntl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.runs.folder import RunFolder, new_run
from runner.runs.inspect import read
from runner.runs.records import RunRecord
from runner.runs.status import Status
from tests.local.helpers import cli, make_files, write_spec


@pytest.fixture
def other_pid() -> Iterator[int]:
    """A live process that is no driver (the pid a killed driver's may be reused as)."""
    proc = subprocess.Popen(["sleep", "600"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _running(root: Path, pid: int) -> RunFolder:
    run = new_run(root, "job")
    run.write(RunRecord(id=run.id, name="job", spec="spec.yaml", status=Status.RUNNING, driver_pid=pid))
    return run


def test_a_live_pid_without_the_lock_is_no_driver(tmp_path: Path, other_pid: int) -> None:
    run = _running(tmp_path, other_pid)
    run.lock.touch()  # a local driver ran here, and holds it no more
    assert read(run).status == Status.INTERRUPTED
    with open(run.lock) as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert read(run).status == Status.RUNNING
    assert read(run).status == Status.INTERRUPTED


def test_a_run_no_local_driver_ever_locked_is_told_by_its_pid(tmp_path: Path, other_pid: int) -> None:
    # An Azure run: the process following it holds no lock.
    assert read(_running(tmp_path, other_pid)).status == Status.RUNNING
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert read(_running(tmp_path, proc.pid)).status == Status.INTERRUPTED


def test_a_killed_driver_whose_pid_was_reused_is_resumed(tmp_path: Path, other_pid: int) -> None:
    make_files(tmp_path / "data", 10)
    write_spec(tmp_path)
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    run = RunFolder(tmp_path / ".runner" / "runs" / applied.stdout.strip())
    run.update(status=Status.RUNNING, driver_pid=other_pid, finished=None)
    status = cli("status", run.id, "--json", cwd=tmp_path)
    assert '"status": "running"' not in status.stdout, status.stdout
    resumed = cli("resume", run.id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "succeeded" in resumed.stderr


def test_a_driver_waits_out_a_status_probe_but_not_another_driver(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`status` asks by taking the lock for an instant: a driver starting then takes the
    probe for another driver unless it waits; another driver's lock is held for good."""
    import threading

    from runner.runs import inspect

    lock = tmp_path / ".lock"
    lock.touch()
    with open(lock, "rb") as probe, open(lock, "a") as driver:
        fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
        monkeypatch.setattr(inspect, "LOCK_GRACE", 0.05)
        assert not inspect.take_lock(driver)  # held past the grace: another driver
        monkeypatch.setattr(inspect, "LOCK_GRACE", 30.0)
        threading.Timer(0.05, fcntl.flock, (probe, fcntl.LOCK_UN)).start()
        assert inspect.take_lock(driver)  # the probe let go within the grace
