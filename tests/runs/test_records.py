"""The run folder's typed records: versioned, atomic, and a clear error (never a
traceback) for a file of another version or a damaged one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.runs.folder import RunFolder, StepFolder, new_run
from runner.runs.records import DamagedFolder, RecordError, RunRecord, StepRecord, StepSummary
from runner.runs.status import EXIT_CODES, ExitCode, Status, exit_code


def test_records_round_trip_with_their_version(tmp_path: Path) -> None:
    run = new_run(tmp_path, "job")
    run.write(RunRecord(id=run.id, name="job", spec="s.yaml", status=Status.RUNNING,
                        steps={"a": StepSummary(Status.SUCCEEDED, "/out")}))
    data = json.loads((run.path / "run.json").read_text())
    assert data["version"] == 2 and data["status"] == "running"
    assert run.read().steps["a"].status is Status.SUCCEEDED
    step = run.step("a")
    assert step.read() == StepRecord("a")  # not started yet: pending
    step.update(status=Status.FAILED, mini_batches=3)
    assert step.read().status is Status.FAILED and step.read().partitioned


def test_an_unknown_field_in_an_update_is_a_programming_error(tmp_path: Path) -> None:
    run = new_run(tmp_path, "job")
    run.write(RunRecord(id=run.id, name="job", spec="s.yaml"))
    with pytest.raises(TypeError):
        run.update(stauts=Status.FAILED)


@pytest.mark.parametrize(("text", "message"), [
    ('{"id": "x", "status": "running"}', "older runner (it has no version)"),
    ('{"version": 7, "id": "x"}', "version 7 of RunRecord"),
    ('{"version": 1, "id": "x"', "cannot be read"),
    ("", "cannot be read"),
    ('{"version": 1, "id": "x", "name": "n", "spec": "s", "status": "exploded"}', "is damaged"),
    ('[1, 2]', "older runner"),
    ('{"version": 1, "id": "x", "name": "n", "spec": "s", "started": null}', "started is null: input should be a valid number"),
    ('{"version": 1, "id": "x", "name": "n", "spec": "s", "steps": []}', "steps is []: input should be an object"),
    ('{"version": 1, "id": "x", "name": "n", "spec": "s", "steps": {"a": 3}}', "is damaged"),
])
def test_a_file_of_another_version_or_damaged_names_itself(tmp_path: Path, text: str, message: str) -> None:
    run = RunFolder(tmp_path / "run-1")
    run.path.mkdir()
    (run.path / "run.json").write_text(text)
    with pytest.raises(RecordError) as info:
        run.read()
    assert str(run.path / "run.json") in str(info.value) and message in str(info.value)


def test_the_cli_says_which_file_is_damaged_and_exits_2(tmp_path: Path) -> None:
    run = new_run(tmp_path / ".runner" / "runs", "job")
    (run.path / "run.json").write_text('{"version": 1, "id": "job"')
    (run.path / "job.json").write_text("{}")
    for command in (["status", run.id], ["results", run.id], ["resume", run.id], ["logs", run.id]):
        shown = subprocess.run([sys.executable, "-m", "runner", *command], cwd=tmp_path, capture_output=True,
                               text=True, timeout=60)
        assert shown.returncode == 2, (command, shown.stderr)
        assert "run.json cannot be read" in shown.stderr and "Traceback" not in shown.stderr


def test_every_final_status_has_one_exit_code() -> None:
    finished = [s for s in Status if s.finished]
    assert set(EXIT_CODES) == set(finished)
    assert exit_code(Status.PREFLIGHT) is ExitCode.USAGE and exit_code(Status.RUNNING) is ExitCode.BACKEND


def test_one_damaged_run_does_not_stop_the_others_being_read(tmp_path: Path) -> None:
    root = tmp_path / ".runner" / "runs"
    good = new_run(root, "good")
    good.write(RunRecord(id=good.id, name="good", spec="s.yaml", status=Status.SUCCEEDED, started=1.0))
    bad = RunFolder(root / "bad-1")
    bad.path.mkdir()
    (bad.path / "run.json").write_text('{"version": 1, "id": "bad-1", "name": "n", "spec": "s", "started": null}')
    listed = subprocess.run([sys.executable, "-m", "runner", "runs"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "bad-1" in listed.stdout and "error" in listed.stdout and "succeeded" in listed.stdout


def test_a_torn_progress_file_is_rebuilt_from_the_ledger(tmp_path: Path) -> None:
    """progress.json is rewritten every second without an fsync: after a machine crash it
    may be empty, and `runner status` still shows the step's numbers (from its ledger)."""
    from tests.local.helpers import cli, make_files, write_spec

    make_files(tmp_path / "data", 6)
    write_spec(tmp_path, mini_batch_size=2)
    run_id = cli("apply", "spec.yaml", cwd=tmp_path).stdout.strip()
    (tmp_path / ".runner" / "runs" / run_id / "score" / "progress.json").write_text("")
    shown = cli("status", run_id, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "mini-batches: 3 succeeded, 0 failed, 0 left of 3" in shown.stdout


@pytest.mark.parametrize("retried", [["x"], [{"attempt": "one", "started": 1.0}], [{"started": 1.0}], {"a": 1}])
def test_a_damaged_retry_record_is_a_clear_error(tmp_path: Path, retried: object) -> None:
    from runner.runs.records import RetryRecord

    step = new_run(tmp_path, "job").step("a")
    step.update(retried=[RetryRecord(attempt=1, started=1.0, code=1, snapshot="abc", changes={"run_max_try": 2})])
    assert step.read().attempt == 1 and step.read().code == 1 and step.read().retried[0].changes == {"run_max_try": 2}
    data = json.loads(Path(step.step_json).read_text())
    data["retried"] = retried
    Path(step.step_json).write_text(json.dumps(data))
    with pytest.raises(RecordError, match="step.json is damaged"):
        step.read()


def _step_file(tmp_path: Path) -> tuple[StepFolder, dict[str, object]]:
    step = new_run(tmp_path, "job").step("a")
    step.update(status=Status.SUCCEEDED, mini_batches=2, parts={"code": "abc"})
    return step, json.loads(Path(step.step_json).read_text())


@pytest.mark.parametrize(("field", "value", "says"), [
    ("parts", {"code": 5}, "parts.code is 5: input should be a valid string"),  # dict[str, str]: values unchecked before
    ("snapshot_files", "many", "snapshot_files is \"many\""),
    ("status", "exploded", "status is \"exploded\""),
    ("mini_batches", True, "mini_batches is true"),
])
def test_a_field_of_the_wrong_type_in_step_json_names_the_file_and_the_field(
        tmp_path: Path, field: str, value: object, says: str) -> None:
    step, data = _step_file(tmp_path)
    Path(step.step_json).write_text(json.dumps({**data, field: value}))
    with pytest.raises(RecordError, match="step.json is damaged") as info:
        step.read()
    assert says in str(info.value) and str(step.step_json) in str(info.value)


def test_a_wrong_type_inside_a_plan_in_job_json_is_damage(tmp_path: Path) -> None:
    """environment_variables: dict[str, str]; a number there reached the worker's environment."""
    from tests.local.helpers import cli, make_files, write_spec

    make_files(tmp_path / "data", 2)
    write_spec(tmp_path)
    run_id = cli("apply", "spec.yaml", cwd=tmp_path).stdout.strip()
    run = RunFolder(tmp_path / ".runner" / "runs" / run_id)
    data = json.loads((run.path / "job.json").read_text())
    data["steps"][0]["environment_variables"] = {"FLAG": 1}
    (run.path / "job.json").write_text(json.dumps(data))
    with pytest.raises(RecordError, match=r"job.json is damaged \(steps.0.environment_variables.FLAG is 1"):
        run.job()


def test_a_missing_field_is_damage_in_a_current_file(tmp_path: Path) -> None:
    """Current files hold every field: one left out would silently read as its default."""
    step, data = _step_file(tmp_path)
    del data["parts"]
    Path(step.step_json).write_text(json.dumps(data))
    with pytest.raises(RecordError, match=r"step.json is damaged \(it has no parts, which version 3 files hold\)"):
        step.read()
    del data["name"]
    Path(step.step_json).write_text(json.dumps(data))
    with pytest.raises(RecordError, match=r"step.json is damaged \(it has no name\)"):
        step.read()


def test_a_future_version_is_refused_naming_the_file(tmp_path: Path) -> None:
    step, data = _step_file(tmp_path)
    Path(step.step_json).write_text(json.dumps({**data, "version": 4}))
    with pytest.raises(RecordError, match=r"step.json is version 4 of StepRecord; this runner reads versions 1 to 3"):
        step.read()


def test_a_version_1_file_is_upgraded_with_what_it_lacks(tmp_path: Path) -> None:
    """Version 1 files gained fields while their version stayed 1: an early step.json has
    no snapshot, parts or retried, an early progress.json no rates or estimate."""
    from runner.runs.records import ProgressRecord, read_record

    step = new_run(tmp_path, "job").step("a")
    Path(step.step_json).parent.mkdir(parents=True, exist_ok=True)
    Path(step.step_json).write_text(json.dumps({
        "name": "a", "status": "failed", "reason": "r", "reused_from": None, "fingerprint": "f", "started": 1.0,
        "mini_batches": 4, "items": 8, "files": 8, "listing": "l", "partition_seconds": 0.5, "version": 1}))
    record = step.read()
    assert record == StepRecord("a", Status.FAILED, "r", None, "f", started=1.0, mini_batches=4, items=8, files=8,
                                listing="l", partition_seconds=0.5)
    assert record.version == 3 and record.attempt == 0 and record.parts == {}
    progress = Path(step.progress)
    progress.write_text(json.dumps({"step": "a", "status": "running", "mini_batches": {"total": 4, "succeeded": 1},
                                    "items": {"total": None}, "rows_written": 1, "version": 1}))
    upgraded = read_record(progress, ProgressRecord)
    assert upgraded.mini_batches.succeeded == 1 and upgraded.items.estimate is None and upgraded.version == 2
    assert upgraded.items_per_second == 0.0
    progress.write_text(json.dumps({"step": "a", "mini_batches": {"total": "4"}, "version": 1}))
    with pytest.raises(RecordError, match=r"progress.json is damaged \(mini_batches.total is \"4\""):
        read_record(progress, ProgressRecord)


def test_a_version_2_step_file_reads_with_no_item_reuse(tmp_path: Path) -> None:
    """Version 3 added an incremental step's fingerprint and item reuse: a version-2
    step.json (every step before) is a step that was not incremental."""
    step, data = _step_file(tmp_path)
    for key in ("incremental", "item_reuse"):
        del data[key]
    Path(step.step_json).write_text(json.dumps({**data, "version": 2}))
    record = step.read()
    assert record.incremental == "" and record.item_reuse is None and record.version == 3


def test_version_1_run_and_job_files_read_as_their_readers_read_them(tmp_path: Path) -> None:
    """An early run.json's step summaries have no output or reused_from; an early job.json's
    plans no row_format, models or secret_env: the upgrade gives them what the readers'
    .get defaults gave them before."""
    run = new_run(tmp_path, "job")
    (run.path / "run.json").write_text(json.dumps({"id": run.id, "name": "job", "spec": "s.yaml", "status": "failed",
                                                   "steps": {"a": {"status": "failed"}}, "version": 1}))
    assert run.read().steps == {"a": StepSummary(Status.FAILED)} and run.read().version == 2
    step = {"name": "a", "source_directory": "/code", "entry_script": "s.py", "inputs": [], "side_inputs": [],
            "output": "out", "append_row_file": "rows.txt", "workers": 2, "node_count": 1, "process_count_per_node": 2,
            "mini_batch": "5 files", "mini_batch_size": 5, "partition_keys": None, "error_threshold": -1,
            "allowed_failed_count": None, "allowed_failed_percent": None, "run_max_try": 3,
            "run_invocation_timeout": 60, "logging_level": "INFO", "arguments": [{"value": "--x"}],
            "environment_variables": {}, "allow_reuse": True, "bindings": {}, "output_action": "append_row"}
    (run.path / "job.json").write_text(json.dumps({"target": "local", "steps": [step], "version": 1}))
    [plan] = run.job().steps
    assert (plan.row_format, plan.models, plan.secret_env, plan.arguments[0].input) == ("text", {}, [], None)
    (run.path / "job.json").write_text(json.dumps({"target": "local", "steps": [{**step, "arguments": [{}]}],
                                                   "version": 1}))
    with pytest.raises(RecordError, match=r"job.json is damaged \(it has no steps.0.arguments.0.value\)"):
        run.job()
    # Version 2 plans have every field but an incremental step's: they were not incremental.
    full = {**step, "arguments": [{"value": "--x", "input": None, "parameter": None, "secret": False}],
            "row_format": "text", "models": {}, "secret_env": []}
    (run.path / "job.json").write_text(json.dumps({"target": "local", "steps": [full], "version": 2}))
    [plan] = run.job().steps
    assert (plan.incremental, plan.reuse_items, run.job().version, run.job().ray) == (False, True, 4, None)


@pytest.mark.parametrize("version", [0, "2", True, None])
def test_a_version_that_never_was_is_damage(tmp_path: Path, version: object) -> None:
    step, data = _step_file(tmp_path)
    Path(step.step_json).write_text(json.dumps({**data, "version": version}))
    with pytest.raises(RecordError, match=r"step.json is damaged \(its version is .*, not one of StepRecord's\)"):
        step.read()


def test_a_link_planted_for_a_records_temporary_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    step = StepFolder(tmp_path / "score")
    step.update(status=Status.RUNNING)
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    planted = step.step_json.with_name(step.step_json.name + ".tmp")
    planted.symlink_to(outside)
    with pytest.raises(DamagedFolder, match=f"run folder damaged: {planted} is a link"):
        step.update(status=Status.SUCCEEDED)
    assert outside.read_text() == "keep me\n" and step.read().status == Status.RUNNING
