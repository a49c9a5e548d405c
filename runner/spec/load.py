"""Load a spec: read, merge its variant chain, apply overrides, render templates, bind
parameters, validate with the models, check cross-field rules, and report every problem
at once with its file:line:col and field path.
"""

from __future__ import annotations

import dataclasses

import types
import typing
from collections.abc import Mapping as AbcMapping
from collections.abc import Sequence as AbcSequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from runner.spec.binding import Binding, bind_parameters
from runner.spec.checks import check_spec
from runner.spec.diagnostics import Diagnostic, Path_, SpecError, did_you_mean, format_path, unique_sorted
from runner.spec.models import Spec
from runner.spec.leaks import literal_secrets, secret_names
from runner.spec.secrets import redact
from runner.spec.templating import render_tree, secret_paths
from runner.spec.tree import Mapping, Plain, Scalar, lookup, to_plain, walk
from runner.spec.variants import Reader, apply_set, apply_set_param, load_with_extends, read_spec_file


@dataclass
class LoadedSpec:
    """A validated spec and everything `plan` and the compilers need to know about it."""

    spec: Spec  # parameters bound: the values a local run uses
    source: str  # the file as named in messages
    chain: list[str]  # the variant chain, base first
    bindings: list[Binding]  # fields that stay pipeline parameters on Azure
    tree: Mapping  # bound values with their source marks (provenance)
    # Plain data (tree.Plain), typed Any so that the compilers can index into it as the
    # models lay it out without re-checking each level's type.
    secrets: set[Path_] = field(default_factory=set)
    base_parameters: dict[str, Any] = field(default_factory=dict)  # the first file's own
    base_secrets: set[str] = field(default_factory=set)  # base parameters read from secret variables
    sources: dict[str, str] = field(default_factory=dict)  # each file's text as loaded: later errors' snippets


def load_spec(path: str, sets: AbcSequence[str] = (), set_params: AbcSequence[str] = (),
              environ: AbcMapping[str, str] | None = None, text: str | None = None,
              reader: Reader | None = None, target: str | None = None) -> LoadedSpec:
    """`text`: the spec itself (standard input), named `path` in messages (variants.py).
    `reader`: reads the spec and its bases from elsewhere (a git revision, `plan --against`).
    `target`: what it is loaded for (default: the spec's own); only Azure targets read
    the `azure:` section, so locally it is not held against the spec (_for_target).
    A SpecError carries the texts it was found in, so its snippets show what was validated."""
    sources: dict[str, str] = {}
    try:
        return _load_spec(path, sets, set_params, environ, text, reader, sources, target)
    except SpecError as exc:
        raise exc.with_sources(sources) from None


def _load_spec(path: str, sets: AbcSequence[str], set_params: AbcSequence[str],
               environ: AbcMapping[str, str] | None, text: str | None, reader: Reader | None,
               sources: dict[str, str], target: str | None) -> LoadedSpec:
    tree, chain = load_with_extends(path, text, reader, sources)
    for assignment in sets:
        apply_set(tree, assignment)
    for assignment in set_params:
        apply_set_param(tree, assignment)
    chosen = _chosen_target(tree, target)
    azure = chosen in _AZURE_TARGETS
    diags = _for_target(tree, render_tree(tree, environ), {"azure": azure, "ray": chosen == "ray"})
    bindings, binding_diags = bind_parameters(tree)
    diags += binding_diags
    spec, found = _validate(tree)
    # An unknown key is reported as unknown whatever its value (a binding or template in it
    # is not the problem); other field errors only where nothing was reported yet.
    unknown = {d.path for d in found if d.message.startswith("unknown field")}
    diags = [d for d in diags if d.path not in unknown]
    reported = {d.path for d in diags}
    diags += [d for d in found if d.path not in reported]
    diags += literal_secrets(tree) + secret_names(tree)
    reported = {d.path for d in diags}
    diags += [diagnostic_at(tree, p, msg) for p, msg in _rules(spec, tree, azure) if p not in reported]
    diags = _drop_echoes(diags)
    if diags:
        raise SpecError(unique_sorted(_redacted(diags, tree)))
    assert spec is not None
    base_parameters, base_secrets = _base_parameters(chain, path, environ, text, reader,
                                                     None if sets or set_params else tree)
    return LoadedSpec(spec=spec, source=chain[-1], chain=chain, bindings=bindings, tree=tree,
                      secrets=secret_paths(tree),
                      base_parameters=base_parameters, base_secrets=base_secrets, sources=sources)


