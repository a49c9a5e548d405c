"""JSON Schema for editors (yaml-language-server, VS Code), generated from the models.

Two files: one for a full spec, one for a variant (`extends:` plus any subset of the
fields). Any scalar may also be written as a `{{ template }}` or a `${{ reference }}`
string, which `runner validate` then checks; the schema only helps while typing.

Every property carries the text of docs.py, followed by its default and allowed values
taken from the model's own constraints, twice: `markdownDescription` (what VS Code shows
on hover, with code spans and links) and `description` (the same as plain text, for
tools that read only that).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from runner.spec import docs
from runner.spec.models import Spec

SPEC_SCHEMA_FILE = "runner-spec.schema.json"
VARIANT_SCHEMA_FILE = "runner-variant.schema.json"
_EXPRESSION = {"type": "string", "pattern": r"\{\{|\{%",
               "description": "A Jinja template or a `${{ reference }}`, checked by `runner validate`."}
_VALUES = ("default", "const", "enum", "examples")  # data, not schemas: never rewritten


class _Documented(GenerateJsonSchema):
    """Pydantic's generator, giving each model field its text from docs.py."""

    required = "Required."

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        _standard_bounds(json_schema)
        model = schema["cls"].__name__
        if "description" in json_schema:  # the model's docstring
            json_schema["description"] = docs.markdown(json_schema["description"])
        required = set(json_schema.get("required", ()))
        for name, prop in json_schema.get("properties", {}).items():
            text = docs.FIELDS.get(f"{model}.{name}")
            if text is not None:
                prop["description"] = _with_facts(docs.markdown(text), prop, self.required if name in required else "")
        return json_schema


# Pydantic writes a bound it cannot push through `int | None` under its own names, which
# JSON Schema validators ignore: the editor would accept `allowed_failed_count: -5`.
_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _schemas(root: object) -> list[dict[str, Any]]:
    """Every mapping in a generated schema, parents first, leaving out what is data
    (_VALUES); a list, so a pass may change the mappings as it goes."""
    found: list[dict[str, Any]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(reversed([value for key, value in node.items() if key not in _VALUES]))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return found


def _standard_bounds(root: object) -> None:
    for node in _schemas(root):
        for key, standard in _BOUNDS.items():
            if isinstance(node.get(key), (int, float)) and not isinstance(node[key], bool):
                node[standard] = node.pop(key)


class _VariantDocumented(_Documented):
    required = "Required in the resolved spec: here or in the base."


def _with_facts(text: str, prop: dict[str, Any], required: str) -> str:
    """The text, then what the schema itself says: required or the default, and the range."""
    facts = [required] if required else []
    if not required and "default" in prop:
        default = prop["default"]
        facts.append("Optional." if default is None else "Default: empty." if default in ({}, []) else
                     f"Default: `{_value(default)}`.")
    members = [m for m in prop.get("anyOf", [prop]) if m.get("type") != "null"]
    allowed = [a for a in map(_allowed, members) if a]
    if allowed:
        facts.append("Allowed: " + "; or ".join(allowed) + ".")
    return text + ("\n\n" + " ".join(facts) if facts else "")


def _value(value: Any) -> str:
    """A value as it is written in YAML: strings bare, mappings without their unset keys."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if v is not None}
    return json.dumps(value)


def _allowed(schema: dict[str, Any]) -> str:
    """The constraints of one schema, in words."""
    if "const" in schema:
        return f"`{_value(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{_value(v)}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        above = schema.get("exclusiveMinimum")
        noun = "an integer" if kind == "integer" else "a number"
        if above is not None:
            return f"{noun} above {above}" + (f", up to {high}" if high is not None else "")
        if low is not None and high is not None:
            return f"{noun} from {low} to {high}"
        return f"{noun} of at least {low}" if low is not None else f"{noun} up to {high}" if high is not None else ""
    if kind == "string":
        return _text_rule(schema, "text")
    if kind == "array" and "minItems" in schema:
        return f"at least {schema['minItems']} item" + ("s" if schema["minItems"] != 1 else "")
    if kind == "object" and ("patternProperties" in schema or "propertyNames" in schema):
        rule = _text_rule({**schema.get("propertyNames", {}),
                           "pattern": next(iter(schema.get("patternProperties", {})), None)}, "names")
        return rule
    return ""


def _text_rule(schema: dict[str, Any], noun: str) -> str:
    low, high, pattern = schema.get("minLength"), schema.get("maxLength"), schema.get("pattern")
    if low is None and high is None and pattern is None:
        return ""
    rule = noun
    if high is not None and low == high:
        rule = "one character" if high == 1 else f"{noun} of {high} characters"
    elif high is not None:
        rule += f" of {low or 0} to {high} characters"
    elif low is not None and low > 1:
        rule += f" of at least {low} characters"
    elif low == 1 and pattern is None:
        rule = "non-empty " + noun
    if pattern is not None:
        rule += f" matching `{pattern}`"
    return rule


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
    for key in ("default", "description"):  # editors read them from the property itself
        if key in prop:
            wrapped[key] = prop[key] if key == "default" else prop.pop(key)
    return wrapped


def _describe_dataset_parameters(root: object) -> None:
    """The `{dataset: NAME}` form of a parameter value (types.ParameterValue)."""
    for node in _schemas(root):
        props = node.get("properties")
        if isinstance(props, dict) and set(props) == {"dataset"} and node.get("required") == ["dataset"]:
            props["dataset"]["description"] = docs.markdown(docs.DATASET_PARAMETER)


_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")


def plain(markdown: str) -> str:
    """Markdown as plain text: links as "text (url)", no code span backticks."""
    return _MD_LINK.sub(r"\1 (\2)", markdown).replace("`", "")


def _markdown_descriptions(root: object) -> None:
    """Each description becomes markdownDescription, and description its plain text."""
    for node in _schemas(root):
        text = node.get("description")
        if isinstance(text, str):
            node["markdownDescription"] = text
            node["description"] = plain(text)


def _build(generator: type[_Documented]) -> dict[str, Any]:
    schema = Spec.model_json_schema(schema_generator=generator)
    _describe_dataset_parameters(schema)
    _allow_expressions(schema)
    schema.setdefault("$defs", {})["Expression"] = copy.deepcopy(_EXPRESSION)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def spec_schema() -> dict[str, Any]:
    schema = _build(_Documented)
    schema["title"] = "runner spec"
    _markdown_descriptions(schema)
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
    schema = _build(_VariantDocumented)
    _drop_required(schema)
    schema["title"] = "runner spec variant"
    schema["properties"] = {"extends": {"type": "string", "description": docs.markdown(docs.EXTENDS)},
                            **schema["properties"]}
    schema["required"] = ["extends"]
    _markdown_descriptions(schema)
    return schema


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
