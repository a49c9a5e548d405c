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
