"""`runner retry` at the command line: what it refuses, with which exit code and words."""

from __future__ import annotations

from pathlib import Path

from runner.runs.folder import RunFolder
from runner.runs.records import JobRecord, RunRecord
from runner.runs.status import Status
from tests.local.helpers import cli


def test_retry_of_an_azure_run_says_it_is_not_supported_yet(tmp_path: Path) -> None:
    folder = tmp_path / ".runner" / "runs" / "job-20260101-000000"
    folder.mkdir(parents=True)
    run = RunFolder(folder)
    run.write(RunRecord(id=run.id, name="job", spec="spec.yaml", target="azureml-v2", status=Status.FAILED,
                        started=1.0, finished=2.0, azure_run_id="job_abc", portal_url="https://ml.azure.com/runs/abc"))
    run.write_job(JobRecord("azureml-v2", []))
    result = cli("retry", run.id, cwd=tmp_path)
    assert result.returncode == 2, result.stderr  # as `runner resume` of an Azure run: what it cannot do is exit 2
    assert "retry of Azure ML runs (azureml-v2) is not supported yet" in result.stderr
    assert "manifest: true" in result.stderr and "Traceback" not in result.stderr


def test_retry_of_no_such_run_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("retry", "nope", cwd=tmp_path)
    assert result.returncode == 2 and "no run" in result.stderr, result.stderr


def test_retry_help_names_its_options() -> None:
    result = cli("retry", "--help", cwd=Path.cwd())
    assert result.returncode == 0
    for option in ("--update-code", "--set", "--set-param", "run_invocation_timeout"):
        assert option in result.stdout
