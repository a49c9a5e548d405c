"""JSON Schema for editors (yaml-language-server), generated from the models.

Two files: one for a full spec, one for a variant (`extends:` plus any subset of the
fields). Any scalar may also be written as a `{{ template }}` or a `${{ reference }}`
string, which `runner validate` then checks; the schema only helps while typing.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from runner.spec.models import Spec

SPEC_SCHEMA_FILE = "runner-spec.schema.json"
VARIANT_SCHEMA_FILE = "runner-variant.schema.json"
_EXPRESSION = {"type": "string", "pattern": r"\{\{|\{%",
               "description": "A Jinja template or a ${{ reference }}, checked by `runner validate`."}


def _allow_expressions(node: object) -> None:
    """Let every non-object, non-array property also be an expression string."""
    if isinstance(node, dict):
        for key in ("properties", "additionalProperties", "items"):
            child = node.get(key)
            if key == "properties" and isinstance(child, dict):
                for name, prop in list(child.items()):
                    child[name] = _wrap(prop)
            elif isinstance(child, dict):
                node[key] = _wrap(child)
        for value in node.values():
            _allow_expressions(value)
    elif isinstance(node, list):
        for value in node:
            _allow_expressions(value)


def _wrap(prop: dict[str, Any]) -> dict[str, Any]:
    if prop.get("type") in ("object", "array") or prop.get("type") == "string" and "pattern" not in prop:
        return prop
    if "$ref" in prop or prop == {}:
        return prop
    wrapped: dict[str, Any] = {"anyOf": [prop, {"$ref": "#/$defs/Expression"}]}
    if "default" in prop:
        wrapped["default"] = prop["default"]
    return wrapped


def spec_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema()
    _allow_expressions(schema)
    schema.setdefault("$defs", {})["Expression"] = _EXPRESSION
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "runner spec"
    return schema


def _drop_required(node: object) -> None:
    if isinstance(node, dict):
        node.pop("required", None)
        for value in node.values():
            _drop_required(value)
    elif isinstance(node, list):
        for value in node:
            _drop_required(value)


def variant_schema() -> dict[str, Any]:
    schema = copy.deepcopy(spec_schema())
    _drop_required(schema)
    schema["title"] = "runner spec variant"
    schema["properties"] = {"extends": {"type": "string", "description": "The base spec, relative to this file."},
                            **schema["properties"]}
    schema["required"] = ["extends"]
    return schema


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
