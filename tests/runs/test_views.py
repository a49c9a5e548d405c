"""What `runner status --json` and `runner runs --json` print: the typed views
(runner/runs/views.py) serialised, checked against the JSON Schemas committed in schema/
(`runner schema` writes them), with the field names scripts read."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from runner.runs.records import RetryRecord, RunRecord, StepRecord, StepSummary
from runner.runs.status import Status
from runner.runs.views import (RUNS_SCHEMA_FILE, STATUS_SCHEMA_FILE, CodeVersion, ProgressView, RunSummary, RunView,
                               ServiceState, StepView, runs_json, runs_schema, status_json, status_schema)
from runner.spec.schema import dumps
from tests.conftest import ROOT
from tests.local.helpers import cli, make_files, write_spec


def _committed(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((ROOT / "schema" / name).read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize(("name", "build"), [(STATUS_SCHEMA_FILE, status_schema), (RUNS_SCHEMA_FILE, runs_schema)])
def test_committed_schema_is_current(name: str, build) -> None:
    committed = (ROOT / "schema" / name).read_text(encoding="utf-8")
    assert committed == dumps(build()), f"schema/{name} is stale: run `runner schema` (or `make schema`)"


def test_a_runs_status_and_the_list_of_runs_satisfy_their_schemas(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 6)
    write_spec(tmp_path, mini_batch_size=2)
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    run_id = applied.stdout.strip()
    status = json.loads(cli("status", run_id, "--json", cwd=tmp_path).stdout)
    jsonschema.validate(status, _committed(STATUS_SCHEMA_FILE))
    # The names scripts read today.
    [step] = status["steps"]
    assert (status["id"], status["status"], status["target"], status["version"]) == (run_id, "succeeded", "local", 1)
    assert (step["name"], step["status"], step["mini_batches"], step["items"]) == ("score", "succeeded", 3, 6)
    assert step["progress"]["items"] == {"total": 6, "succeeded": 6, "failed": 0, "estimate": None}
    assert step["code_versions"] == [] and status["note"] == ""
    runs = json.loads(cli("runs", "--json", cwd=tmp_path).stdout)
    jsonschema.validate(runs, _committed(RUNS_SCHEMA_FILE))
    assert [(r["id"], r["steps"]["score"]["status"]) for r in runs] == [(run_id, "succeeded")]


def _retried_step() -> StepView:
    record = StepRecord("score", Status.SUCCEEDED, retried=[RetryRecord(1, 5.0, 1, "b" * 64, {"timeout": 90})])
    versions = (CodeVersion(0, "a" * 64, (0,), 3, 30), CodeVersion(1, "b" * 64, (1,), 1, 10))
    return StepView.of(record, Status.SUCCEEDED, ProgressView("score", Status.SUCCEEDED), versions)


def test_a_retried_step_and_an_azure_run_satisfy_the_schema() -> None:
    record = RunRecord("r", "n", "spec.yaml", target="azureml", status=Status.INTERRUPTED, chain=["spec.yaml"],
                       parameters={"batch": 4, "when": "x"}, azure_run_id="az-1", portal_url="https://ml.azure.com/r",
                       azure_status="Running", steps={"score": StepSummary(Status.SUCCEEDED, "out", None)})
    view = RunView.of(record, (_retried_step(),), ServiceState(Status.RUNNING, "goes on in Azure ML", "a note"))
    printed = json.loads(status_json(view))
    jsonschema.validate(printed, status_schema())
    assert printed["steps"][0]["code_versions"][1] == {"code": 1, "snapshot": "b" * 64, "attempts": [1],
                                                       "mini_batches": 1, "rows": 10}
    assert printed["steps"][0]["retried"][0]["changes"] == {"timeout": 90}
    listed = json.loads(runs_json([RunSummary.of(record)]))
    jsonschema.validate(listed, runs_schema())
    assert listed[0]["steps"] == {"score": {"status": "succeeded", "output": "out", "reused_from": None}}


def test_a_services_word_shows_on_the_run_and_each_step() -> None:
    record = RunRecord("r", "n", "spec.yaml", status=Status.INTERRUPTED, reason="the driver stopped")
    view = RunView.of(record, (_retried_step(),), ServiceState(Status.RUNNING, "runner is no longer following it"))
    assert (view.status, view.reason) == (Status.RUNNING, "runner is no longer following it")
    assert [(s.status, s.reason) for s in view.steps] == [(Status.RUNNING, "")]
    unreachable = RunView.of(record, (), ServiceState(note="not refreshed from Azure ML: offline"))
    assert (unreachable.status, unreachable.note) == (Status.INTERRUPTED, "not refreshed from Azure ML: offline")


def test_a_field_the_schema_does_not_know_is_refused() -> None:
    printed = json.loads(status_json(RunView("r", "n", "spec.yaml")))
    jsonschema.validate(printed, status_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**printed, "extra": 1}, status_schema())
    del printed["note"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(printed, status_schema())


def test_a_secret_an_older_retry_recorded_is_never_shown() -> None:
    retry = RetryRecord(1, 0.0, changes={"environment_variables.API_TOKEN": "s3cr3t-value", "run_max_try": 3,
                                         "environment_variables.DB": "postgres://me:hunter22@db/x"})
    view = StepView.of(StepRecord("score", Status.SUCCEEDED, retried=[retry]), Status.SUCCEEDED, None, ())
    assert view.retried[0].changes == {"environment_variables.API_TOKEN": "***", "run_max_try": 3,
                                       "environment_variables.DB": "***"}
