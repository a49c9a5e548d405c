"""What the wire tests (test_wire_*.py) do not reach: creating a v1 cluster, where the
SDK's ComputeTarget.create is replaced by a recorder (the provisioning configuration is
the SDK's real class); that every session, real or recording, is what the backends
take (the protocols in runner/azureml/sessions.py); and that both targets submit through
the same verbs in the same order. Everything else the sessions do runs on the wire."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from runner import api
from runner.azureml.session_v1 import Session
from runner.azureml.session_v2 import SessionV2
from runner.azureml.sessions import ComputeSpec, Session as SessionProtocol, V1Session, V2Session
from tests.azureml.fakes import RecordingSession, RecordingSessionV2

COMPUTE: ComputeSpec = {"name": "cpu-cluster", "vm_size": "STANDARD_D2_V2", "vm_priority": "lowpriority", "min_nodes": 0,
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


def test_every_session_is_of_its_sdks_kind() -> None:
    """mypy checks these assignments (`mypy tests/azureml/fakes.py tests/azureml/test_sessions.py`);
    the facade checks the kind at run time, so a v2 session given to a v1 target is refused
    before anything is planned, not deep in a submission."""
    sessions_v1: list[V1Session] = [Session(), RecordingSession()]
    sessions_v2: list[V2Session] = [SessionV2(), RecordingSessionV2()]
    for v1 in sessions_v1:
        assert isinstance(v1, V1Session) and not isinstance(v1, V2Session)
        assert type(api.backend_for("azureml", session=v1)).__name__ == "AzureMLBackend"
        with pytest.raises(TypeError, match="target azureml-v2 needs an SDK v2 session"):
            api.backend_for("azureml-v2", session=v1)
    for v2 in sessions_v2:
        assert isinstance(v2, V2Session) and not isinstance(v2, V1Session)
        with pytest.raises(TypeError, match="target azureml needs an SDK v1 session"):
            api.backend_for("azureml", session=v2)
    # One verb set: the backend's one submission flow, status and cancel take either kind.
    every: list[SessionProtocol[Any]] = [*sessions_v1, *sessions_v2]
    assert len(every) == 4


SHARED = {"workspace", "existing_max_nodes", "compute", "register_datastore", "register_model", "submit", "wait",
          "download"}


def test_both_targets_submit_through_the_same_verbs_in_the_same_order(project: Path) -> None:
    """What v1 does besides (datastore look-ups, uploads: it builds the pipeline itself)
    comes between registering the models and submitting; the shared steps are one flow."""
    v1, v2 = RecordingSession(), RecordingSessionV2()
    assert api.apply("specs/mnist.yaml", target="azureml", environ={}, session=v1).status == "succeeded"
    assert api.apply("specs/mnist.yaml", target="azureml-v2", environ={}, session=v2).status == "succeeded"
    verbs_v1 = [c[0] for c in v1.calls if c[0] in SHARED]
    assert verbs_v1 == [c[0] for c in v2.calls]
    assert verbs_v1 == ["workspace", "existing_max_nodes", "compute", "register_datastore", "register_model",
                        "submit", "wait", "download"]
