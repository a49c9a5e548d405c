"""The local engine with real worker processes: each ParallelRunStep semantic, each fault."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.local.helpers import cli, expected_rows, make_files, output_rows, pid_alive, run_folder, write_spec


@pytest.fixture
def job(tmp_path: Path) -> tuple[Path, list[str]]:
    return tmp_path, make_files(tmp_path / "data", 40)


def _apply(root: Path, spec: str = "spec.yaml", *extra: str) -> tuple[int, str, str]:
    result = cli("apply", spec, *extra, cwd=root)
    return result.returncode, result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "", result.stderr


def _ledger(root: Path, run_id: str) -> list[dict]:
    lines = (run_folder(root, run_id) / "score" / "ledger.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _manifest(root: Path, run_id: str) -> list[dict]:
    text = (run_folder(root, run_id) / "score" / "failed_items.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_every_file_once_with_arguments_logs_and_reports(job):
    root, names = job
    write_spec(root, step={"arguments": ["--factor", 3]})
    code, run_id, err = _apply(root)
    assert code == 0, err
    assert sorted(output_rows(root, run_id)) == expected_rows(names, factor=3)
    folder = run_folder(root, run_id) / "score"
    report = (folder / "logs/sys/report/processed_mini_batches.csv").read_text().splitlines()
    assert len(report) == 1 + 8 and all(",ok," in line for line in report[1:])
    stdout = (folder / "logs/user/stdout/node0/process000.stdout.txt").read_text()
    assert "argv=['--factor', '3']" in stdout
    assert "init done" in (folder / "logs/user/entry_script_log/node0/process001.log.txt").read_text()
    status = cli("status", run_id, "--json", cwd=root)
    progress = json.loads(status.stdout)["steps"][0]["progress"]
    assert progress["mini_batches"] == {"total": 8, "succeeded": 8, "failed": 0, "in_flight": 0, "retrying": 0}
    assert progress["items"] == {"total": 40, "succeeded": 40, "failed": 0, "estimate": None}
    shown = cli("results", run_id, "--head", "2", cwd=root)
    assert shown.stdout.splitlines()[0] == "parallel_run_step.txt has 40 rows" and len(shown.stdout.splitlines()) == 3


@pytest.mark.parametrize("fault", ["exit", "kill", "raise"])
def test_a_fault_once_is_retried_and_loses_nothing(job, fault):
    root, names = job
    write_spec(root, env={"FAULT": fault, "FAULT_ON": "f0013.txt", "FAULT_ONCE": "1"})
    code, run_id, err = _apply(root)
    assert code == 0, err
    assert sorted(output_rows(root, run_id)) == expected_rows(names)  # exactly once
    retried = [r for r in _ledger(root, run_id) if r["tries"] > 1]
    assert len(retried) == 1 and retried[0]["status"] == "ok"


@pytest.mark.parametrize("fault", ["exit", "kill", "raise"])
def test_a_fault_every_time_fails_its_mini_batch_after_run_max_try(job, fault):
    root, names = job
    write_spec(root, env={"FAULT": fault, "FAULT_ON": "f0013.txt"}, run_max_try=2, error_threshold=5)
    code, run_id, err = _apply(root)
    assert code == 0, err  # 5 failed files are within error_threshold 5
    bad = {f"f00{i}.txt" for i in range(10, 15)}
    assert sorted(output_rows(root, run_id)) == expected_rows(names, skip=tuple(bad))
    [entry] = _manifest(root, run_id)
    assert sorted(Path(p).name for p in entry["mini_batch"]["files"]) == sorted(bad)
    assert entry["tries"] == 2 and entry["failed_items"] == 5
    expected = {"exit": "exit code 7", "kill": "killed by SIGKILL", "raise": "ValueError: cannot score f0013.txt"}
    assert expected[fault] in entry["error"]


def test_error_threshold_exceeded_stops_the_job_with_exit_1(job):
    root, _ = job
    write_spec(root, env={"FAULT": "raise", "FAULT_ON": "f0013.txt"}, run_max_try=1, error_threshold=4)
    code, run_id, err = _apply(root)
    assert code == 1
    assert "error_threshold exceeded: 5 items failed, more than the 4 allowed" in err
    assert "ValueError: cannot score f0013.txt" in err
    assert json.loads(cli("status", run_id, "--json", cwd=root).stdout)["status"] == "failed"


@pytest.mark.parametrize("allowed, code", [(0, 1), (1, 0), (-1, 0)])
def test_allowed_failed_count(job, allowed, code):
    root, _ = job
    write_spec(root, env={"FAULT": "raise", "FAULT_ON": "f0013.txt"}, run_max_try=1, allowed_failed_count=allowed)
    result, _, err = _apply(root)
    assert result == code, err
    if code:
        assert "allowed_failed_count exceeded: 1 mini-batch failed, more than the 0 allowed" in err


@pytest.mark.parametrize("percent, code", [(10, 1), (12.5, 0), (100, 0)])
def test_allowed_failed_percent(job, percent, code):
    root, _ = job  # 8 mini-batches: one failed is 12.5%
    write_spec(root, env={"FAULT": "raise", "FAULT_ON": "f0013.txt"}, run_max_try=1, allowed_failed_percent=percent)
    result, _, err = _apply(root)
    assert result == code, err
    if code:
        assert "1 of 8 mini-batches failed (12.5% > 10%)" in err


def test_a_hung_run_is_killed_with_its_children_and_retried(job):
    root, names = job
    write_spec(root, env={"FAULT": "hang", "FAULT_ON": "f0013.txt", "FAULT_ONCE": "1"}, run_invocation_timeout=2)
    started = time.monotonic()
    code, run_id, err = _apply(root)
    assert code == 0, err
    assert time.monotonic() - started < 30
    assert sorted(output_rows(root, run_id)) == expected_rows(names)
    child = int((root / "markers" / "child.pid").read_text())
    assert not pid_alive(child), "the hung run()'s child process outlived the timeout kill"
    log = (run_folder(root, run_id) / "score/logs/sys/driver.log").read_text()
    assert "run_invocation_timeout (2 s)" in log


def test_fewer_results_count_the_shortfall_and_name_the_files(job):
    root, names = job
    write_spec(root, env={"FAULT": "short", "FAULT_ON": "f0013.txt"})
    code, run_id, err = _apply(root)
    assert code == 0, err
    assert sorted(output_rows(root, run_id)) == expected_rows(names, skip=("f0013.txt",))
    [entry] = _manifest(root, run_id)
    assert [Path(p).name for p in entry["failed_files"]] == ["f0013.txt"] and entry["failed_items"] == 1
    status = json.loads(cli("status", run_id, "--json", cwd=root).stdout)["steps"][0]["progress"]
    assert status["items"] == {"total": 40, "succeeded": 39, "failed": 1, "estimate": None}


def test_returning_none_is_a_clear_error(job):
    root, _ = job
    write_spec(root, env={"FAULT": "none", "FAULT_ON": "f0013.txt"}, run_max_try=1, error_threshold=0)
    code, _, err = _apply(root)
    assert code == 1
    assert "run() returned None: it must return a list, a tuple or a pandas DataFrame" in err


def test_a_corrupt_input_file_counts_against_the_threshold_and_is_listed(job):
    root, names = job
    (root / "data" / "f0021.txt").write_bytes(b"\x89PNG\r\n garbage")
    write_spec(root, mini_batch_size=1, run_max_try=1, error_threshold=1)
    code, run_id, err = _apply(root)
    assert code == 0, err
    [entry] = _manifest(root, run_id)
    assert Path(entry["mini_batch"]["files"][0]).name == "f0021.txt"
    assert "UnicodeDecodeError" in entry["error"]
    assert sorted(output_rows(root, run_id)) == expected_rows(names, skip=("f0021.txt",))


def test_init_failing_once_restarts_the_worker(job):
    root, names = job
    write_spec(root, env={"INIT_FAULT": "raise", "FAULT_ONCE": "1"})
    code, run_id, err = _apply(root)
    assert code == 0, err
    assert sorted(output_rows(root, run_id)) == expected_rows(names)


@pytest.mark.parametrize("mode, shown", [("raise", "RuntimeError: model file is corrupt"), ("exit", "exit code 3")])
def test_init_failing_always_fails_the_job_with_its_error(job, mode, shown):
    root, _ = job
    write_spec(root, env={"INIT_FAULT": mode}, run_max_try=2)
    started = time.monotonic()
    code, _, err = _apply(root)
    assert code == 1
    assert "every worker failed to start 2 times" in err and shown in err
    assert time.monotonic() - started < 30


def test_a_hung_init_is_a_failed_start_not_a_hung_job(job, monkeypatch):
    root, _ = job
    monkeypatch.setenv("RUNNER_START_TIMEOUT", "1")
    write_spec(root, env={"INIT_FAULT": "hang"}, run_max_try=1, run_invocation_timeout=1)
    started = time.monotonic()
    code, _, err = _apply(root)
    assert code == 1 and "import and init() did not finish within 1 s" in err
    assert time.monotonic() - started < 30


def test_the_failed_items_manifest_reruns_only_what_failed(job):
    root, names = job
    write_spec(root, env={"FAULT": "raise", "FAULT_ON": "f0013.txt"}, run_max_try=1)
    code, first, err = _apply(root)
    assert code == 0, err
    manifest = run_folder(root, first) / "score" / "failed_items.jsonl"
    write_spec(root, name="retry.yaml", dataset={"kind": "file", "path": str(manifest), "manifest": True})
    code, second, err = _apply(root, "retry.yaml")
    assert code == 0, err
    rows = output_rows(root, second)
    assert sorted(rows) == expected_rows([f"f00{i}.txt" for i in range(10, 15)])
    assert sorted(output_rows(root, first) + rows) == expected_rows(names)


def test_summary_only_counts_returns_and_writes_no_rows(job):
    root, _ = job
    write_spec(root, output_action="summary_only")
    code, run_id, err = _apply(root)
    assert code == 0, err
    assert not (run_folder(root, run_id) / "score/outputs/out/parallel_run_step.txt").exists()
    progress = json.loads(cli("status", run_id, "--json", cwd=root).stdout)["steps"][0]["progress"]
    assert progress["items"]["succeeded"] == 40


def test_allow_reuse_reuses_until_code_or_inputs_change(job):
    root, names = job
    write_spec(root, step={"allow_reuse": True})
    code, first, _ = _apply(root)
    code, second, err = _apply(root)
    assert code == 0 and f"reused the output of run {first}" in err
    assert sorted(output_rows(root, second)) == expected_rows(names)
    make_files(root / "data", 1, start=40)
    code, third, err = _apply(root)
    assert "reused" not in err and len(output_rows(root, third)) == 41
    script = root / "code" / "faulty.py"
    script.write_text(script.read_text() + "\n# changed\n")
    code, _, err = _apply(root)
    assert "reused" not in err


@pytest.mark.parametrize("break_it, message", [
    (lambda root: (root / "code" / "faulty.py").unlink(), "entry_script"),
    (lambda root: (root / "code" / "faulty.py").write_text("def run(:\n"), "syntax error at line 1"),
    (lambda root: (root / "code" / "faulty.py").write_text("import not_a_module\ndef run(b):\n    return b\n"),
     "ModuleNotFoundError: No module named 'not_a_module'"),
    (lambda root: (root / "code" / "faulty.py").write_text("def init():\n    pass\n"), "defines no run(mini_batch)"),
    (lambda root: __import__("shutil").rmtree(root / "data"), "does not exist"),
    (lambda root: [p.unlink() for p in (root / "data").iterdir()], "has no files"),
])
def test_preflight_checks_exit_2_before_any_mini_batch(job, break_it, message):
    root, _ = job
    write_spec(root)
    break_it(root)
    code, _, err = _apply(root)
    assert code == 2, err
    assert message in err
    assert "Traceback (most recent call last)" not in err.split("failed to import")[0]
