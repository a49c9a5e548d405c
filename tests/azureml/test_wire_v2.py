"""`runner apply --target azureml-v2` through the real SessionV2 (session_v2.py) and the
real azure-ai-ml SDK, with only the network replaced: MLClient's transport answers from a
small fake of the service (service_v2.py); the storage clients the SDK makes itself go
through `requests`, to Azurite. What this cannot show is the live service accepting these
requests (README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from runner import api
from runner.azureml.session_v2 import SessionV2
from tests.azureml import golden
from tests.azurite import Azurite
from tests.azureml.service_v2 import ServiceV2, WireCredential
from tests.azureml.wire import Wire, WireTransport

ROWS = ["0.png: 7", "1.png: 2", "2.png: 1"]


def session(wire: Wire) -> SessionV2:
    return SessionV2(credential=WireCredential(), transport=WireTransport(wire))


def node(body: dict[str, Any]) -> dict[str, Any]:
    [only] = body["properties"]["jobs"].values()
    return only  # type: ignore[no-any-return]


def components(service: ServiceV2) -> list[dict[str, Any]]:
    """The (anonymous) components registered, as the SDK sent them."""
    return [body["properties"] for (kind, _), versions in service.versions.items() if kind == "components"
            for body in versions.values()]


def test_the_tutorials_two_runs_reach_the_service_and_come_back(project: Path, wire: Wire, azurite: Azurite) -> None:
    service = ServiceV2(wire)
    first = api.apply("specs/mnist.yaml", target="azureml-v2", environ={}, session=session(wire))
    assert (first.status, first.exit_code) == ("succeeded", 0), first.note
    [sent] = service.job_bodies
    job = sent["properties"]
    assert (job["jobType"], job["experimentName"]) == ("Pipeline", "digit_identification")
    step = node(sent)
    assert step["type"] == "parallel" and step["task"]["entry_script"] == "entry_scripts/digit_identification.py"
    assert step["task"]["append_row_to"] == "${{outputs.inferences}}"
    assert step["mini_batch_size"] == "${{parent.inputs.batch_size_param}}"
    assert job["inputs"]["batch_size_param"] == {"value": "5", "jobInputType": "literal"}
    assert job["inputs"]["mnist_param"]["jobInputType"] == "uri_folder"
    golden.check("v2_mnist_job", sent)
    [component] = components(service)
    assert component["componentSpec"]["error_threshold"] == 10  # the parallel settings live in the component
    golden.check("v2_mnist_component", component)
    # The uploads landed: the data folder, the code (the job's snapshot) and the model.
    store = azurite.blobs("azureml-blobstore-ws")
    assert {n.rsplit("/", 1)[1] for n in store if "/mnist/" in n and n.startswith("LocalUpload/")} >= \
        {"0.png", "1.png", "2.png"}
    code = [c for (kind, _), c in service.versions.items() if kind == "codes"]
    assert code, "no code version was registered"
    uploads = {n for container in service.upload_containers for n in azurite.blobs(container)}
    assert any(n.endswith("entry_scripts/digit_identification.py") for n in uploads)
    output = first.run.path / "predict-digits-mnist" / "outputs" / "inferences" / "mnist_outputs.txt"
    assert output.read_text().splitlines() == ROWS
    info = json.loads((first.run.path / "run.json").read_text())
    assert info["azure_status"] == "Completed" and info["portal_url"].startswith("https://ml.azure.com/runs/")

    # The second run: the same pipeline, new parameter values.
    second = api.apply("specs/mnist.single-image.yaml", target="azureml-v2", environ={}, session=session(wire))
    assert second.status == "succeeded", second.note
    resent = service.job_bodies[1]["properties"]
    assert resent["inputs"]["batch_size_param"] == {"value": "1", "jobInputType": "literal"}
    assert resent["inputs"]["process_count_param"] == {"value": "1", "jobInputType": "literal"}
    assert resent["inputs"]["mnist_param"]["jobInputType"] == "uri_folder"
    assert resent["inputs"]["mnist_param"]["uri"] != job["inputs"]["mnist_param"]["uri"]
    golden.check("v2_mnist_single_image_job", service.job_bodies[1])
    shown = subprocess.run([sys.executable, "-m", "runner", "results", "latest"], cwd=project, capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0 and shown.stdout.splitlines() == ["mnist_outputs.txt has 3 rows", *ROWS]


def test_the_tabular_spec_reaches_the_service(project: Path, wire: Wire) -> None:
    service = ServiceV2(wire)
    service.rows = ["0 north 0.25"]
    result = api.apply("specs/tabular.azure.yaml", target="azureml-v2", environ={}, session=session(wire))
    assert result.status == "succeeded", result.note
    [sent] = service.job_bodies
    golden.check("v2_tabular_job", sent)
    golden.check("v2_tabular_component", components(service)[0])
    assert node(sent)["input_data"].startswith("${{inputs.")
    output = result.run.path / "score-rows" / "outputs"
    assert [p.read_text() for p in output.rglob("scores.txt")] == ["0 north 0.25\n"]


def test_a_step_reading_the_step_befores_output_is_submitted(project: Path, wire: Wire) -> None:
    """Issue 23.1, the v2 side: the second node reads the first node's output folder by
    binding (on v2 an append_row output is one file, so the first step writes a folder)."""
    from tests.azureml.test_v1_objects import TWO_STEPS

    service = ServiceV2(wire)
    first = "parallel_run: {entry_script: entry_scripts/digit_identification.py}\n  - name: second"
    summary = "parallel_run: {entry_script: entry_scripts/digit_identification.py, output_action: summary_only}\n" \
        "  - name: second"
    (project / "two.yaml").write_text(TWO_STEPS.replace(first, summary))
    (project / "config.json").write_text((project / "specs" / "config.json").read_text())
    result = api.apply("two.yaml", target="azureml-v2", environ={}, session=session(wire))
    assert result.status == "succeeded", result.note
    [sent] = service.job_bodies
    jobs = sent["properties"]["jobs"]
    assert set(jobs) == {"first", "second"}
    assert jobs["second"]["inputs"][jobs["second"]["input_data"][len("${{inputs."):-2]] == \
        {"job_input_type": "literal", "value": "${{parent.jobs.first.outputs.first_out}}"}
