"""The file system against the driver: a link planted in the run folder, a file replaced
by a folder, a damaged staging file, writes the OS refuses (a path under a file, a
read-only mount, an immutable file, too many open files, a deleted working directory)
and an output file changed behind the driver's back. Each ends as a clear stop naming
the path and the cause, never `internal error`; what was committed is kept and the
run's status says why it stopped."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.local.helpers import cli, expected_rows, make_files, output_rows, run_folder, write_spec

ROOT = Path(__file__).parents[2]


def _stopped_run(root: Path, keep: int = 5, **parallel_run) -> tuple[str, Path]:
    """A run of 30 files in 10 mini-batches as a killed driver leaves it: run.json and
    step.json say running, the ledger holds its first `keep` lines, the output their rows."""
    make_files(root / "data", 30)
    write_spec(root, mini_batch_size=3, **parallel_run)
    done = cli("apply", "spec.yaml", cwd=root)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    step = run_folder(root, run_id) / "score"
    lines = (step / "ledger.jsonl").read_bytes().splitlines(keepends=True)[:keep]
    (step / "ledger.jsonl").write_bytes(b"".join(lines))
    for path in (run_folder(root, run_id) / "run.json", step / "step.json"):
        info = json.loads(path.read_text())
        info["status"] = "running"
        path.write_text(json.dumps(info))
    return run_id, step


def _clean(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr


def _status(root: Path, run_id: str) -> dict:
    shown = cli("status", run_id, "--json", cwd=root)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


# --- item: links and folders where a file belongs -------------------------------------------


def test_a_link_planted_for_the_output_is_refused_and_the_file_it_points_to_is_untouched(tmp_path):
    run_id, step = _stopped_run(tmp_path)
    outside = tmp_path / "precious.bin"
    outside.write_bytes(os.urandom(9000))
    before = outside.read_bytes()
    output = step / "outputs" / "out" / "parallel_run_step.txt"
    output.unlink()
    output.symlink_to(outside)
    ledger = (step / "ledger.jsonl").read_bytes()
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 2, resumed.stderr
    _clean(resumed)
    assert f"run folder damaged: {output} is a link" in resumed.stderr, resumed.stderr
    assert outside.read_bytes() == before
    assert (step / "ledger.jsonl").read_bytes() == ledger  # nothing cut either
    status = _status(tmp_path, run_id)
    assert status["status"] == "error" and f"{output} is a link" in status["reason"]
    assert "killed?" not in status["reason"]


def test_a_link_planted_for_the_driver_log_is_refused(tmp_path):
    run_id, step = _stopped_run(tmp_path)
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    log = step / "logs" / "sys" / "driver.log"
    log.unlink()
    log.symlink_to(outside)
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 2, resumed.stderr
    _clean(resumed)
    assert f"{log} is a link" in resumed.stderr
    assert outside.read_text() == "keep me\n"


def test_links_planted_for_the_workers_logs_are_not_followed(tmp_path):
    """The workers' stdout/stderr (opened by the driver) and their `logging` file
    (opened by the worker) are run-folder files too: no write goes through a link."""
    run_id, step = _stopped_run(tmp_path)
    logs = [p for p in (step / "logs").rglob("*") if p.is_file() and p.name != "driver.log"]
    assert logs, sorted((step / "logs").rglob("*"))
    outside = []
    for n, log in enumerate(logs):
        target = tmp_path / f"precious-{n}.txt"
        target.write_text("keep me\n")
        log.unlink()
        log.symlink_to(target)
        outside.append(target)
    resumed = cli("resume", run_id, cwd=tmp_path)
    _clean(resumed)
    assert resumed.returncode != 0, resumed.stdout
    assert all(t.read_text() == "keep me\n" for t in outside)



def test_a_link_planted_for_the_report_leaves_the_run_as_it_ended(tmp_path):
    """The report is written after the run: a link where its partial file goes is refused
    (the outside file untouched) and the run's outcome is the run's, not the report's."""
    run_id, step = _stopped_run(tmp_path)
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    (run_folder(tmp_path, run_id) / "report.html.part").symlink_to(outside)
    resumed = cli("resume", run_id, cwd=tmp_path, env={"RUNNER_REPORT": "1"})
    assert resumed.returncode == 0, resumed.stderr
    _clean(resumed)
    assert outside.read_text() == "keep me\n"
    assert "the run's report could not be started" in (step / "logs" / "sys" / "driver.log").read_text()

