"""What the commands say, read as a person reads it (issue 16): a reason said once, real
paths instead of placeholders, the output file by name, rows in input order on request."""

from __future__ import annotations

import signal
from pathlib import Path

import pandas as pd
import pytest

from tests.faults.test_crashes import run_id_of, start, wait_for
from tests.local.helpers import cli, make_files, output_rows, run_folder, write_spec


def test_ctrl_c_says_interrupted_once(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 200)
    write_spec(tmp_path, mini_batch_size=2, env={"SLEEP": "0.02"})
    proc = start(tmp_path)
    assert wait_for(tmp_path, 3, proc), "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)  # what Ctrl-C in its terminal sends
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "score: interrupted (Ctrl-C)" in err.splitlines(), err
    status = cli("status", "latest", cwd=tmp_path).stdout
    lines = status.splitlines()
    assert lines[0] == f"run {run_id_of(tmp_path)}: interrupted (Ctrl-C)", status
    assert status.count("Ctrl-C") == 1 and "interrupted (interrupted" not in status, status


def test_a_failed_runs_reason_is_shown_once_under_its_step(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 30)
    write_spec(tmp_path, mini_batch_size=3, process_count_per_node=1, run_max_try=1, allowed_failed_count=0,
               env={"FAULT": "raise", "FAULT_ON": "f0003.txt"})
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 1, applied.stderr
    run_id = applied.stdout.strip()
    status = cli("status", run_id, cwd=tmp_path).stdout
    lines = status.splitlines()
    assert lines[0] == f"run {run_id}: failed", status
    assert status.count("allowed_failed_count exceeded") == 1 and status.count("never ran") == 1, status
    # every line of the reason is indented under its step
    reason = [line for line in lines if "never ran" in line or "allowed_failed_count" in line]
    assert all(line.startswith("    ") for line in reason), status


def test_summary_only_success_names_the_real_outputs_folder(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 4)
    write_spec(tmp_path, output_action="summary_only")
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    run_id = applied.stdout.strip()
    assert "<step>" not in applied.stderr
    assert str(run_folder(tmp_path, run_id) / "score" / "outputs") in applied.stderr, applied.stderr


def test_results_names_the_output_file(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 7)
    write_spec(tmp_path, append_row_file_name="scores.txt")
    run_id = cli("apply", "spec.yaml", cwd=tmp_path).stdout.strip()
    shown = cli("results", run_id, cwd=tmp_path)
    assert shown.stdout.splitlines()[0] == "scores.txt has 7 rows", shown.stdout