def _validate(tree: Mapping) -> tuple[Spec | None, list[Diagnostic]]:
    try:
        return Spec.model_validate(to_plain(tree)), []
    except ValidationError as exc:
        return None, _from_pydantic(exc, tree)


def _chosen_target(tree: Mapping, target: str | None) -> str:
    """The target the spec is loaded for: `target`, else its own `target:`."""
    entry = tree.entries.get("target")
    own = entry.node.value if entry is not None and isinstance(entry.node, Scalar) else None
    return str(target or own or "local")


_AZURE_TARGETS = ("azureml", "azureml-v2")  # as runner.plan.targets names them (plan imports spec, not back)


def _for_target(tree: Mapping, diags: list[Diagnostic], reads: dict[str, bool]) -> list[Diagnostic]:
    """The template errors that count. Only an Azure target reads the `azure:` section, only
    the ray target `ray:`: for another target a template there that cannot be rendered (a
    variable set only where such jobs are submitted) takes the section out, as if the spec
    had none, not an error."""
    for section, read in reads.items():
        if read or not any(d.path[:1] == (section,) for d in diags):
            continue
        tree.entries.pop(section, None)
        diags = [d for d in diags if d.path[:1] != (section,)]
    return diags


def _rules(spec: Spec | None, tree: Mapping, azure: bool) -> list[tuple[Path_, str]]:
    """The cross-field rules, over the whole spec or, when some parts failed validation,
    over the parts that passed: every error comes in one round."""
    if spec is not None:
        return check_spec(spec, azure=azure)
    from runner.spec.partial import partial_spec  # only an invalid spec pays for its adapters

    partial = partial_spec(to_plain(tree))
    return check_spec(*partial, azure=azure) if partial is not None else []


def _redacted(diags: list[Diagnostic], tree: Mapping) -> list[Diagnostic]:
    """No message echoes a value read from a secret variable (`'***' does not match ...`)."""
    secrets = [str(node.value) for _, node in walk(tree) if isinstance(node, Scalar) and node.secret
               and node.value is not None]
    if not secrets:
        return diags
    return [dataclasses.replace(d, message=redact(d.message, secrets), note=redact(d.note, secrets),
                                hidden=(*d.hidden, *secrets)) for d in diags]


def _drop_echoes(diags: list[Diagnostic]) -> list[Diagnostic]:
    """A bad parameter is reported once, where it is set, not again at every field it is bound to."""
    bad = {d.path[1] for d in diags if len(d.path) >= 2 and d.path[0] == "parameters"}
    return [d for d in diags if not any(d.note == f"bound from parameters.{name}" for name in bad)]


def _base_parameters(chain: list[str], path: str, environ: AbcMapping[str, str] | None,
                     text: str | None = None, reader: Reader | None = None,
                     loaded: Mapping | None = None) -> tuple[dict[str, Plain], set[str]]:
    """Parameters as the first file of the chain sets them, to show what a variant changed.
    `loaded`: the spec's own tree, rendered, where nothing overrode it: a spec that extends
    nothing is its own first file (not read, parsed and rendered again: a tenth of `validate`)."""
    if len(chain) == 1 and loaded is not None:
        base = loaded
    else:
        if len(chain) == 1:
            base = read_spec_file(path, chain[0], text, reader)
            base.entries.pop("extends", None)
        else:
            base = read_spec_file(chain[0], chain[0], reader=reader)
        render_tree(base, environ)
    params = base.entries.get("parameters")
    if not (params and isinstance(params.node, Mapping)):
        return {}, set()
    secret = {path[1] for path in secret_paths(base) if len(path) > 1 and path[0] == "parameters"}
    return to_plain(params.node), {str(name) for name in secret}


