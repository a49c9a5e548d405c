from __future__ import annotations

import pytest

from runner.inputs.checks import plan_here
from runner.plan.plan import REDACTED
from runner.render import plan_json, plan_text, public_plan
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
    plan = plan_here(load_spec(spec, environ=environ))
    # The plan keeps the real value for the backend; its repr and every view hide it.
    assert plan.steps[0].environment_variables == {"API_TOKEN": "tok-123456", "REGION": "westeurope"}
    for text in (repr(plan), plan_text(plan), plan_json(plan)):
        assert "tok-123456" not in text and "sig=abcdef" not in text
        assert "westeurope" in text
    assert public_plan(plan)["steps"][0]["environment_variables"] == {"API_TOKEN": REDACTED, "REGION": "westeurope"}
    assert plan.resolved["azure"]["datastores"]["store"]["sas_token"] != "sv=2024&sig=abcdef"


def test_all_template_errors_are_reported_together(write) -> None:
    spec = write("s.yaml", BASE + 'description: "{{ nope }}"\nexperiment: "{{ env.MISSING }}"\n')
    with pytest.raises(SpecError) as info:
        load_spec(spec, environ={})
    assert len(info.value.diagnostics) == 2


@pytest.mark.parametrize("template", [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% set x = 'ab' %}{{ x }}",
    "{{ 'x' | center(1000000000) }}",
    "{{ 'x'.rjust(1000000000) }}",
    "{{ '%1000000000d' % 1 }}",
    "{{ range(100000000) | length }}",
])
def test_templates_cannot_run_unbounded(write, template: str) -> None:
    spec = write("s.yaml", BASE + f"description: \"{template}\"\n")
    with pytest.raises(SpecError) as info:
        load_spec(spec, environ={})
    assert "template" in info.value.diagnostics[0].message


def test_conditionals_still_work(write) -> None:
    spec = write("s.yaml", BASE + "description: \"{% if env.PROD is defined %}prod{% else %}dev{% endif %}\"\n")
    assert load_spec(spec, environ={}).spec.description == "dev"
    assert load_spec(spec, environ={"PROD": "1"}).spec.description == "prod"


def test_a_template_that_reads_no_variable_is_still_a_literal_secret(write) -> None:
    spec = write("s.yaml", BASE + "azure:\n  datastores:\n    store: {container_name: box, account_name: acct,"
                                  " account_key: \"{{ 'literal' }}\"}\n")
    with pytest.raises(SpecError) as info:
        load_spec(spec, environ={})
    assert "secrets must not be written in a spec" in info.value.diagnostics[0].message


@pytest.mark.parametrize(("template", "hint"), [("{{ env.HOME | lowr }}", "lower"),
                                                ("{{ env.HOME | tojsn(2) }}", "tojson"),
                                                ("{{ env.HOME is strng }}", "string")])
def test_a_misspelt_filter_or_test_gets_a_suggestion(write, template: str, hint: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(write("s.yaml", BASE + f'description: "{template}"\n'), environ={"HOME": "/home/x"})
    assert info.value.diagnostics[0].message.endswith(f"; did you mean '{hint}'?")
