"""Plan.azure: what the Azure compilers read of a spec, resolved once when the plan is
built, with secret values kept as the rest of the plan keeps them."""

from __future__ import annotations

import json

from runner.inputs.checks import plan_here
from runner.plan.references import Secret
from runner.render import plan_json
from runner.spec.load import load_spec

SPEC = """
name: score-table
description: tables scored
parameters:
  rows_param: {dataset: rows}
  batch: "{{ env.BATCH_TOKEN }}"
datasets:
  rows: {kind: tabular, path: data/rows.csv, delimiter: ";"}
models:
  m: {path: models/m, tags: {a: b}}
azure:
  workspace: {subscription_id: "{{ env.SUB_SECRET }}", resource_group: rg, name: ws}
  compute: {name: cpu-cluster, max_nodes: 2}
  datastores:
    store: {container_name: box, account_name: acct, account_key: "{{ env.STORE_KEY }}"}
  environment: {name: env, pip: [pandas, "{{ env.PIP_TOKEN }}"]}
steps:
  - name: score
    description: one step
    inputs: ["${{ parameters.rows_param }}"]
    output: {name: scores, datastore: store}
    parallel_run:
      entry_script: score.py
      source_directory: code
      mini_batch_size: "${{ parameters.batch }}"
      process_count_per_node: 2
"""
ENV = {"BATCH_TOKEN": "7", "SUB_SECRET": "sub-0123456789", "STORE_KEY": "k3y-value-123",
       "PIP_TOKEN": "private-pkg==1.0"}


def test_the_azure_plan_holds_what_the_compilers_read(write) -> None:
    plan = plan_here(load_spec(write("specs/s.yaml", SPEC), environ=ENV), target="azureml-v2")
    azure = plan.azure
    assert azure is not None
    assert (azure.description, azure.compute.name, azure.compute.max_nodes) == ("tables scored", "cpu-cluster", 2)
    assert azure.datasets["rows"].path == "specs/data/rows.csv" and azure.datasets["rows"].delimiter == ";"
    assert azure.used == ["rows"]
    assert azure.models["m"].path == "specs/models/m" and azure.models["m"].tags == {"a": "b"}
    assert (azure.parameters["batch"].value, azure.parameters["batch"].field) == ("7", "mini_batch_size")
    [step] = azure.steps
    assert (step.entry_script, step.mini_batch_size, step.process_count_per_node) == ("score.py", "7", 2)
    assert (step.description, step.output_datastore, step.bound) == ("one step", "store",
                                                                      {"mini_batch_size": "batch"})
    assert plan_here(load_spec("specs/s.yaml", environ=ENV), target="local").azure is None


def test_secrets_stay_secrets_in_the_azure_plan(write) -> None:
    plan = plan_here(load_spec(write("specs/s.yaml", SPEC), environ=ENV), target="azureml")
    azure = plan.azure
    assert azure is not None
    key = azure.datastores["store"].account_key
    assert isinstance(key, Secret) and key == "k3y-value-123"
    assert isinstance(azure.workspace.subscription_id, Secret) and azure.workspace.resource_group == "rg"
    assert [isinstance(p, Secret) for p in azure.environment.pip] == [False, True]
    assert azure.parameters["batch"].secret and isinstance(azure.parameters["batch"].value, Secret)
    shown = repr(plan) + plan_json(plan)
    for value in ENV.values():
        if len(value) > 1:
            assert value not in shown
    assert "azure" not in json.loads(plan_json(plan))
