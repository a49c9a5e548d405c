"""Kill the driver (SIGKILL) or interrupt it (Ctrl-C) mid-run, resume, and compare the
output with the exact set of rows: nothing lost, nothing duplicated."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.local.helpers import (assert_report_rebuilt, cli, expected_rows, make_files, output_rows, pid_alive, run_folder,
                                 write_spec)


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
    assert_report_rebuilt(ledger.parent)  # the lines of both drivers


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
    assert_report_rebuilt(folder)


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
    workers = subprocess.run(["pgrep", "-f", "runner.local.worker.main"], capture_output=True, text=True).stdout.split()
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


def _stopped_run(root: Path, files: int = 30, keep: int | None = 5, **parallel_run) -> tuple[str, Path]:
    """A run as a killed driver leaves it: run.json and step.json say running, and (with
    `keep`) only the ledger's first lines are there, their rows in the output."""
    make_files(root / "data", files)
    write_spec(root, mini_batch_size=3, **parallel_run)
    done = cli("apply", "spec.yaml", cwd=root)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    step = run_folder(root, run_id) / "score"
    if keep is not None:
        lines = (step / "ledger.jsonl").read_bytes().splitlines(keepends=True)[:keep]
        (step / "ledger.jsonl").write_bytes(b"".join(lines))
        end = json.loads(lines[-1])["out"]
        output = step / "outputs" / "out" / "parallel_run_step.txt"
        with open(output, "r+b") as handle:
            handle.truncate(end)
    for path in (run_folder(root, run_id) / "run.json", step / "step.json"):
        info = json.loads(path.read_text())
        info["status"] = "running"
        path.write_text(json.dumps(info))
    return run_id, step


def _resume(root: Path, run_id: str, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # a full disk, as the OS reports a file that may grow no more
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", "runner", "resume", run_id], cwd=root, capture_output=True,
                          text=True, timeout=120, preexec_fn=limit,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})


def test_a_ledger_line_deleted_from_the_middle_stops_the_resume_and_the_advised_cut_resumes_it(tmp_path):
    names = make_files(tmp_path / "data", 30)
    run_id, step = _stopped_run(tmp_path, keep=None)
    ledger = step / "ledger.jsonl"
    lines = ledger.read_bytes().splitlines(keepends=True)
    ledger.write_bytes(b"".join(lines[:2] + lines[3:6]))  # the third line deleted
    before = output_rows(tmp_path, run_id)
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 2, resumed.stderr
    assert f"{ledger} line 3: its rows start at byte" in resumed.stderr
    assert "a line between them is missing (deleted?)" in resumed.stderr and "cut it before line 3" in resumed.stderr
    assert "Traceback" not in resumed.stderr and "internal error" not in resumed.stderr
    assert output_rows(tmp_path, run_id) == before  # nothing cut, nothing run
    ledger.write_bytes(b"".join(lines[:2]))  # what the message advises
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    rows = output_rows(tmp_path, run_id)
    assert sorted(rows) == expected_rows(names) and len(rows) == len(set(rows))


def _edit_line(index: int, old: bytes, new: bytes):
    def edit(step: Path) -> None:
        ledger = step / "ledger.jsonl"
        lines = ledger.read_bytes().splitlines(keepends=True)
        assert old in lines[index]
        lines[index] = lines[index].replace(old, new)
        ledger.write_bytes(b"".join(lines))
    return edit


DAMAGED_FILES = {
    # name: (what is done to the step folder, the file named, what else the message says)
    "mb out of range": (_edit_line(2, b'"mb":', b'"mb":10,"was":'), "ledger.jsonl", "line 3: \"mb\" is 10,"),
    "mb negative": (_edit_line(1, b'"mb":', b'"mb":-1,"was":'), "ledger.jsonl", "line 2: \"mb\" is -1"),
    "mb not a number": (_edit_line(1, b'"mb":', b'"mb":"x","was":'), "ledger.jsonl", "line 2: \"mb\" is \"x\""),
    "a missing key": (_edit_line(3, b'"tries":1,', b""), "ledger.jsonl", "line 4: it has no 'tries'"),
    "not JSON in the middle": (lambda step: _edit_line(1, b"{", b"{{")(step), "ledger.jsonl",
                               "line 2: it is not a ledger line"),
    "minibatches.jsonl deleted": (lambda step: (step / "minibatches.jsonl").unlink(), "minibatches.jsonl",
                                  "is missing"),
    "minibatches.jsonl cut short": (lambda step: (step / "minibatches.jsonl").write_bytes(
        b"".join((step / "minibatches.jsonl").read_bytes().splitlines(keepends=True)[:7])), "minibatches.jsonl",
        "has 7 mini-batches where"),
    "a descriptor line damaged": (lambda step: (step / "minibatches.jsonl").write_bytes(
        b"".join(line if i != 8 else b"{nope\n" for i, line in
                 enumerate((step / "minibatches.jsonl").read_bytes().splitlines(keepends=True)))),
        "minibatches.jsonl", r"(line 9|:9): "),  # the resume's input check may find it first
    "step.json empty": (lambda step: (step / "step.json").write_text(""), "step.json", "cannot be read"),
    "step.json damaged": (lambda step: (step / "step.json").write_text('{"name": "score", "mini_batches": "ten",'
                                                                        ' "version": 1}'), "step.json", "damaged"),
}


