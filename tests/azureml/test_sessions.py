"""What the wire tests (test_wire_*.py) do not reach: creating a v1 cluster, where the
SDK's ComputeTarget.create is replaced by a recorder (the provisioning configuration is
the SDK's real class). Everything else the sessions do runs on the wire."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from runner.azureml.session_v1 import Session

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