def test_a_ledger_replaced_by_a_folder_is_a_damaged_run_folder_for_every_command(tmp_path):
    run_id, step = _stopped_run(tmp_path)
    ledger = step / "ledger.jsonl"
    ledger.unlink()
    ledger.mkdir()
    for command in (("resume",), ("status",), ("retry",), ("results", "--sorted")):
        said = cli(*command, run_id, cwd=tmp_path)
        assert said.returncode == 2, (command, said.stderr)
        _clean(said)
        assert f"run folder damaged: {ledger} is a folder, expected a file" in said.stderr, (command, said.stderr)


def test_a_lock_replaced_by_a_folder_is_a_damaged_run_folder(tmp_path):
    run_id, step = _stopped_run(tmp_path)
    lock = step.parent / ".lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    for command in ("resume", "retry"):
        said = cli(command, run_id, cwd=tmp_path)
        assert said.returncode == 2, (command, said.stderr)
        _clean(said)
        assert f"run folder damaged: {lock} is a folder, expected a file" in said.stderr, (command, said.stderr)


# --- item: a Parquet staging file damaged --------------------------------------------------

_FRAME = ("import os\nimport pandas as pd\n\ndef run(mb):\n"
          "    return pd.DataFrame({'file': [os.path.basename(p) for p in mb]})\n")


def _parquet_run(root: Path, keep: int) -> tuple[str, Path, Path]:
    (root / "code").mkdir()
    (root / "code" / "frame.py").write_text(_FRAME)
    run_id, step = _stopped_run(root, keep=keep, script="frame.py", append_row_format="parquet",
                                append_row_file_name="rows.parquet")
    staged = step / "staging" / "out" / "rows.parquet.arrows"
    return run_id, step, staged


def test_a_staging_file_damaged_past_the_last_commit_is_redone_on_resume(tmp_path):
    run_id, step, staged = _parquet_run(tmp_path, keep=5)
    end = json.loads((step / "ledger.jsonl").read_bytes().splitlines()[-1])["out"]
    data = bytearray(staged.read_bytes())
    data[end + 8:] = b"\xff" * (len(data) - end - 8)  # what a kill mid-write may leave of uncommitted frames
    staged.write_bytes(bytes(data))
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(pd.read_parquet(step / "outputs" / "out" / "rows.parquet")["file"]) == \
        sorted(f"f{i:04d}.txt" for i in range(30))


def test_a_staging_file_damaged_inside_what_was_committed_is_a_damaged_run_folder(tmp_path):
    run_id, step, staged = _parquet_run(tmp_path, keep=5)
    data = bytearray(staged.read_bytes())
    data[8:40] = b"\xff" * 32  # inside mini-batch 0's committed frame
    staged.write_bytes(bytes(data))
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 2, resumed.stderr
    _clean(resumed)
    assert f"run folder damaged: {staged}" in resumed.stderr and "mini-batch" in resumed.stderr, resumed.stderr
    assert "flatbuffers" not in resumed.stderr.split("(")[0]


# --- item: writes the OS refuses --------------------------------------------------------------


def _runner(root: Path, *args: str, env: dict[str, str] | None = None, preexec=None,
            prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "RUNNER_HOME"}
    return subprocess.run([*prefix, sys.executable, "-m", "runner", *args], cwd=root, capture_output=True, text=True,
                          timeout=120, preexec_fn=preexec, env={**base, "PYTHONPATH": str(ROOT), **(env or {})})


def test_a_runner_home_under_a_regular_file_is_a_clear_error(tmp_path):
    make_files(tmp_path / "data", 6)
    write_spec(tmp_path, mini_batch_size=3)
    (tmp_path / "afile").write_text("not a folder\n")
    home = tmp_path / "afile" / "home"
    applied = _runner(tmp_path, "apply", "spec.yaml", env={"RUNNER_HOME": str(home)})
    assert applied.returncode == 3, applied.stderr
    _clean(applied)
    assert str(tmp_path / "afile") in applied.stderr and "Not a directory" in applied.stderr, applied.stderr