def test_results_sorted_shows_files_in_listing_order(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 24)
    write_spec(tmp_path, script="ordered.py", mini_batch_size=2)
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    run_id = applied.stdout.strip()
    assert output_rows(tmp_path, run_id)[0] != "f0000.txt: 0"  # committed out of input order
    shown = cli("results", run_id, "--sorted", "--head", "30", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == ["parallel_run_step.txt has 24 rows",
                                         *(f"{n}: {int(n[1:5])}" for n in names)]
    unsorted = cli("results", run_id, "--head", "30", cwd=tmp_path).stdout.splitlines()
    assert unsorted[1:] == output_rows(tmp_path, run_id)  # without --sorted: as committed


@pytest.mark.parametrize("row_format", ["csv", "parquet"])
def test_results_sorted_shows_table_rows_in_file_then_row_order(tmp_path: Path, row_format: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for part in range(2):  # listed part0 then part1; each cut into several byte ranges
        ids = range(part * 150, part * 150 + 150)
        pd.DataFrame({"id": ids, "x": [f"row {i} " + "x" * 20 for i in ids]}).to_csv(data / f"part{part}.csv",
                                                                                       index=False)
    write_spec(tmp_path, script="ordered.py", dataset={"kind": "tabular", "path": "data/"}, mini_batch_size="1KB",
               append_row_format=row_format, append_row_file_name=f"scores.{row_format}")
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    run_id = applied.stdout.strip()
    shown = cli("results", run_id, "--sorted", "--head", "300", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"scores.{row_format} has 300 rows"
    assert lines[1].strip() == "id"  # the header (CSV) or the column's name (Parquet), once
    assert [int(line) for line in lines[2:]] == list(range(300))
    unsorted = cli("results", run_id, "--head", "300", cwd=tmp_path).stdout.splitlines()
    assert [int(line) for line in unsorted[2:]] != list(range(300))  # committed out of input order


def test_status_of_a_running_run_shows_both_rates_and_the_time_left(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 42)
    write_spec(tmp_path, script="gated.py", mini_batch_size=3, env={"GATE": "30"})
    proc = start(tmp_path)
    try:
        assert wait_for(tmp_path, 10, proc), "the run ended before its gate"
        status = ""
        for _ in range(600):  # progress.json is rewritten every second
            status = cli("status", "latest", cwd=tmp_path).stdout
            if "10 succeeded" in status:
                break
        lines = status.splitlines()
        assert "    mini-batches: 10 succeeded, 0 failed, 4 left of 14; " in "\n".join(lines), status
        assert any(line.startswith("    items: 30 succeeded, 0 failed, 12 left of 42; ") and
                   line.endswith(" items/s") for line in lines), status
        assert any(line.startswith("    ETA ") for line in lines), status
    finally:
        (tmp_path / "markers" / "release").touch()
        proc.communicate(timeout=120)
    assert proc.returncode == 0
    done = cli("status", "latest", cwd=tmp_path).stdout
    assert "ETA" not in done and "42 succeeded" in done, done


def test_results_sorted_after_a_retry_puts_the_retried_rows_in_their_place(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 12)
    write_spec(tmp_path, mini_batch_size=2, run_max_try=1, env={"FAULT": "raise", "FAULT_ON": "f0002.txt",
                                                                 "FAULT_ONCE": "1"})
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr  # within the thresholds; mini-batch 1 failed once
    run_id = applied.stdout.strip()
    retried = cli("retry", run_id, cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert output_rows(tmp_path, run_id)[-2:] == ["f0002.txt: 2", "f0003.txt: 3"]  # appended at the end
    shown = cli("results", run_id, "--sorted", "--head", "20", cwd=tmp_path).stdout.splitlines()
    assert shown == ["parallel_run_step.txt has 12 rows", *(f"{n}: {int(n[1:5])}" for n in names)]


def test_results_sorted_without_a_ledger_says_why(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 4)
    write_spec(tmp_path)
    run_id = cli("apply", "spec.yaml", cwd=tmp_path).stdout.strip()
    (run_folder(tmp_path, run_id) / "score" / "ledger.jsonl").unlink()
    shown = cli("results", run_id, "--sorted", cwd=tmp_path)
    assert shown.returncode == 2 and "cannot be put in input order" in shown.stderr, shown.stderr
    assert "Traceback" not in shown.stderr


@pytest.mark.parametrize("command", [("status", "--watch", "--interval", "0.2"), ("logs", "-f")])
def test_ctrl_c_while_watching_says_the_run_goes_on(tmp_path: Path, command: tuple[str, ...]) -> None:
    make_files(tmp_path / "data", 200)
    write_spec(tmp_path, mini_batch_size=2, process_count_per_node=1, env={"SLEEP": "0.05"})
    run = start(tmp_path)
    try:
        assert wait_for(tmp_path, 1, run), "the run finished before it could be watched"
        watcher = start(tmp_path, *command, "latest")
        assert watcher.stdout is not None
        watcher.stdout.readline()  # watching has begun
        watcher.send_signal(signal.SIGINT)
        _, err = watcher.communicate(timeout=60)
        assert watcher.returncode == 130, err
        assert err.strip().splitlines()[-1] == "stopped watching; the run goes on (`runner cancel latest` stops it)"
        assert "interrupted" not in err
        assert run.poll() is None, "the run stopped with its watcher"
    finally:
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=60)
