"""What the commands that report on runs say (issue items 8-10, 12): apply names its run
first; a run that succeeded with failures says how many, the first error and where they
are listed; `runs` has a header, durations and a spec filter; `results` of an
unfinished run says its rows are partial; `status` of a finished run its times."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.faults.test_crashes import start, wait_for
from tests.local.helpers import cli, make_files, output_rows, run_folder, write_spec


def test_a_success_with_failures_says_how_many_the_first_error_and_where(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 12)
    write_spec(tmp_path, mini_batch_size=2, run_max_try=1, env={"FAULT": "raise", "FAULT_ON": "f0004.txt"})
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr  # within the thresholds
    run_id = applied.stdout.strip()
    manifest = run_folder(tmp_path, run_id) / "score" / "failed_items.jsonl"
    for said in (applied.stderr, cli("status", run_id, cwd=tmp_path).stdout):
        assert "2 items and 1 mini-batch failed, within the thresholds" in said, said
        assert "the first error: " in said and f"listed in {manifest}" in said, said
    listed = cli("runs", cwd=tmp_path).stdout.splitlines()
    assert listed[0].split() == ["RUN", "STATUS", "TARGET", "STARTED", "DURATION", "SPEC"], listed
    assert len(listed) == 2 and "succeeded (2 failed items)" in listed[1], listed
    assert listed[1].split()[-2].count(":") == 1 and listed[1].endswith("spec.yaml"), listed  # a duration, m:ss


def test_runs_of_a_spec_only(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 2)
    write_spec(tmp_path)
    write_spec(tmp_path, name="other.yaml")
    first = cli("apply", "spec.yaml", cwd=tmp_path).stdout.strip()
    other = cli("apply", "other.yaml", cwd=tmp_path).stdout.strip()

    def ids(*args: str, cwd: Path = tmp_path) -> list[str]:
        return [line.split()[0] for line in cli("runs", *args, cwd=cwd).stdout.splitlines()[1:]]

    assert ids("--spec", "spec.yaml") == ids("--spec", str(tmp_path / "spec.yaml")) == [first]
    sub = tmp_path / "sub"
    sub.mkdir()
    assert ids("--spec", "../other.yaml", cwd=sub) == [other]
    assert ids("--spec", "other.yaml", "--spec", "spec.yaml") == [first, other]
    none = cli("runs", "--spec", "nope.yaml", cwd=tmp_path)
    assert none.returncode == 0 and none.stdout == "" and "no runs of nope.yaml" in none.stderr, none.stderr


def test_status_of_a_finished_run_says_when_it_started_and_ended(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 2)
    write_spec(tmp_path)
    run_id = cli("apply", "spec.yaml", cwd=tmp_path).stdout.strip()
    line = cli("status", run_id, cwd=tmp_path).stdout.splitlines()[1]
    assert line.startswith("  started 20") and ", ended 20" in line and ", took 0:" in line, line


def test_results_of_an_unfinished_run_say_they_are_partial(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 200)
    write_spec(tmp_path, mini_batch_size=2, process_count_per_node=1, env={"SLEEP": "0.05"})
    run = start(tmp_path)
    try:
        assert wait_for(tmp_path, 2, run), "the run finished before its results could be read"
        shown = cli("results", "latest", cwd=tmp_path).stdout.splitlines()[0]
        assert shown.endswith(" (partial: run is running)"), shown
    finally:
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=60)
    shown = cli("results", "latest", cwd=tmp_path).stdout.splitlines()[0]
    assert shown.startswith("parallel_run_step.txt has ") and shown.endswith(" (partial: run interrupted)"), shown


def test_apply_names_the_run_first_with_its_commands(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 2)
    write_spec(tmp_path)
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    run_id = applied.stdout.strip()
    assert applied.stderr.splitlines()[:4] == [f"run {run_id}; from any terminal:",
                                               f"  runner status {run_id} --watch", f"  runner logs {run_id} -f",
                                               f"  runner cancel {run_id}"], applied.stderr
    # the way on, on a line of its own (a long id never broken by an 80-column wrap)
    assert applied.stderr.splitlines()[-3:] == [f"run {run_id} succeeded", "its output:", f"  runner results {run_id}"]


def test_apply_no_reuse_runs_a_step_allow_reuse_would_reuse(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 4)
    write_spec(tmp_path, step={"allow_reuse": True})
    first = cli("apply", "spec.yaml", cwd=tmp_path).stdout.strip()
    reused = cli("apply", "spec.yaml", cwd=tmp_path)
    assert f"reused the output of run {first}" in reused.stderr and "--no-reuse" in reused.stderr, reused.stderr
    again = cli("apply", "spec.yaml", "--no-reuse", cwd=tmp_path)
    assert again.returncode == 0 and "reused" not in again.stderr, again.stderr
    step = json.loads((run_folder(tmp_path, again.stdout.strip()) / "score" / "step.json").read_text())
    assert step["status"] == "succeeded" and step["reused_from"] is None
    assert output_rows(tmp_path, again.stdout.strip()) != []
