"""`runner cancel RUN` and `runner status RUN` for Azure runs, through the Backend seam and
the session (issue 13): the service's cancel (PipelineRun.cancel, jobs.begin_cancel),
recorded as canceled; the service's state read by `status` and recorded in run.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner import api
from runner.runs.display import status_lines
from tests.azureml.fakes import RecordingSession, RecordingSessionV2


def interrupted(session_class: type, target: str) -> tuple[Any, Any]:
    """An applied run whose apply stopped following it (Ctrl-C): it goes on in Azure ML."""

    class Interrupted(session_class):  # type: ignore[misc,valid-type]
        def wait(self, *args: object) -> str:
            raise KeyboardInterrupt

    result = api.apply("specs/mnist.yaml", target=target, environ={}, session=Interrupted())
    assert result.status == "interrupted"
    return result, json.loads((result.run.path / "run.json").read_text())


@pytest.mark.parametrize(("session_class", "target", "run_id"),
                         [(RecordingSession, "azureml", "predict-digits-mnist_1700000000_abcd1234"),
                          (RecordingSessionV2, "azureml-v2", "shy_lamp_0a1b2c3d")])
def test_cancel_cancels_in_azure_and_records_canceled(project: Path, session_class: type, target: str,
                                                      run_id: str) -> None:
    result, info = interrupted(session_class, target)
    session = session_class()
    said = api.cancel(result.run.id, session=session)
    assert said.startswith(f"canceled Azure ML run {info['azure_run_id']} ({target})")
    # Found again by its id and experiment, in the workspace the run went to (the same verbs on both SDKs).
    assert session.calls == [("workspace", {"config": str(project / "specs" / "config.json")}),
                             ("cancel", "digit_identification", run_id)]
    record = json.loads((result.run.path / "run.json").read_text())
    assert (record["status"], record["azure_status"]) == ("canceled", "Canceled")
    assert api.status(result.run.id, session=session).steps[0].status == "canceled"
    with pytest.raises(api.RunError, match="has already ended \\(canceled\\); nothing to cancel"):
        api.cancel(result.run.id, session=session_class())


def test_cancel_that_fails_in_azure_is_a_backend_error_and_changes_nothing(project: Path) -> None:
    result, _ = interrupted(RecordingSession, "azureml")

    class Refused(RecordingSession):
        def cancel(self, ws: Any, experiment: str, run_id: str) -> None:
            raise PermissionError("AuthorizationFailed: no write access to the workspace")

    with pytest.raises(api.BackendError, match="cancelling Azure ML run predict-digits-mnist_1700000000_abcd1234 "
                                               "failed: PermissionError: AuthorizationFailed"):
        api.cancel(result.run.id, session=Refused())
    assert json.loads((result.run.path / "run.json").read_text())["status"] == "interrupted"


def test_a_canceled_run_that_is_followed_ends_canceled(project: Path) -> None:
    """The applying process sees the run end Canceled (by `runner cancel` or the studio)."""
    result = api.apply("specs/mnist.yaml", target="azureml", environ={}, session=RecordingSession(ends="Canceled"))
    assert (result.status, result.exit_code) == ("canceled", 130)
    assert "ended Canceled" in result.reason


@pytest.mark.parametrize(("session_class", "target"), [(RecordingSession, "azureml"),
                                                       (RecordingSessionV2, "azureml-v2")])
def test_status_reads_the_state_from_azure_and_records_it(project: Path, session_class: type, target: str) -> None:
    result, info = interrupted(session_class, target)
    running = session_class(service_status="Running")
    shown = api.status(result.run.id, session=running)
    assert any(c[0] == "status" for c in running.calls)
    assert shown.status == "running" and shown.azure_status == "Running"
    assert shown.reason == "runner is no longer following it; it goes on in Azure ML"
    assert json.loads((result.run.path / "run.json").read_text())["azure_status"] == "Running"
    failed = session_class(service_status="Failed")
    shown = api.status(result.run.id, session=failed)
    assert shown.status == "failed" and shown.reason == f"Azure ML run {info['azure_run_id']} ended Failed"
    record = json.loads((result.run.path / "run.json").read_text())
    assert (record["status"], record["azure_status"]) == ("failed", "Failed")
    ended = session_class()
    api.status(result.run.id, session=ended)
    assert ended.calls == []  # an ended run is not asked again


def test_status_without_the_service_says_so_and_shows_the_record(project: Path) -> None:
    result, _ = interrupted(RecordingSession, "azureml")

    class Offline(RecordingSession):
        def status(self, ws: Any, experiment: str, run_id: str) -> str:
            raise ConnectionError("Failed to resolve 'management.azure.com'")

    shown = api.status(result.run.id, session=Offline())
    assert shown.status == "interrupted"
    assert "  not refreshed from Azure ML: ConnectionError: Failed to resolve 'management.azure.com'" in \
        status_lines(shown)