@pytest.mark.parametrize("name", list(DAMAGED_FILES))
def test_a_damaged_run_file_gives_a_clear_error_naming_it(tmp_path, name):
    damage, file, says = DAMAGED_FILES[name]
    run_id, step = _stopped_run(tmp_path)
    damage(step)
    before = (step / "ledger.jsonl").read_bytes()
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 2, resumed.stderr
    assert "Traceback" not in resumed.stderr and "internal error" not in resumed.stderr
    assert f"{step / file}" in resumed.stderr and re.search(says, resumed.stderr), resumed.stderr
    after = (step / "ledger.jsonl").read_bytes()
    if name == "a descriptor line damaged":  # found when the driver reaches it: what ran before is committed
        assert after.startswith(before) and len(after.splitlines()) < 10
    else:
        assert after == before  # nothing cut, nothing run


def test_a_resume_on_a_still_full_disk_says_so_and_a_later_one_finishes(tmp_path):
    names = make_files(tmp_path / "data", 30)
    run_id, step = _stopped_run(tmp_path, env={"ROW_PAD": "4000"})  # rows past the output buffer
    output = step / "outputs" / "out" / "parallel_run_step.txt"
    # Nothing can be written; or the run's records can, and the output cannot grow.
    for limit in (0, output.stat().st_size):
        full = _resume(tmp_path, run_id, limit_bytes=limit)
        assert full.returncode == 3, full.stderr
        assert "Traceback" not in full.stderr and "internal error" not in full.stderr
        assert "File too large. What was committed is kept" in full.stderr and f"runner resume {run_id}" in full.stderr
        assert len((step / "ledger.jsonl").read_bytes().splitlines()) == 5
    assert json.loads(cli("status", run_id, "--json", cwd=tmp_path).stdout)["status"] in ("error", "interrupted")
    resumed = _resume(tmp_path, run_id)
    assert resumed.returncode == 0, resumed.stderr
    rows = [row.split(" x")[0] for row in output_rows(tmp_path, run_id)]
    assert sorted(rows) == expected_rows(names) and len(rows) == len(set(rows))


def test_parquet_is_finished_by_a_resume_that_finds_every_mini_batch_committed(tmp_path):
    """A driver killed after the last commit, before the Parquet file was written (or a
    disk that filled while it was): resume writes it, and says succeeded only then."""
    names = make_files(tmp_path / "data", 30)
    _typed = "import os\nimport pandas as pd\n\ndef run(mb):\n    return pd.DataFrame({'file': [os.path.basename(p) for p in mb]})\n"
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "frame.py").write_text(_typed)
    run_id, step = _stopped_run(tmp_path, keep=None, script="frame.py", append_row_format="parquet",
                                append_row_file_name="rows.parquet")
    final = step / "outputs" / "out" / "rows.parquet"
    final.unlink()
    full = _resume(tmp_path, run_id, limit_bytes=0)  # the disk is still full
    assert full.returncode == 3 and "What was committed is kept" in full.stderr, full.stderr
    assert not final.exists()
    resumed = _resume(tmp_path, run_id)
    assert resumed.returncode == 0, resumed.stderr
    assert "10 of 10 mini-batches already done" in resumed.stderr
    assert sorted(pd.read_parquet(final)["file"]) == names
    again = cli("resume", run_id, cwd=tmp_path)
    assert again.returncode == 2 and "already succeeded" in again.stderr
