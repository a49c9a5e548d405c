"""`runner apply --target azureml` through the real Session (session_v1.py) and the real
azureml-core / azureml-pipeline SDK, with only the network replaced: every HTTP request
is answered by a small fake of the service (service_v1.py) and blob storage is Azurite.
What this cannot show is the live service accepting these requests (README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from runner import api
from runner.azureml.session_v1 import Session
from tests.azureml import golden
from tests.azurite import Azurite
from tests.azureml.service_v1 import ServiceV1, WireAuth
from tests.azureml.wire import Wire

ROWS = ["0.png: 7", "1.png: 2", "2.png: 1"]


def runner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def arguments(module: dict[str, Any]) -> list[str]:
    """The step's command line as the module carries it (Parameter/Output values by name)."""
    return [a["Value"] if a["ValueType"] == "Literal" else f"<{a['ValueType']}:{a['Value']}>"
            for a in module["StructuredInterface"]["Arguments"]]


def test_the_tutorials_two_runs_reach_the_service_and_come_back(project: Path, wire: Wire, azurite: Azurite) -> None:
    service = ServiceV1(wire)
    first = api.apply("specs/mnist.yaml", target="azureml", environ={}, session=Session(auth=WireAuth()))
    assert (first.status, first.exit_code) == ("succeeded", 0), first.note
    # The uploads landed in blob storage: the data set and model under their listing's
    # digest, the model's registration copy, the code snapshot.
    store = azurite.blobs("azureml-blobstore-ws")  # (one Azurite for all the tests)
    put = [r.path.split("/", 2)[2] for r in wire.requests if r.method == "PUT"
           and r.host.endswith(".blob.core.windows.net") and r.path.startswith("/azureml-blobstore-ws/runner/")]
    data = sorted(n for n in put if n.startswith("runner/predict-digits-mnist/mnist/"))
    assert [n.rsplit("/", 1)[1] for n in data] == ["0.png", "1.png", "2.png"]
    assert [store[n] for n in data] == [(project / "data" / "mnist" / f"{i}.png").read_bytes() for i in range(3)]
    assert [store[n] for n in put if n.startswith("runner/models/mnist-prs/")] == [b"keras"]
    assert any(n.endswith("/mnist/model.keras") for n in azurite.blobs("azureml"))
    snapshot = {n.split("/", 1)[1] for n in azurite.blobs("snapshots")}
    assert "entry_scripts/digit_identification.py" in snapshot
    # The graph: one ParallelRunStep whose module carries the tutorial's arguments.
    [(run_id, sent)] = service.graphs.items()
    [module] = [m["Data"] for m in service.modules.values()]
    command = arguments(module)
    for flag, value in [("--scoring_module_name", "entry_scripts/digit_identification.py"),
                        ("--mini_batch_size", "<Parameter:batch_size_param>"), ("--error_threshold", "10"),
                        ("--output_action", "append_row"), ("--append_row_file_name", "mnist_outputs.txt"),
                        ("--output", "<Output:inferences>"),
                        ("--process_count_per_node", "<Parameter:process_count_param>"),
                        ("--model", "DatasetConsumptionConfig:model_mnist_prs"),
                        ("--input_fds_0", "mnist_param")]:
        assert command[command.index(flag) + 1] == value, flag
    assert [(i["Name"], i["DataStoreMode"]) for i in module["StructuredInterface"]["Inputs"]] == \
        [("mnist_param", "mount"), ("model_mnist_prs", "mount")]
    outputs = {o["Name"]: o.get("DataStoreName") for o in module["StructuredInterface"]["Outputs"]}
    assert outputs["inferences"] == "workspaceblobstore"
    node = sent["Graph"]["ModuleNodes"][0]
    assert {p["Name"]: p.get("Value") for p in node["ModuleParameters"]}["Target"] == "cpu-cluster"
    assert list(sent["CreationInfo"]["DataSetDefinitionValueAssignments"]) == ["mnist_param"]
    defaults = {p["Name"]: p["DefaultValue"] for p in sent["GraphInterface"]["Parameters"]}
    assert defaults == {"batch_size_param": "5", "process_count_param": "2"}
    assert [p["Name"] for p in sent["GraphInterface"]["DataPathParameterList"]] == ["mnist_param"]
    golden.check("v1_mnist_graph", golden.unjson(sent))
    golden.check("v1_mnist_module", golden.unjson(module))
    # What the run wrote came back through the SDK's download, into the run folder.
    output = first.run.path / "predict-digits-mnist" / "outputs" / "inferences" / "mnist_outputs.txt"
    assert output.read_text().splitlines() == ROWS
    info = json.loads((first.run.path / "run.json").read_text())
    assert (info["azure_run_id"], info["azure_status"]) == (run_id, "Finished")
    assert info["portal_url"].startswith(f"https://ml.azure.com/runs/{run_id}?wsid=/subscriptions/")

    # The tutorial's second run: the same pipeline with new parameter values.
    second = api.apply("specs/mnist.single-image.yaml", target="azureml", environ={},
                       session=Session(auth=WireAuth()))
    assert second.status == "succeeded", second.note
    [_, (_, resent)] = service.graphs.items()
    info = resent["CreationInfo"]
    assert info["ParameterAssignments"] == {"batch_size_param": "1", "process_count_param": "1"}
    assert list(info["DataSetDefinitionValueAssignments"]) == ["mnist_param"]
    assert info["DataSetDefinitionValueAssignments"] != sent["CreationInfo"]["DataSetDefinitionValueAssignments"]
    golden.check("v1_mnist_single_image_creation_info", info)
    shown = runner("results", "latest", cwd=project)
    assert shown.returncode == 0 and shown.stdout.splitlines() == ["mnist_outputs.txt has 3 rows", *ROWS]


