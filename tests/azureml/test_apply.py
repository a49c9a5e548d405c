"""`runner apply --target azureml|azureml-v2` through the seams: what is submitted, what is
recorded in the run folder, and that `runner runs/status/results` read Azure runs as
they read local ones. The seams record instead of calling Azure (no live workspace)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from azure.ai.ml.entities import PipelineJob
from azureml.pipeline.steps import ParallelRunStep

from runner import api
from tests.azureml.fakes import RecordingSession, RecordingSessionV2

ROWS = ["0.png: 7", "1.png: 2", "2.png: 1"]


def runner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_v1_apply_submits_waits_downloads_and_records(project: Path) -> None:
    session = RecordingSession(rows=ROWS)
    result = api.apply("specs/mnist.yaml", target="azureml", environ={}, session=session)
    assert (result.status, result.exit_code) == ("succeeded", 0)
    [submit] = [c for c in session.calls if c[0] == "submit"]
    _, experiment, steps, overrides = submit
    assert experiment == "digit_identification" and overrides == {}
    assert [type(s) for s in steps] == [ParallelRunStep]
    assert ("download", "predict-digits-mnist", "inferences") in session.calls
    info = json.loads((result.run.path / "run.json").read_text())
    assert (info["target"], info["status"], info["azure_status"]) == ("azureml", "succeeded", "Finished")
    assert info["azure_run_id"] == "predict-digits-mnist_1700000000_abcd1234"
    output = result.run.path / "predict-digits-mnist" / "outputs" / "inferences" / "mnist_outputs.txt"
    assert output.read_text().splitlines() == ROWS
    assert "pipeline_parameters" in (result.run.path / "pipeline.yaml").read_text()
    # The run commands read it as a local run.
    shown = runner("results", "latest", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == ["mnist_outputs.txt has 3 rows", *ROWS]
    listed = runner("runs", cwd=project)
    assert "succeeded" in listed.stdout and "azureml" in listed.stdout
    status = runner("status", "latest", cwd=project)
    assert "azureml run predict-digits-mnist_1700000000_abcd1234: https://ml.azure.com/runs/" in status.stdout
    logs = runner("logs", "latest", cwd=project)
    assert logs.returncode == 2 and "ran on Azure ML (azureml); its logs are there: https://ml.azure.com" in logs.stderr
    # Followed and watched through the backend seam: what run.json says, then where the logs are.
    followed = runner("logs", "latest", "-f", cwd=project)
    assert followed.returncode == 0, followed.stderr
    assert f"run {result.run.id}: succeeded\n" in followed.stdout
    assert "the logs of Azure ML run predict-digits-mnist_1700000000_abcd1234: https://ml.azure.com" in followed.stdout
    watched = runner("status", "latest", "--watch", cwd=project)
    assert watched.returncode == 0 and watched.stdout == status.stdout
    assert not (result.run.path / "download").exists()


def test_v1_variant_submits_its_parameters(project: Path) -> None:
    session = RecordingSession()
    api.apply("specs/mnist.single-image.yaml", target="azureml", environ={}, session=session)
    [(_, _, _, overrides)] = [c for c in session.calls if c[0] == "submit"]
    assert (overrides["batch_size_param"], overrides["process_count_param"]) == ("1", 1)


def test_a_failed_azure_run_exits_1_and_downloads_nothing(project: Path) -> None:
    session = RecordingSession(status="Failed")
    result = api.apply("specs/mnist.yaml", target="azureml", environ={}, session=session)
    assert (result.status, result.exit_code) == ("failed", 1)
    assert "ended Failed" in result.reason
    assert not any(c[0] == "download" for c in session.calls)
    assert json.loads((result.run.path / "run.json").read_text())["status"] == "failed"


def test_an_sdk_error_is_a_backend_error_recorded_in_the_run(project: Path) -> None:
    class Unreachable(RecordingSession):
        def submit(self, *args: object) -> None:
            raise ConnectionError("HTTPSConnectionPool(host='management.azure.com'): Failed to resolve")

    with pytest.raises(api.BackendError, match="azureml: ConnectionError: HTTPSConnectionPool"):
        api.apply("specs/mnist.yaml", target="azureml", environ={}, session=Unreachable())
    [info] = api.list_runs()
    assert info["status"] == "error" and "Failed to resolve" in info["reason"]
    status = api.status(info["id"])
    assert [s["status"] for s in status["steps"]] == ["error"]
    assert "Traceback" in (project / ".runner" / "runs" / info["id"] / "error.log").read_text()
    with pytest.raises(api.RunError, match="never reached Azure ML"):
        api.resume(info["id"])


def test_azureml_core_errors_keep_their_message(project: Path) -> None:
    from azureml.exceptions import UserErrorException

    from runner.azureml.submit import error_text

    exc = UserErrorException("We could not find config.json in: /tmp/x or in its parent directories.")
    assert str(exc).startswith("UserErrorException:\n")
    assert error_text(exc) == ("UserErrorException: We could not find config.json in: /tmp/x or in its parent "
                               "directories.")
    assert error_text(ValueError("plain")) == "ValueError: plain"


def test_what_would_fail_in_azure_is_refused_before_anything_is_created(project: Path) -> None:
    (project / "entry_scripts" / "digit_identification.py").unlink()
    (project / "models" / "mnist" / "model.keras").unlink()
    (project / "models" / "mnist").rmdir()
    session = RecordingSession()
    with pytest.raises(api.RunError) as caught:
        api.apply("specs/mnist.yaml", target="azureml", environ={}, session=session)
    assert str(caught.value).splitlines() == [
        "cannot submit:",
        "  step predict-digits-mnist: entry script entry_scripts/digit_identification.py does not exist",
        "  model mnist-prs: models/mnist does not exist"]
    assert session.calls == [] and not (project / ".runner").exists()


def test_v2_apply_loads_the_yaml_and_submits_the_job(project: Path) -> None:
    session = RecordingSessionV2(rows=ROWS)
    result = api.apply("specs/mnist.single-image.yaml", target="azureml-v2", environ={}, session=session)
    assert result.status == "succeeded"
    names = [c[0] for c in session.calls]
    assert names == ["client", "existing_max_nodes", "ensure_compute", "register_datastore", "register_model",
                     "submit", "wait", "download"]
    assert session.calls[0] == ("client", {"config": "specs/config.json"})
    assert session.calls[-1] == ("download", "shy_lamp_0a1b2c3d", "inferences")
    [job] = session.jobs
    assert isinstance(job, PipelineJob) and job.experiment_name == "digit_identification"
    job_file = result.run.path / "job.yaml"
    assert stat.S_IMODE(os.stat(job_file).st_mode) == 0o600
    assert (project / ".runner/stage/predict-digits-mnist/single_image/0.png").exists()
    output = result.run.path / "predict-digits-mnist" / "outputs" / "inferences" / "mnist_outputs.txt"
    assert output.read_text().splitlines() == ROWS
    info = json.loads((result.run.path / "run.json").read_text())
    assert (info["target"], info["azure_run_id"], info["azure_status"]) == \
        ("azureml-v2", "shy_lamp_0a1b2c3d", "Completed")


def test_v2_secrets_reach_the_sdk_but_not_the_plan(project: Path) -> None:
    spec = (project / "specs" / "mnist.yaml").read_text().replace(
        "mnist_datastore: {container_name: sampledata, account_name: pipelinedata}",
        'mnist_datastore: {container_name: sampledata, account_name: pipelinedata, account_key: "{{ env.KEY }}"}')
    (project / "specs" / "keyed.yaml").write_text(spec)
    session = RecordingSessionV2()
    result = api.apply("specs/keyed.yaml", target="azureml-v2", environ={"KEY": "k3y-value-123"}, session=session)
    [store] = [c for c in session.calls if c[0] == "register_datastore"]
    assert store[2]["account_key"] == "k3y-value-123"
    for name in ("plan.txt", "run.json", "job.json"):
        assert "k3y-value-123" not in (result.run.path / name).read_text()


def test_ctrl_c_stops_following_and_says_where_the_run_goes_on(project: Path) -> None:
    class Interrupted(RecordingSession):
        def wait(self, run: object, stream: object) -> str:
            raise KeyboardInterrupt

    result = api.apply("specs/mnist.yaml", target="azureml", environ={}, session=Interrupted())
    assert result.status == "interrupted"
    info = json.loads((result.run.path / "run.json").read_text())
    assert info["reason"] == ("stopped following the run; it goes on in Azure ML: "
                              "https://ml.azure.com/runs/predict-digits-mnist_1700000000_abcd1234")
    with pytest.raises(api.RunError, match="was submitted to Azure ML \\(azureml\\), which runs it to the end"):
        api.resume(result.run.id)

    class Early(RecordingSession):
        def workspace(self, spec: dict[str, object]) -> object:
            raise KeyboardInterrupt  # still authenticating

    early = api.apply("specs/mnist.yaml", target="azureml", environ={}, session=Early())
    assert early.status == "interrupted"
    assert early.run.read().reason == "stopped before anything was submitted; apply the spec again"
