"""The v2 fake refuses what the service would (contract_v2.py, from a recorded real-service
session and the service's references), and what it refuses, runner refuses first, offline:
such an apply makes no request at all (issue 23)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from runner import api
from runner.azureml.session_v2 import SessionV2
from runner.spec.diagnostics import SpecError
from tests.azureml.contract_v2 import component_problems
from tests.azureml.service_v2 import ServiceV2, WireCredential
from tests.azureml.wire import Wire, WireTransport


def sent_component(project: Path, wire: Wire) -> dict[str, object]:
    service = ServiceV2(wire)
    result = api.apply("specs/mnist.yaml", target="azureml-v2", environ={},
                       session=SessionV2(credential=WireCredential(), transport=WireTransport(wire)))
    assert result.status == "succeeded", result.note
    [spec] = [body["properties"]["componentSpec"] for (kind, _), versions in service.versions.items()
              if kind == "components" for body in versions.values()]
    return spec


def test_our_component_has_the_recorded_fields_and_types(project: Path, wire: Wire) -> None:
    spec = sent_component(project, wire)
    assert component_problems(spec) == []
    for change, problem in [
        (lambda s: s["retry_settings"].update(timeout=300000), "retry_settings.timeout: 300000 is outside (0, 259200]"),
        (lambda s: s["retry_settings"].update(max_retries=-1), "retry_settings.max_retries: -1 is outside"),
        (lambda s: s.update(logging_level="info"), "logging_level: 'info' is not one of"),
        (lambda s: s.update(max_concurrency_per_instance="2"), "max_concurrency_per_instance: str where"),
        (lambda s: s.update(mini_batch_count=3), "mini_batch_count: unknown field"),
    ]:
        changed = copy.deepcopy(spec)
        change(changed)
        assert any(p.startswith(problem) for p in component_problems(changed)), problem


def test_what_the_fake_refuses_is_refused_before_any_request(project: Path, wire: Wire) -> None:
    ServiceV2(wire)
    text = (project / "specs" / "mnist.yaml").read_text().replace("node_count: 2", "node_count: 2\n"
                                                                 "      run_invocation_timeout: 300000")
    (project / "specs" / "long.yaml").write_text(text)
    with pytest.raises(SpecError, match="retry_settings.timeout at most 259200"):
        api.apply("specs/long.yaml", target="azureml-v2", environ={},
                  session=SessionV2(credential=WireCredential(), transport=WireTransport(wire)))
    assert wire.requests == []