def test_too_many_open_files_stops_the_run_clearly_and_resume_finishes_it(tmp_path):
    names = make_files(tmp_path / "data", 30)
    write_spec(tmp_path, mini_batch_size=3)

    def few_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))

    applied = _runner(tmp_path, "apply", "spec.yaml", preexec=few_files)
    assert applied.returncode == 3, applied.stderr
    _clean(applied)
    assert "Too many open files" in applied.stderr and "ulimit -n" in applied.stderr, applied.stderr
    run_id = applied.stdout.strip()
    status = _status(tmp_path, run_id)
    assert status["status"] == "error" and "Too many open files" in status["reason"]
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(output_rows(tmp_path, run_id)) == expected_rows(names)


def test_an_output_made_immutable_stops_the_run_clearly_and_resume_finishes_it(tmp_path):
    if shutil.which("chattr") is None:
        pytest.skip("no chattr on this machine")
    run_id, step = _stopped_run(tmp_path, env={"ROW_PAD": "4000"})
    output = step / "outputs" / "out" / "parallel_run_step.txt"
    if subprocess.run(["chattr", "+i", str(output)], capture_output=True).returncode:
        pytest.skip("this file system (or user) cannot make a file immutable")
    try:
        resumed = cli("resume", run_id, cwd=tmp_path)
    finally:
        subprocess.run(["chattr", "-i", str(output)], check=True)
    assert resumed.returncode == 3, resumed.stderr
    _clean(resumed)
    assert str(output) in resumed.stderr and "Operation not permitted" in resumed.stderr, resumed.stderr
    status = _status(tmp_path, run_id)
    assert status["status"] == "error" and "Operation not permitted" in status["reason"]
    assert "killed?" not in status["reason"]
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    rows = [row.split(" x")[0] for row in output_rows(tmp_path, run_id)]
    assert sorted(rows) == expected_rows([f"f{i:04d}.txt" for i in range(30)])


def test_a_read_only_run_folder_is_a_clear_error(tmp_path):
    """A real read-only mount (EROFS), in a mount namespace of its own."""
    run_id, step = _stopped_run(tmp_path)
    runs = tmp_path / ".runner"
    script = f"mount --bind {runs} {runs} && mount -o remount,ro,bind {runs} && exec \"$@\""
    probe = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", "true"], capture_output=True)
    if shutil.which("unshare") is None or probe.returncode:
        pytest.skip("no mount namespace here to mount the run folder read-only")
    resumed = _runner(tmp_path, "resume", run_id, prefix=("unshare", "-m", "sh", "-c", script, "sh"))
    assert resumed.returncode == 3, resumed.stderr
    _clean(resumed)
    assert "Read-only file system" in resumed.stderr and str(runs) in resumed.stderr, resumed.stderr
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr


def test_runs_from_a_deleted_working_directory_is_a_clear_error(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    proc = subprocess.run(
        ["sh", "-c", f'cd "{gone}" && rmdir "{gone}" && exec "$0" -m runner runs', sys.executable],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    _clean(proc)
    assert "working directory" in proc.stderr and "deleted" in proc.stderr, proc.stderr


# --- item: the output changed behind the driver's back ---------------------------------------

_TRUNCATES = """import os
import time

def init():
    pass

def run(mini_batch):
    names = sorted(os.path.basename(p) for p in mini_batch)
    if "f0015.txt" in names:
        path = os.path.join(os.environ["RUNNER_OUTPUT_DIR"], "parallel_run_step.txt")
        deadline = time.monotonic() + 60
        while not os.path.getsize(path) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the driver has flushed what it committed before
        with open(path, "r+b") as handle:
            handle.truncate(os.path.getsize(path) // 2)
    return [f"{n}: {int(n[1:5])}" for n in names]
"""


def test_an_output_truncated_by_the_entry_script_fails_the_run_naming_both_sizes(tmp_path):
    make_files(tmp_path / "data", 30)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "truncates.py").write_text(_TRUNCATES)
    write_spec(tmp_path, script="truncates.py", mini_batch_size=3, process_count_per_node=1)
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    run_id = applied.stdout.strip()
    output = run_folder(tmp_path, run_id) / "score" / "outputs" / "out" / "parallel_run_step.txt"
    assert applied.returncode != 0, applied.stderr
    _clean(applied)
    size = output.stat().st_size
    assert f"{output} is {size} bytes" in applied.stderr, applied.stderr
    assert _status(tmp_path, run_id)["status"] in ("failed", "error")