def diagnostic_at(tree: Mapping, path: Path_, message: str) -> Diagnostic:
    """A problem at a field of the spec, marked where its value was written."""
    node, key_mark, matched = lookup(tree, path)
    note = node.bound_from if isinstance(node, Scalar) and node.bound_from else ""
    return Diagnostic(node.mark if matched == path else key_mark, path, message, note)


def _from_pydantic(exc: ValidationError, tree: Mapping) -> list[Diagnostic]:
    out = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        node, key_mark, matched = lookup(tree, loc)
        kind = error["type"]
        if kind == "dataset_kind":  # point at the kind itself, not at the dataset
            node, key_mark, matched = lookup(tree, (*loc, "kind"))
        note = node.bound_from if isinstance(node, Scalar) and node.bound_from else ""
        if kind == "extra_forbidden":
            key = matched[-1]
            out.append(Diagnostic(key_mark, matched, _unknown_field(str(key), matched[:-1], tree)))
        elif kind == "missing":
            missing = loc[-1]
            out.append(Diagnostic(node.mark, (*matched, missing), f"missing required field '{missing}'"))
        else:
            message = error["msg"].removeprefix("Value error, ")
            out.append(Diagnostic(node.mark, matched, _friendlier(message, error), note))
    return out


def _friendlier(message: str, error: ErrorDetails) -> str:
    kind = error["type"]
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a mapping of fields"
    if kind == "list_type":
        return "must be a list"
    if kind == "string_type" and isinstance(error["input"], (int, float)):
        return f"must be a string: put it in quotes, or YAML reads it as the number {error['input']}"
    if kind == "literal_error":
        return f"must be one of {error['ctx']['expected']}"
    if kind == "string_pattern_mismatch":
        return f"'{error['input']}' does not match {error['ctx']['pattern']}"
    return message


def _unknown_field(key: str, parent: Path_, tree: Mapping) -> str:
    """'unknown field' with the best hint: the field of the same name one level down or
    up (a mis-indented key says where it belongs), else the closest name at this level."""
    model = _model_at(parent, tree)
    fields = list(model.model_fields) if model else []
    for name, child in _child_models(model):
        if key in child.model_fields:
            return f"unknown field '{key}' here; it belongs under {name}: {format_path((*parent, name, key))}"
    for depth in range(len(parent) - 1, -1, -1):
        up = _model_at(parent[:depth], tree)
        if up is not None:
            if key in up.model_fields:
                where = format_path(parent[:depth]) if depth else "the top level"
                return f"unknown field '{key}' here; it belongs one level up, in {where}"
            break
    return f"unknown field '{key}'{did_you_mean(key, fields)}"


def _child_models(model: type[BaseModel] | None) -> list[tuple[str, type[BaseModel]]]:
    """The fields of `model` that are themselves models (optional or not)."""
    out = []
    for name, info in (model.model_fields.items() if model else ()):
        members = [a for a in typing.get_args(info.annotation) if a is not type(None)] or [info.annotation]
        out += [(name, m) for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    return out


def _model_at(path: Path_, tree: Mapping) -> type[BaseModel] | None:
    """The model that validates the mapping at `path`, or None (a list, a dict, a value)."""
    annotation: object = Spec
    for depth, part in enumerate((*path, None)):
        annotation = _model_of(annotation, path[:depth], tree)
        if part is None:
            break
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(str(part))
            if info is None:
                return None
            annotation = info.annotation
        else:
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            origin = typing.get_origin(annotation)
            annotation = args[-1] if origin in (list, dict) and args else annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _model_of(annotation: object, path: Path_, tree: Mapping) -> object:
    """Unwrap Optional/Annotated/unions down to a model (picking the union member by `kind`)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    members = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        unwrapped = [_model_of(m, path, tree) for m in members]
        models = [m for m in unwrapped if isinstance(m, type) and issubclass(m, BaseModel)]
        node, _, matched = lookup(tree, (*path, "kind"))
        kind = node.value if matched == (*path, "kind") and isinstance(node, Scalar) else None
        for model in models:
            literal = model.model_fields.get("kind")
            if literal and kind in typing.get_args(literal.annotation):
                return model
        return models[0] if models else annotation
    return annotation

