from __future__ import annotations

import pytest

from runner.plan.plan import REDACTED, build_plan
from runner.spec.diagnostics import SpecError
from runner.spec.load import load_spec
from tests.conftest import BASE


def test_env_with_default_and_values_stay_strings(write) -> None:
    spec = write("s.yaml", BASE + "azure:\n  compute: {name: \"{{ env.CLUSTER | default('cpu-cluster') }}\","
                                  " max_nodes: \"{{ env.MAX | default(4) }}\"}\n")
    assert load_spec(spec, environ={}).spec.azure.compute.name == "cpu-cluster"
    loaded = load_spec(spec, environ={"CLUSTER": "gpu-1", "MAX": "8"})
    assert (loaded.spec.azure.compute.name, loaded.spec.azure.compute.max_nodes) == ("gpu-1", 8)


def test_template_output_is_never_parsed_as_yaml(write) -> None:
    spec = write("s.yaml", BASE + 'description: "{{ env.X }}"\n')
    loaded = load_spec(spec, environ={"X": "a: {b: 1}\nname: other"})
    assert loaded.spec.description == "a: {b: 1}\nname: other"
    assert loaded.spec.name == "score-images"


def test_bindings_are_not_jinja(write) -> None:
    spec = write("s.yaml", BASE.replace('"--model"', '"--{{ env.FLAG }}"'))
    loaded = load_spec(spec, environ={"FLAG": "model"})
    assert loaded.spec.steps[0].arguments == ["--model", "${{ models.clf }}"]


def test_values_read_from_secret_looking_variables_are_hidden_by_plan(write) -> None:
    spec = write("s.yaml", BASE.replace("error_threshold: 5", "error_threshold: 5\n"
                                        "      environment_variables: {API_TOKEN: \"{{ env.MY_API_TOKEN }}\","
                                        " REGION: \"{{ env.REGION }}\"}")
                 + "azure:\n  datastores:\n    store: {container_name: box, account_name: acct,"
                   " sas_token: \"{{ env.STORE_SAS }}\"}\n")
    environ = {"MY_API_TOKEN": "tok-123456", "REGION": "westeurope", "STORE_SAS": "sv=2024&sig=abcdef"}
    plan = build_plan(load_spec(spec, environ=environ))
    env = plan.steps[0].environment_variables
    assert env == {"API_TOKEN": REDACTED, "REGION": "westeurope"}
    text = repr(plan)
    assert "tok-123456" not in text and "sig=abcdef" not in text
    assert plan.resolved["azure"]["datastores"]["store"]["sas_token"] == REDACTED


def test_all_template_errors_are_reported_together(write) -> None:
    spec = write("s.yaml", BASE + 'description: "{{ nope }}"\nexperiment: "{{ env.MISSING }}"\n')
    with pytest.raises(SpecError) as info:
        load_spec(spec, environ={})
    assert len(info.value.diagnostics) == 2
