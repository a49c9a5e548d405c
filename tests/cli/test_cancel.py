"""`runner cancel` from another terminal: the driver stops as on Ctrl-C, keeps what it
committed, and `runner resume` finishes the run exactly once."""

from __future__ import annotations

from pathlib import Path

from tests.faults.test_crashes import assert_exactly_once, run_id_of, start, wait_for
from tests.local.helpers import cli, make_files, write_spec


def test_cancel_stops_a_local_run_and_resume_finishes_it(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 120)
    write_spec(tmp_path, mini_batch_size=3, env={"SLEEP": "0.02"})
    proc = start(tmp_path)
    assert wait_for(tmp_path, 5, proc), "the run finished before it could be cancelled"
    cancelled = cli("cancel", "latest", cwd=tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "`runner resume" in cancelled.stderr
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    status = cli("status", "latest", cwd=tmp_path)
    assert "interrupted" in status.stdout, status.stdout
    again = cli("cancel", "latest", cwd=tmp_path)
    assert again.returncode == 2 and "is not running (interrupted)" in again.stderr
    resumed = cli("resume", run_id_of(tmp_path), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert_exactly_once(tmp_path, run_id_of(tmp_path), names, 40)
