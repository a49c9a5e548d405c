"""`runner apply --target azureml|azureml-v2` through the real sessions and SDKs on the
wire (tests/azureml/wire.py): what is recorded in the run folder, and that `runner
runs/status/results/logs` read Azure runs as they read local ones."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from runner import api
from runner.azureml.session_v1 import Session
from runner.azureml.session_v2 import SessionV2
from tests.azureml.service_v1 import ServiceV1, WireAuth
from tests.azureml.service_v2 import ServiceV2, WireCredential
from tests.azureml.wire import Reply, Request, Wire, WireTransport

ROWS = ["0.png: 7", "1.png: 2", "2.png: 1"]


def runner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def v1() -> Session:
    return Session(auth=WireAuth())


def test_v1_apply_records_a_run_the_run_commands_read(project: Path, wire: Wire) -> None:
    ServiceV1(wire)
    result = api.apply("specs/mnist.yaml", target="azureml", environ={}, session=v1())
    assert (result.status, result.exit_code) == ("succeeded", 0)
    info = json.loads((result.run.path / "run.json").read_text())
    assert (info["target"], info["status"], info["azure_status"]) == ("azureml", "succeeded", "Finished")
    run_id, url = info["azure_run_id"], info["portal_url"]
    assert "pipeline_parameters" in (result.run.path / "pipeline.yaml").read_text()
    shown = runner("results", "latest", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == ["mnist_outputs.txt has 3 rows", *ROWS]
    listed = runner("runs", cwd=project)
    assert "succeeded" in listed.stdout and "azureml" in listed.stdout
    status = runner("status", "latest", cwd=project)
    assert f"azureml run {run_id}: {url}" in status.stdout
    logs = runner("logs", "latest", cwd=project)
    assert logs.returncode == 2 and f"ran on Azure ML (azureml); its logs are there: {url}" in logs.stderr
    # Followed and watched through the backend seam: what run.json says, then where the logs are.
    followed = runner("logs", "latest", "-f", cwd=project)
    assert followed.returncode == 0, followed.stderr
    assert f"run {result.run.id}: succeeded\n" in followed.stdout
    assert f"the logs of Azure ML run {run_id}: {url}" in followed.stdout
    watched = runner("status", "latest", "--watch", cwd=project)
    assert watched.returncode == 0 and watched.stdout == status.stdout
    assert not (result.run.path / "download").exists()


def test_an_unreachable_service_is_a_backend_error_recorded_in_the_run(project: Path, wire: Wire) -> None:
    ServiceV1(wire)

    def unreachable(request: Request) -> Reply | None:
        if request.path.endswith("/PipelineRuns/Unsubmitted/CreationInfoWithGraph"):
            raise requests.ConnectionError("HTTPSConnectionPool(host='westeurope.api.azureml.ms'): Failed to resolve")
        return None

    wire.faults.append(unreachable)
    with pytest.raises(api.BackendError, match="azureml: ClientRequestError: .*ConnectionError: HTTPSConnectionPool"):
        api.apply("specs/mnist.yaml", target="azureml", environ={}, session=v1())
    [info] = api.list_runs()
    assert info.status == "error" and "Failed to resolve" in info.reason
    status = api.status(info.id)
    assert [s.status for s in status.steps] == ["error"]
    assert "Traceback" in (project / ".runner" / "runs" / info.id / "error.log").read_text()
    with pytest.raises(api.RunError, match="never reached Azure ML"):
        api.resume(info.id)


def test_azureml_core_errors_keep_their_message(project: Path) -> None:
    from azureml.exceptions import UserErrorException

    from runner.azureml.submit import error_text

    exc = UserErrorException("We could not find config.json in: /tmp/x or in its parent directories.")
    assert str(exc).startswith("UserErrorException:\n")
    assert error_text(exc) == ("UserErrorException: We could not find config.json in: /tmp/x or in its parent "
                               "directories.")
    assert error_text(ValueError("plain")) == "ValueError: plain"


def test_what_would_fail_in_azure_is_refused_before_anything_is_sent(project: Path, wire: Wire) -> None:
    ServiceV1(wire)
    (project / "entry_scripts" / "digit_identification.py").unlink()
    (project / "models" / "mnist" / "model.keras").unlink()
    (project / "models" / "mnist").rmdir()
    with pytest.raises(api.RunError) as caught:
        api.apply("specs/mnist.yaml", target="azureml", environ={}, session=v1())
    assert str(caught.value).splitlines() == [
        "cannot submit:",
        "  step predict-digits-mnist: entry script entry_scripts/digit_identification.py does not exist",
        "  model mnist-prs: models/mnist does not exist"]
    assert wire.requests == [] and not (project / ".runner").exists()


def test_v2_apply_records_the_job_file_and_the_staged_input(project: Path, wire: Wire) -> None:
    ServiceV2(wire)
    result = api.apply("specs/mnist.single-image.yaml", target="azureml-v2", environ={},
                       session=SessionV2(credential=WireCredential(), transport=WireTransport(wire)))
    assert result.status == "succeeded"
    job_file = result.run.path / "job.yaml"
    assert stat.S_IMODE(os.stat(job_file).st_mode) == 0o600
    assert (project / ".runner/stage/predict-digits-mnist/single_image/0.png").exists()
    output = result.run.path / "predict-digits-mnist" / "outputs" / "inferences" / "mnist_outputs.txt"
    assert output.read_text().splitlines() == ROWS
    info = json.loads((result.run.path / "run.json").read_text())
    assert (info["target"], info["azure_status"]) == ("azureml-v2", "Completed")


def test_v2_secrets_reach_the_service_but_not_the_run_folder(project: Path, wire: Wire) -> None:
    ServiceV2(wire)
    spec = (project / "specs" / "mnist.yaml").read_text().replace(
        "mnist_datastore: {container_name: sampledata, account_name: pipelinedata}",
        'mnist_datastore: {container_name: sampledata, account_name: pipelinedata, account_key: "{{ env.KEY }}"}')
    (project / "specs" / "keyed.yaml").write_text(spec)
    result = api.apply("specs/keyed.yaml", target="azureml-v2", environ={"KEY": "k3y-value-123"},
                       session=SessionV2(credential=WireCredential(), transport=WireTransport(wire)))
    [store] = wire.bodies("PUT", "/datastores/mnist_datastore$")
    assert store["properties"]["credentials"]["secrets"]["key"] == "k3y-value-123"
    for name in ("plan.txt", "run.json", "job.json"):
        assert "k3y-value-123" not in (result.run.path / name).read_text()


def interrupt_at(wire: Wire, suffix: str) -> None:
    """Ctrl-C while the SDK waits on a request whose path ends with `suffix`."""
    def fault(request: Request) -> Reply | None:
        if request.path.endswith(suffix):
            raise KeyboardInterrupt
        return None

    wire.faults.append(fault)


def test_ctrl_c_stops_following_and_says_where_the_run_goes_on(project: Path, wire: Wire) -> None:
    service = ServiceV1(wire)
    service.running_reads = 10
    interrupt_at(wire, "/details")  # following the submitted run
    result = api.apply("specs/mnist.yaml", target="azureml", environ={}, session=v1())
    assert result.status == "interrupted"
    info = json.loads((result.run.path / "run.json").read_text())
    assert info["reason"] == f"stopped following the run; it goes on in Azure ML: {info['portal_url']}"
    assert info["portal_url"].startswith("https://ml.azure.com/runs/")
    with pytest.raises(api.RunError, match="was submitted to Azure ML \\(azureml\\), which runs it to the end"):
        api.resume(result.run.id)


def test_ctrl_c_before_anything_is_submitted(project: Path, wire: Wire) -> None:
    ServiceV1(wire)
    interrupt_at(wire, "/subscriptions")  # still authenticating
    early = api.apply("specs/mnist.yaml", target="azureml", environ={}, session=v1())
    assert early.status == "interrupted"
    assert early.run.read().reason == "stopped before anything was submitted; apply the spec again"