def test_the_tabular_spec_reaches_the_service(project: Path, wire: Wire, azurite: Azurite) -> None:
    service = ServiceV1(wire)
    service.rows = ["0 north 0.25"]
    session = Session(auth=WireAuth())
    # Inferring a CSV's column types reads the data through azureml-dataprep's Rust engine,
    # which makes its own connections (no `requests` to intercept): not on the wire here.
    session.reads_data = False
    result = api.apply("specs/tabular.azure.yaml", target="azureml", environ={}, session=session)
    assert result.status == "succeeded", result.note
    [sent] = service.graphs.values()
    [module] = [m["Data"] for m in service.modules.values()]
    command = arguments(module)
    assert command[command.index("--append_row_file_name") + 1] == "scores.txt"
    golden.check("v1_tabular_graph", golden.unjson(sent))
    golden.check("v1_tabular_module", golden.unjson(module))
    assert any(n.endswith("part-0.csv") for n in azurite.blobs("azureml-blobstore-ws"))
    output = result.run.path / "score-rows" / "outputs"
    assert [p.read_text() for p in output.rglob("scores.txt")] == ["0 north 0.25\n"]


def test_a_step_reading_the_step_befores_output_is_submitted(project: Path, wire: Wire) -> None:
    """Issue 23.1: the SDK refused the chained input client-side (`the output "first_out"
    is not promoted to a dataset`), after the apply had written to the workspace."""
    from tests.azureml.test_v1_objects import TWO_STEPS

    service = ServiceV1(wire)
    (project / "two.yaml").write_text(TWO_STEPS)
    (project / "config.json").write_text((project / "specs" / "config.json").read_text())
    result = api.apply("two.yaml", target="azureml", environ={}, session=Session(auth=WireAuth()))
    assert result.status == "succeeded", result.note
    [sent] = service.graphs.values()
    first, second = sent["Graph"]["ModuleNodes"]
    edges = [(e["SourceOutputPort"]["NodeId"], e["SourceOutputPort"]["PortName"], e["DestinationInputPort"]["NodeId"])
             for e in sent["Graph"]["Edges"] if e["SourceOutputPort"].get("NodeId")]
    assert (first["Id"], "first_out", second["Id"]) in edges
