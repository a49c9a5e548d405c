"""The seams' own calls, with the SDK's clients replaced by recorders: the objects they
pass (AmlCompute, AzureBlobDatastore, credentials) are the SDK's real classes. What these
cannot show is Azure's answer: no live workspace is reachable from here."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from azure.ai.ml.entities import AccountKeyConfiguration, AmlCompute, AzureBlobDatastore
from azure.ai.ml.exceptions import JobException
from azure.core.exceptions import ResourceNotFoundError

from runner.azureml.session_v1 import Session
from runner.azureml.session_v2 import SessionV2

COMPUTE = {"name": "cpu-cluster", "vm_size": "STANDARD_D2_V2", "vm_priority": "lowpriority", "min_nodes": 0,
           "max_nodes": 4, "idle_seconds_before_scaledown": 1200}


class Recorder:
    """Any attribute is a callable that records its call and returns `answers[name]`."""

    def __init__(self, **answers: Any) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.answers = answers

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            answer = self.answers.get(name)
            if isinstance(answer, BaseException):
                raise answer
            return answer

        return call


def test_v1_compute_is_reused_when_it_exists() -> None:
    cluster = object()
    ws = SimpleNamespace(compute_targets={"cpu-cluster": cluster})
    assert Session().compute(ws, COMPUTE) is cluster


def test_v1_compute_is_created_and_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from azureml.core.compute import ComputeTarget

    created = Recorder()
    seen: dict[str, Any] = {}

    def create(ws: Any, name: str, config: Any) -> Recorder:
        seen.update(name=name, config=config)
        return created

    monkeypatch.setattr(ComputeTarget, "create", staticmethod(create))
    assert Session().compute(SimpleNamespace(compute_targets={}), COMPUTE) is created
    config = seen["config"]
    assert seen["name"] == "cpu-cluster"
    scale = config.scale_settings
    assert (config.vm_size, config.vm_priority, scale.minimum_node_count, scale.maximum_node_count,
            scale.idle_seconds_before_scaledown) == ("STANDARD_D2_V2", "lowpriority", 0, 4, 1200)
    assert created.calls == [("wait_for_completion", (), {"show_output": True, "min_node_count": None,
                                                          "timeout_in_minutes": 20})]


def test_v1_upload_keeps_what_is_there(tmp_path: Path) -> None:
    store = Recorder()
    Session().upload(store, [str(tmp_path / "a" / "one.png")], str(tmp_path), "runner/a/1")
    assert store.calls == [
        ("upload_files", ([str(tmp_path / "a" / "one.png")],), {"relative_root": str(tmp_path),
                                                                "target_path": "runner/a/1", "overwrite": False,
                                                                "show_progress": False})]


def test_v1_download_reads_the_steps_output() -> None:
    port = Recorder()
    step_run = Recorder(get_output_data=port)
    run = Recorder(find_step_run=[step_run])
    Session().download(run, "predict-digits-mnist", "inferences", "/tmp/x")
    assert run.calls == [("find_step_run", ("predict-digits-mnist",), {})]
    assert step_run.calls == [("get_output_data", ("inferences",), {})]
    assert port.calls == [("download", (), {"local_path": "/tmp/x"})]


def test_v2_compute_is_created_when_missing() -> None:
    compute = Recorder(get=ResourceNotFoundError("no such compute"), begin_create_or_update=Recorder())
    SessionV2().ensure_compute(SimpleNamespace(compute=compute), COMPUTE)
    [get, create] = compute.calls
    assert get == ("get", ("cpu-cluster",), {})
    cluster = create[1][0]
    assert isinstance(cluster, AmlCompute)
    assert (cluster.name, cluster.size, cluster.tier, cluster.min_instances, cluster.max_instances,
            cluster.idle_time_before_scale_down) == ("cpu-cluster", "STANDARD_D2_V2", "low_priority", 0, 4, 1200)


def test_v2_compute_is_reused_when_it_exists() -> None:
    compute = Recorder(get=object())
    SessionV2().ensure_compute(SimpleNamespace(compute=compute), COMPUTE)
    assert [c[0] for c in compute.calls] == ["get"]


def test_v2_datastore_carries_its_credential() -> None:
    datastores = Recorder()
    SessionV2().register_datastore(SimpleNamespace(datastores=datastores), "lake",
                                   {"container_name": "box", "account_name": "acct", "account_key": "k"})
    [(_, (store,), _)] = datastores.calls
    assert isinstance(store, AzureBlobDatastore)
    assert (store.name, store.account_name, store.container_name) == ("lake", "acct", "box")
    assert isinstance(store.credentials, AccountKeyConfiguration) and store.credentials.account_key == "k"


def test_v2_submit_wait_and_download() -> None:
    jobs = Recorder(create_or_update=SimpleNamespace(name="job-1", studio_url="https://ml.azure.com/x"),
                    stream=JobException("the job failed", no_personal_data_message="failed"), get=SimpleNamespace(status="Failed"))
    client = SimpleNamespace(jobs=jobs)
    session = SessionV2()
    submitted = session.submit(client, "the-job", "digits")
    assert session.run_info(submitted) == {"azure_run_id": "job-1", "portal_url": "https://ml.azure.com/x"}
    assert session.wait(client, submitted, None) == "Failed"  # a failed stream is a status, not a crash
    session.download(client, submitted, "inferences", "/tmp/out")
    assert jobs.calls == [("create_or_update", ("the-job",), {"experiment_name": "digits"}),
                          ("stream", ("job-1",), {}), ("get", ("job-1",), {}),
                          ("download", ("job-1",), {"download_path": "/tmp/out", "output_name": "inferences"})]
