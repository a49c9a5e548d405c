"""`runner status RUN` and `runner cancel RUN` for an Azure run, on the wire: the state
read from the service (the run found again by its id) and the cancel request the SDK
sends, through the real sessions and SDKs."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from runner import api
from runner.azureml.session_v1 import Session
from runner.azureml.session_v2 import SessionV2
from tests.azureml.service_v1 import ServiceV1, WireAuth
from tests.azureml.service_v2 import ServiceV2, WireCredential
from tests.azureml.wire import Reply, Request, Wire, WireTransport


def following_stopped(wire: Wire, project: Path, skip: int = 0) -> None:
    """Ctrl-C at the first status read (after `skip` of them) once the run was recorded
    as submitted."""
    left = [skip]

    def fault(request: Request) -> Reply | None:
        polled = request.method == "GET" and (re.search(r"/PipelineRuns/[^/]+$", request.path)
                                              or request.path.endswith("/details"))
        submitted = any(json.loads(p.read_text()).get("azure_run_id")
                        for p in (project / ".runner" / "runs").glob("*/run.json"))
        if polled and submitted and left[0]:
            left[0] -= 1
        elif polled and submitted:
            wire.faults.remove(fault)
            raise KeyboardInterrupt
        return None

    wire.faults.append(fault)


@pytest.mark.parametrize("target", ["azureml", "azureml-v2"])
def test_status_reads_the_service_and_cancel_cancels_there(project: Path, wire: Wire, target: str) -> None:
    service: Any = ServiceV1(wire) if target == "azureml" else ServiceV2(wire)
    service.running_reads = 1000  # it runs until canceled

    def session() -> Any:
        if target == "azureml":
            return Session(auth=WireAuth())
        return SessionV2(credential=WireCredential(), transport=WireTransport(wire))

    following_stopped(wire, project)
    result = api.apply("specs/mnist.yaml", target=target, environ={}, session=session())
    assert result.status == "interrupted"
    run_id = json.loads((result.run.path / "run.json").read_text())["azure_run_id"]
    shown = api.status(result.run.id, session=session())
    assert (shown.status, shown.azure_status) == ("running", "Running")
    said = api.cancel(result.run.id, session=session())
    assert said.startswith(f"canceled Azure ML run {run_id} ({target})")
    assert service.canceled == [run_id]
    record = json.loads((result.run.path / "run.json").read_text())
    assert (record["status"], record["azure_status"]) == ("canceled", "Canceled")


def test_v1_ctrl_c_while_the_sdk_prints_the_run_stays_a_ctrl_c(project: Path, wire: Wire) -> None:
    """With a stream (the CLI's), wait_for_completion prints the run's progress and turns
    Ctrl-C into its own ExperimentExecutionException: still an interrupted apply."""
    service = ServiceV1(wire)
    service.running_reads = 1000
    following_stopped(wire, project, skip=1)  # the first read is before the SDK's try
    result = api.apply("specs/mnist.yaml", target="azureml", environ={}, session=Session(auth=WireAuth()),
                       stream=io.StringIO())
    assert result.status == "interrupted"
    assert result.run.read().reason.startswith("stopped following the run; it goes on in Azure ML: https://")
