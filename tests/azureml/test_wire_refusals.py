"""A refused apply writes nothing to the workspace (issue 23.6): the real sessions' own
`existing_max_nodes` (session_v1.py, session_v2.py) read the cluster through the real
SDKs, with only the network replaced, and a cluster smaller than a step's node_count is
refused before any request that would create something (a model version, a datastore,
a blob, a module, a job)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import api
from runner.azureml.session_v1 import Session
from runner.azureml.session_v2 import SessionV2
from tests.azureml.service_v1 import ServiceV1, WireAuth, compute
from tests.azureml.service_v2 import ServiceV2, WireCredential
from tests.azureml.wire import Wire, WireTransport

READS = ("GET", "HEAD")


def writes(wire: Wire) -> list[str]:
    return [f"{r.method} {r.url}" for r in wire.requests if r.method not in READS]


def test_v1_a_cluster_smaller_than_node_count_is_refused_before_any_write(project: Path, wire: Wire) -> None:
    service = ServiceV1(wire)
    service.compute_targets["cpu-cluster"] = compute("cpu-cluster", max_nodes=1)
    with pytest.raises(api.RunError, match="step predict.digits.mnist: node_count 2 is more than the 1 nodes the "
                                           "existing cluster cpu-cluster scales to"):
        api.apply("specs/mnist.yaml", target="azureml", environ={}, session=Session(auth=WireAuth()))
    assert any(r.path.endswith("/computes") for r in wire.requests)  # the cluster was read on the wire
    assert writes(wire) == []


def test_v2_a_cluster_smaller_than_node_count_is_refused_before_any_write(project: Path, wire: Wire) -> None:
    service = ServiceV2(wire)
    service.computes["cpu-cluster"] = compute("cpu-cluster", max_nodes=1)
    with pytest.raises(api.RunError, match="step predict.digits.mnist: node_count 2 is more than the 1 nodes the "
                                           "existing cluster cpu-cluster scales to"):
        api.apply("specs/mnist.yaml", target="azureml-v2", environ={},
                  session=SessionV2(credential=WireCredential(), transport=WireTransport(wire)))
    assert any(r.path.endswith("/computes/cpu-cluster") for r in wire.requests)
    assert writes(wire) == []


@pytest.mark.parametrize("max_nodes", [2, 4])
def test_a_cluster_as_large_as_node_count_goes_on(project: Path, wire: Wire, max_nodes: int) -> None:
    """The real check lets through what fits (it is not simply refusing everything)."""
    service = ServiceV2(wire)
    service.computes["cpu-cluster"] = compute("cpu-cluster", max_nodes=max_nodes)
    result = api.apply("specs/mnist.yaml", target="azureml-v2", environ={},
                       session=SessionV2(credential=WireCredential(), transport=WireTransport(wire)))
    assert result.status == "succeeded", result.note


def test_v1_a_graph_the_sdk_refuses_is_refused_before_any_write(project: Path, wire: Wire,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's own graph checks (as the one that refused a chained input, issue 23.1) run
    on a dry build before the apply creates anything: no model version, datastore or blob
    is left behind. The SDK is made to refuse every graph here."""
    from azureml.pipeline.core.builder import _PipelineGraphBuilder

    def refuse(self: object, name: str, steps: object) -> None:
        raise ValueError('Input "x" is expected to be consumed as a dataset but the output "x" is not promoted')

    monkeypatch.setattr(_PipelineGraphBuilder, "construct", refuse)
    ServiceV1(wire)
    with pytest.raises(api.BackendError, match="is not promoted"):
        api.apply("specs/mnist.yaml", target="azureml", environ={}, session=Session(auth=WireAuth()))
    # Building any graph, the SDK first creates its built-in data types (AnyFile,
    # AnyDirectory, ...) where the workspace lacks them; they hold nothing of the apply's.
    types = [w for w in writes(wire) if w.startswith("POST ") and w.endswith("/DataTypes")]
    assert types and [w for w in writes(wire) if w not in types] == []
