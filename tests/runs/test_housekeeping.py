"""Listing and removing runs (`runner runs --json --status --limit`, `rm`, `gc`): real
runs for what reuse links; records written by hand for which runs `gc --keep` picks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runner.runs.folder import RunFolder, new_run
from runner.runs.housekeeping import gc, remove
from runner.runs.outcome import RunError
from runner.runs.records import RunRecord, StepRecord, write_record
from runner.runs.status import Status
from tests.local.helpers import cli, make_files, output_rows, write_spec


def _run(root: Path, name: str, spec: str, status: Status, started: float, cwd: str = "/project",
         reused_from: str | None = None, driver_pid: int | None = None) -> RunFolder:
    run = new_run(root, name)
    run.write(RunRecord(id=run.id, name=name, spec=spec, status=status, started=started, cwd=cwd,
                        driver_pid=driver_pid))
    (run.path / "score").mkdir()
    write_record(run.path / "score" / "step.json", StepRecord("score", status, reused_from=reused_from))
    return run


def test_gc_keeps_the_newest_of_each_spec_and_removes_pre_flight_failures(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    a = [_run(root, f"a{i}", "specs/a.yaml", Status.SUCCEEDED, 100 + i) for i in range(3)]
    # The same spec named from another folder is the same spec.
    a.append(_run(root, "a3", "../specs/a.yaml", Status.INTERRUPTED, 103, cwd="/project/notebooks"))
    b = _run(root, "b0", "specs/b.yaml", Status.FAILED, 50)
    pre = _run(root, "p0", "specs/a.yaml", Status.PREFLIGHT, 200)
    busy = _run(root, "a-busy", "specs/a.yaml", Status.RUNNING, 10, driver_pid=os.getpid())
    said = gc(root, keep=2, dry_run=True)
    assert sorted(said) == sorted([f"would remove {a[0].id} (succeeded)", f"would remove {a[1].id} (succeeded)",
                                   f"would remove {pre.id} (pre-flight failure)"])
    assert all(run.path.exists() for run in (*a, b, pre))
    gc(root, keep=2)
    left = sorted(p.name for p in root.iterdir())
    assert left == sorted([a[2].id, a[3].id, b.id, busy.id])  # the running run is never removed
    assert gc(root) == []  # without --keep: only pre-flight failures, and there are none left


def test_gc_keeps_a_run_whose_output_a_kept_run_reused_and_says_so(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    origin = _run(root, "a0", "specs/a.yaml", Status.SUCCEEDED, 100)
    between = _run(root, "a1", "specs/a.yaml", Status.SUCCEEDED, 101)
    later = _run(root, "a2", "specs/a.yaml", Status.REUSED, 102, reused_from=origin.id)
    said = gc(root, keep=1)
    assert said == [f"kept {origin.id}: run {later.id} (step score) reused its output; that step's logs and "
                    "reports are here", f"removed {between.id} (succeeded)"]
    assert origin.path.exists() and later.path.exists() and not between.path.exists()


def test_rm_refuses_a_running_run_and_removes_all_named_or_none(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    done = _run(root, "a0", "specs/a.yaml", Status.FAILED, 100)
    busy = _run(root, "a1", "specs/a.yaml", Status.RUNNING, 101, driver_pid=os.getpid())
    with pytest.raises(RunError, match=f"run {busy.id} is running"):
        remove(root, [done.id, busy.id])
    assert done.path.exists()
    assert remove(root, [done.id]) == [f"removed {done.id}"]
    with pytest.raises(RunError, match="no run named"):
        remove(root, ["nothing-like-it"])


def test_rm_and_gc_with_real_runs_that_reused_output(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 9)
    write_spec(tmp_path, step={"allow_reuse": True})
    write_spec(tmp_path, script="missing.py", name="broken.yaml")
    ran = cli("apply", "spec.yaml", cwd=tmp_path)
    reused = cli("apply", "spec.yaml", cwd=tmp_path)
    broken = cli("apply", "broken.yaml", cwd=tmp_path)
    assert ran.returncode == reused.returncode == 0 and broken.returncode == 2, broken.stderr
    first, second, failed = ran.stdout.strip(), reused.stdout.strip(), broken.stdout.strip()

    listed = cli("runs", cwd=tmp_path).stdout.splitlines()
    assert [line.split()[0] for line in listed[:3]] == ["RUN", first, second]
    assert listed[3] == (f"and 1 failed pre-flight check (newest {failed}): `runner runs --status preflight` "
                         "lists them, `runner gc` removes them")
    assert cli("runs", "--status", "preflight", cwd=tmp_path).stdout.splitlines()[1].split()[0] == failed
    newest = json.loads(cli("runs", "--json", "--status", "succeeded", "--status", "reused", "--limit", "1",
                            cwd=tmp_path).stdout)
    assert [r["id"] for r in newest] == [second] and newest[0]["status"] == "reused"

    refused = cli("rm", first, cwd=tmp_path)
    assert refused.returncode == 2 and f"run {second} (step score) reused the output of run {first}" in \
        refused.stderr and f"`runner rm --force {first}`" in refused.stderr
    collected = cli("gc", "--keep", "1", cwd=tmp_path)
    assert collected.returncode == 0, collected.stderr
    assert f"kept {first}: run {second} (step score) reused its output" in collected.stderr
    assert f"removed {failed} (pre-flight failure)" in collected.stderr
    forced = cli("rm", "--force", first, cwd=tmp_path)
    assert forced.returncode == 0 and f"removed {first}; run {second}" in forced.stderr
    # The later run's rows stay: its output files are links to the same data.
    assert len(output_rows(tmp_path, second)) == 9
    assert cli("runs", cwd=tmp_path).stdout.splitlines()[1].split()[0] == second


def test_gc_keep_counts_finished_runs_only(tmp_path: Path) -> None:
    """`gc --keep 1` with a newer run still going: the newest finished run is the one
    kept (the running one is never removed, and does not take its place)."""
    root = tmp_path / "runs"
    done = _run(root, "a0", "specs/a.yaml", Status.SUCCEEDED, 100)
    busy = _run(root, "a1", "specs/a.yaml", Status.RUNNING, 200, driver_pid=os.getpid())
    assert gc(root, keep=1) == []
    assert done.path.exists() and busy.path.exists()
    older = _run(root, "a2", "specs/a.yaml", Status.FAILED, 50)
    assert gc(root, keep=1) == [f"removed {older.id} (failed)"]


def test_gc_keeps_a_pre_flight_failure_that_committed_rows_before(tmp_path: Path) -> None:
    # A run whose later retry (or later step) failed its pre-flight checks still holds the
    # rows its mini-batches committed: it is not a run that never ran.
    root = tmp_path / "runs"
    never = _run(root, "p0", "specs/a.yaml", Status.PREFLIGHT, 100)
    ran = _run(root, "p1", "specs/a.yaml", Status.PREFLIGHT, 101)
    write_record(ran.path / "score" / "step.json", StepRecord("score", Status.PREFLIGHT, mini_batches=4))
    assert gc(root) == [f"removed {never.id} (pre-flight failure)"]
    assert ran.path.exists()
