"""References resolved once, in plan/: what each input, side input and argument names,
and where. The compilers and the local engine read these; they parse nothing again."""

from __future__ import annotations

from pathlib import Path

from runner.azureml.backend import AzureMLBackend, AzureMLV2Backend
from runner.inputs.checks import plan_here
from runner.plan.references import is_remote
from runner.spec.load import load_spec

ASSET = """
name: score-table
datasets:
  rows: {kind: tabular, path: "azureml:my-table:1"}
azure:
  compute: {name: cpu-cluster, vm_size: STANDARD_D2_V2, max_nodes: 2}
  environment: {name: env, pip: [pandas]}
steps:
  - name: score
    inputs: ["${{ datasets.rows }}"]
    output: {name: scores}
    parallel_run: {entry_script: score.py, source_directory: code}
"""


def test_a_registered_data_asset_is_remote_everywhere(write) -> None:
    """`azureml:<name>:<version>` (which the v2 MLTable message recommends) was joined to
    the spec's folder as a local path and compiled as an upload of that folder."""
    spec = write("specs/asset.yaml", ASSET)
    Path("specs/code").mkdir()
    loaded = load_spec(spec, environ={})
    plan = plan_here(loaded, target="azureml")
    assert plan.steps[0].inputs[0].location == "azureml:my-table:1"
    assert is_remote(plan.steps[0].inputs[0].location)
    v1 = AzureMLBackend().compile(plan).data["datasets"]["rows"]
    assert (v1.get("asset"), v1.get("version")) == ("my-table", "1")
    assert "local" not in v1 and "upload_to" not in v1
    v2 = AzureMLV2Backend().compile(plan_here(loaded, target="azureml-v2")).data
    assert v2["jobs"]["score"]["inputs"]["rows"] == {"type": "mltable", "path": "azureml:my-table:1",
                                                     "mode": "direct"}


def test_a_step_output_named_anywhere_resolves_to_that_step(write) -> None:
    spec = write("two.yaml", """
        name: two
        datasets:
          files: {kind: file, path: data/}
        steps:
          - name: first
            inputs: ["${{ datasets.files }}"]
            output: {name: o}
            parallel_run: {entry_script: a.py}
          - name: second
            inputs: ["${{ steps.first.outputs.o }}"]
            side_inputs: ["${{ steps.first.outputs.o }}"]
            arguments: ["--upstream", "${{ steps.first.outputs.o }}"]
            output: {name: p}
            parallel_run: {entry_script: b.py}
        """)
    second = plan_here(load_spec(spec, environ={})).steps[1]
    for item in (second.inputs[0], second.side_inputs[0], second.arguments[1].input):
        assert item is not None and (item.step, item.output, item.location) == ("first", "o", "")
    assert second.arguments[0].value == "--upstream" and second.arguments[0].input is None
