from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from runner.spec.schema import SPEC_SCHEMA_FILE, VARIANT_SCHEMA_FILE, dumps, spec_schema, variant_schema
from tests.conftest import ROOT

SPECS = sorted((ROOT / "specs").glob("*.yaml"))


@pytest.mark.parametrize(("name", "build"), [(SPEC_SCHEMA_FILE, spec_schema), (VARIANT_SCHEMA_FILE, variant_schema)])
def test_committed_schema_is_current(name: str, build) -> None:
    committed = (ROOT / "schema" / name).read_text(encoding="utf-8")
    assert committed == dumps(build()), f"schema/{name} is stale: run `runner schema` (or `make schema`)"


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_example_specs_name_their_schema_and_satisfy_it(spec: Path) -> None:
    text = spec.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    schema_file = VARIANT_SCHEMA_FILE if "extends" in data else SPEC_SCHEMA_FILE
    assert text.startswith(f"# yaml-language-server: $schema=../schema/{schema_file}\n")
    schema = json.loads((ROOT / "schema" / schema_file).read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)


def test_schema_rejects_what_the_models_reject() -> None:
    schema = spec_schema()
    bad = {"name": "ok-name", "steps": [{"name": "s-1", "inputs": ["x"], "parallel_run": {
        "entry_script": "a.py", "run_max_try": 0}}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    unknown = {"name": "ok-name", "nmae": 1, "steps": []}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(unknown, schema)


def _undescribed(node: object, path: str = "") -> list[str]:
    """Every property (at any depth: $defs, anyOf members, additionalProperties and
    patternProperties models, items) without both hover texts, by its path."""
    missing = []
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name, prop in properties.items():
                if not (isinstance(prop, dict) and prop.get("description") and prop.get("markdownDescription")):
                    missing.append(f"{path}.properties.{name}".lstrip("."))
        for key, value in node.items():
            if key not in ("default", "const", "enum", "examples"):
                missing += _undescribed(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            missing += _undescribed(value, f"{path}[{i}]")
    return missing


@pytest.mark.parametrize("build", [spec_schema, variant_schema], ids=["spec", "variant"])
def test_every_property_has_a_description_and_markdown(build) -> None:
    schema = build()
    missing = _undescribed(schema)
    assert not missing, "properties without description/markdownDescription (add them to runner/spec/docs.py):\n" + \
        "\n".join(missing)
    models = [name for name, d in schema["$defs"].items() if d.get("type") == "object"]
    assert not [m for m in models if not schema["$defs"][m].get("markdownDescription")], "models need docstrings"


def test_the_walk_finds_a_property_without_description() -> None:
    schema = {"$defs": {"M": {"properties": {"a": {"anyOf": [{"properties": {"deep": {"type": "string"}}}]},
                                             "b": {"description": "x", "markdownDescription": "x"}}}}}
    assert _undescribed(schema) == ["$defs.M.properties.a", "$defs.M.properties.a.anyOf[0].properties.deep"]


def test_every_text_names_a_field_and_every_field_has_one() -> None:
    from runner.spec import docs, models

    fields = {f"{cls.__name__}.{name}" for cls in vars(models).values()
              if isinstance(cls, type) and issubclass(cls, models.Strict) and cls is not models.Strict
              for name in cls.model_fields}
    assert sorted(set(docs.FIELDS) - fields) == [], "texts for fields that do not exist"
    assert sorted(fields - set(docs.FIELDS)) == [], "fields without a text in runner/spec/docs.py"


def test_hover_text_states_azure_meaning_default_and_range_from_the_models() -> None:
    schema = spec_schema()
    run = schema["$defs"]["ParallelRun"]["properties"]
    tries = run["run_max_try"]
    assert "retry_settings.max_retries" in tries["markdownDescription"]  # the v2 mapping
    assert tries["markdownDescription"].endswith("Default: `3`. Allowed: an integer from 1 to 2147483647.")
    assert "Default: 3." in tries["description"] and "`" not in tries["description"]
    step = schema["$defs"]["Step"]["properties"]["parallel_run"]
    assert "[`ParallelRunConfig`](https://learn.microsoft.com/" in step["markdownDescription"]
    assert "ParallelRunConfig (https://learn.microsoft.com/" in step["description"]
    assert "Required." in step["description"]
    percent = run["allowed_failed_percent"]["markdownDescription"]
    assert "Units: percent" in percent and percent.endswith("Optional. Allowed: a number from 0 to 100.")


def test_variant_schema_says_where_a_required_field_may_come_from() -> None:
    extends = variant_schema()["properties"]["extends"]
    assert extends["markdownDescription"].startswith("The base spec this variant changes")
    entry = variant_schema()["$defs"]["ParallelRun"]["properties"]["entry_script"]["description"]
    assert "\n\nRequired in the resolved spec: here or in the base." in entry


@pytest.mark.parametrize(("field", "value"), [("allowed_failed_count", -5), ("allowed_failed_percent", 101),
                                              ("process_count_per_node", 0)])
def test_schema_keeps_bounds_of_optional_numbers(field: str, value: int) -> None:
    # Pydantic writes these bounds as "ge"/"le", which JSON Schema ignores.
    spec = {"name": "ok-name", "steps": [{"name": "s-1", "inputs": ["x"], "parallel_run": {
        "entry_script": "a.py", field: value}}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, spec_schema())
    spec["steps"][0]["parallel_run"][field] = 1
    jsonschema.validate(spec, spec_schema())
