"""Kill the driver (SIGKILL) or interrupt it (Ctrl-C) mid-run, resume, and compare the
output with the exact set of rows: nothing lost, nothing duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.local.helpers import cli, expected_rows, make_files, output_rows, pid_alive, run_folder, write_spec


def _start(root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "runner", "apply", "spec.yaml"], cwd=root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})


def _wait_for_commits(root: Path, count: int, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ledger in (root / ".runner" / "runs").glob("*/score/ledger.jsonl"):
            if len(ledger.read_bytes().splitlines()) >= count:
                return ledger
        time.sleep(0.02)
    raise AssertionError("the run made no progress")


@pytest.mark.parametrize("kill_after", [3, 11, 25])
def test_driver_sigkill_then_resume_is_exactly_once(tmp_path, kill_after):
    names = make_files(tmp_path / "data", 120)
    write_spec(tmp_path, mini_batch_size=3, env={"SLEEP": "0.01"})
    proc = _start(tmp_path)
    ledger = _wait_for_commits(tmp_path, kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_id = ledger.parents[1].name
    time.sleep(0.2)  # the orphaned workers see the driver gone and exit
    status = json.loads(cli("status", run_id, "--json", cwd=tmp_path).stdout)
    assert status["status"] == "interrupted" and status["steps"][0]["status"] == "interrupted"
    committed = len(ledger.read_bytes().splitlines())
    assert status["steps"][0]["progress"]["mini_batches"]["succeeded"] == committed  # counted from the ledger
    partial = output_rows(tmp_path, run_id)
    assert len(partial) < len(names)
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    rows = output_rows(tmp_path, run_id)
    assert sorted(rows) == expected_rows(names)
    assert len(rows) == len(set(rows))
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert sorted(r["mb"] for r in records) == list(range(40))


def test_workers_do_not_outlive_a_killed_driver(tmp_path):
    make_files(tmp_path / "data", 20)
    write_spec(tmp_path, mini_batch_size=1, env={"FAULT": "hang", "FAULT_ON": "f0003.txt"})
    proc = _start(tmp_path)
    deadline = time.monotonic() + 60
    child_file = tmp_path / "markers" / "child.pid"
    while not child_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    child = int(child_file.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(child), "a hung worker's child outlived the killed driver"


def test_a_torn_ledger_line_and_uncommitted_rows_are_cut_on_resume(tmp_path):
    """The window between writing rows and writing their ledger line, made by hand."""
    names = make_files(tmp_path / "data", 30)
    write_spec(tmp_path, mini_batch_size=3)
    done = cli("apply", "spec.yaml", cwd=tmp_path)
    run_id = done.stdout.strip()
    folder = run_folder(tmp_path, run_id) / "score"
    ledger = folder / "ledger.jsonl"
    lines = ledger.read_bytes().splitlines(keepends=True)
    keep = lines[:4]
    ledger.write_bytes(b"".join(keep) + lines[4][:10])  # a torn fifth line
    output = folder / "outputs" / "out" / "parallel_run_step.txt"
    with open(output, "ab") as handle:
        handle.write(b"f0000.txt: a row whose ledger line never made it\n")
    run_json = run_folder(tmp_path, run_id) / "run.json"
    info = json.loads(run_json.read_text())
    info["status"] = "running"
    run_json.write_text(json.dumps(info))
    step_json = folder / "step.json"
    step_info = json.loads(step_json.read_text())
    step_info["status"] = "running"
    step_json.write_text(json.dumps(step_info))
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "4 of 10 mini-batches already done" in resumed.stderr
    rows = output_rows(tmp_path, run_id)
    assert sorted(rows) == expected_rows(names)


def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path):
    names = make_files(tmp_path / "data", 90)
    write_spec(tmp_path, mini_batch_size=3, env={"SLEEP": "0.02"})
    proc = _start(tmp_path)
    ledger = _wait_for_commits(tmp_path, 5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    run_id = out.strip()
    assert f"runner resume {run_id}" in err
    status = json.loads(cli("status", run_id, "--json", cwd=tmp_path).stdout)
    assert status["status"] == "interrupted"
    # Workers are gone: none of them is left holding the run.
    workers = subprocess.run(["pgrep", "-f", "runner.local.worker"], capture_output=True, text=True).stdout.split()
    ours = [pid for pid in workers if str(tmp_path) in Path(f"/proc/{pid}/cwd").resolve().as_posix()]
    assert not ours
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(output_rows(tmp_path, run_id)) == expected_rows(names)
    del ledger


def test_resume_refuses_a_finished_run(tmp_path):
    make_files(tmp_path / "data", 5)
    write_spec(tmp_path)
    run_id = cli("apply", "spec.yaml", cwd=tmp_path).stdout.strip()
    again = cli("resume", run_id, cwd=tmp_path)
    assert again.returncode == 2 and "already succeeded; nothing to resume" in again.stderr
    missing = cli("resume", "no-such-run", cwd=tmp_path)
    assert missing.returncode == 2 and "no run named 'no-such-run'" in missing.stderr
    sneaky = cli("status", "../../etc", cwd=tmp_path)
    assert sneaky.returncode == 2


def test_a_threshold_exceeded_before_the_driver_died_still_fails_the_resume(tmp_path):
    """The driver is killed after the threshold tripped but before run.json said so (while
    it wrote the reports): resuming must fail on the failures in the ledger, not go on and
    call the step succeeded."""
    make_files(tmp_path / "data", 24)
    write_spec(tmp_path, mini_batch_size=3, error_threshold=0, run_max_try=1, process_count_per_node=1,
               env={"FAULT": "raise", "FAULT_ON": "f0001.txt"})
    first = cli("apply", "spec.yaml", cwd=tmp_path)
    assert first.returncode == 1 and "error_threshold exceeded" in first.stderr, first.stderr
    run_id = first.stdout.strip()
    for path in (run_folder(tmp_path, run_id) / "run.json", run_folder(tmp_path, run_id) / "score" / "step.json"):
        info = json.loads(path.read_text())
        info["status"] = "running"  # what a SIGKILL during the reports leaves
        path.write_text(json.dumps(info))
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 1, resumed.stderr
    assert "error_threshold exceeded" in resumed.stderr
    manifest = (run_folder(tmp_path, run_id) / "score" / "failed_items.jsonl").read_text().splitlines()
    assert any('"status": "not_run"' in line for line in manifest)
