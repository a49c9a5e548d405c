"""Unhappy paths on the wire: the service's error answers (401, 403, 404, 409, 429, 500),
runs that end Failed or Canceled, a download that fails. Each through the real sessions
and SDKs: a clear message, the documented exit code (README: 1 the job failed, 3 a
backend error, 130 canceled), and a run folder that `runner status` reads."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from runner import api
from runner.azureml.session_v1 import Session
from runner.azureml.session_v2 import SessionV2
from runner.runs.status import ExitCode, Status, exit_code
from tests.azureml.service_v1 import ARM, ServiceV1, WireAuth
from tests.azureml.service_v2 import ServiceV2, WireCredential
from tests.azureml.wire import Wire, WireTransport, fail


def v1(spec: str = "specs/mnist.yaml") -> api.RunResult:
    return api.apply(spec, target="azureml", environ={}, session=Session(auth=WireAuth()))


def v2(wire: Wire, spec: str = "specs/mnist.yaml") -> api.RunResult:
    return api.apply(spec, target="azureml-v2", environ={},
                     session=SessionV2(credential=WireCredential(), transport=WireTransport(wire)))


def status_of(project: Path) -> tuple[int, dict[str, object]]:
    """`runner status latest` in another process: its exit code and run.json."""
    shown = subprocess.run([sys.executable, "-m", "runner", "status", "latest"], cwd=project, capture_output=True,
                           text=True, timeout=60)
    [run] = sorted((project / ".runner" / "runs").iterdir())[-1:]
    return shown.returncode, json.loads((run / "run.json").read_text())


def backend_error(call: object) -> str:
    with pytest.raises(api.BackendError) as caught:
        call()  # type: ignore[operator]
    assert exit_code(Status.ERROR) == ExitCode.BACKEND
    return str(caught.value)


def test_v1_expired_credentials_401(project: Path, wire: Wire) -> None:
    ServiceV1(wire)
    wire.faults.append(fail("GET", "^/subscriptions$", 401, "The access token expiry UTC time is earlier than "
                            "current UTC time.", code="ExpiredAuthenticationToken"))
    message = backend_error(v1)
    assert message.startswith("azureml: ClientAuthenticationError: The access token expiry UTC time is earlier")
    assert "the whole error:" in message
    code, info = status_of(project)
    assert info["status"] == "error" and info["reason"]
    assert code in (0, 3)


def test_v2_forbidden_403_on_submit(project: Path, wire: Wire) -> None:
    ServiceV2(wire)
    wire.faults.append(fail("PUT", f"^{ARM}/jobs/", 403, "The client does not have authorization to perform "
                            "action 'Microsoft.MachineLearningServices/workspaces/jobs/write'.",
                            code="AuthorizationFailed"))
    message = backend_error(lambda: v2(wire))
    assert "does not have authorization" in message
    _, info = status_of(project)
    assert info["status"] == "error" and "does not have authorization" in str(info["reason"])


def test_v2_a_missing_compute_404_is_created(project: Path, wire: Wire) -> None:
    service = ServiceV2(wire)
    service.computes.clear()
    result = v2(wire)
    assert result.status == "succeeded", result.note
    [created] = wire.bodies("PUT", f"^{ARM}/computes/cpu-cluster$")
    cluster = created["properties"]["properties"]
    scale = cluster["scaleSettings"]
    assert (created["properties"]["computeType"], cluster["vmSize"], cluster["vmPriority"]) == \
        ("AmlCompute", "STANDARD_D2_V2", "Dedicated")
    assert (scale["minNodeCount"], scale["maxNodeCount"]) == (0, 4)


def test_v1_a_conflict_409(project: Path, wire: Wire) -> None:
    ServiceV1(wire)
    wire.faults.append(fail("POST", "/datastores$", 409, "A datastore named mnist_datastore exists with other "
                            "settings.", code="Conflict"))
    message = backend_error(v1)
    assert "(Conflict) A datastore named mnist_datastore exists with other settings." in message
    _, info = status_of(project)
    assert info["status"] == "error"


def test_v2_throttled_429_is_retried_after_what_the_service_says(project: Path, wire: Wire) -> None:
    ServiceV2(wire)
    wire.faults.append(fail("PUT", f"^{ARM}/jobs/", 429, "Too many requests", code="TooManyRequests", times=1,
                            headers={"Retry-After": "1"}))
    result = v2(wire)
    assert result.status == "succeeded", result.note
    assert len(wire.calls(f"^{ARM}/jobs/[^/]+$")) >= 2
    assert [r.method for r in wire.requests if r.path.startswith(f"{ARM}/jobs/")][:2] == ["PUT", "PUT"]


def test_v2_a_server_error_500(project: Path, wire: Wire) -> None:
    ServiceV2(wire)
    wire.faults.append(fail("PUT", f"^{ARM}/jobs/", 500, "Internal server error", code="InternalServerError"))
    message = backend_error(lambda: v2(wire))
    assert message.startswith("azureml-v2: HttpResponseError: Internal server error")
    _, info = status_of(project)
    assert info["status"] == "error" and not info.get("azure_run_id")


def test_v1_a_run_that_fails_exits_1_and_downloads_nothing(project: Path, wire: Wire) -> None:
    service = ServiceV1(wire)
    service.final_status = "Failed"
    result = v1()
    assert (result.status, result.exit_code) == ("failed", 1)
    assert "ended Failed" in result.steps[0].reason
    assert not [r for r in wire.requests if "/azureml/" in r.path and r.method == "GET" and ".blob." in r.url]
    code, info = status_of(project)
    assert info["status"] == "failed" and code in (0, 1)


def test_v2_a_canceled_job_exits_130(project: Path, wire: Wire) -> None:
    service = ServiceV2(wire)
    service.final_status = "Canceled"
    result = v2(wire)
    assert result.status == "canceled" and result.exit_code == 130
    _, info = status_of(project)
    assert info["status"] == "canceled"


def test_v1_a_download_that_fails(project: Path, wire: Wire, monkeypatch: pytest.MonkeyPatch) -> None:
    # azureml-core swallows a failed blob download: it logs "Task Exception" with a format
    # error, which logging reports on stderr and goes on from (pytest's capture would raise).
    monkeypatch.setattr(logging, "raiseExceptions", False)
    ServiceV1(wire)
    wire.faults.append(fail("GET", r"^/azureml-blobstore-ws/azureml/.+/mnist_outputs\.txt$", 403,
                            "This request is not authorized to perform this operation.",
                            code="AuthorizationFailure"))
    message = backend_error(v1)
    assert ("AzureError: downloaded 0 of the 1 files of step predict-digits-mnist's output 'inferences': blob "
            "storage refused or failed the others") in message
    _, info = status_of(project)
    assert info["status"] == "error" and info["azure_run_id"]
