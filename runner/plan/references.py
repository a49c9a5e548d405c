"""The one place `${{ ... }}` references and spec paths are resolved.

Each input, side input and argument of a step becomes a typed `InputPlan` or
`ArgumentPlan` here, once: what it names (a dataset, a model, another step's output),
where that is (a path from the working directory, or a remote URI), and the pipeline
parameter it was bound through. The local engine and both Azure compilers read these;
none of them parses a reference again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# Workers import InputPlan (unpickling their config): neither the models (pydantic) behind
# LoadedSpec nor the spec's tree and references, which only planning uses (imported there).
if TYPE_CHECKING:
    from runner.spec.diagnostics import Path_
    from runner.spec.load import LoadedSpec

# Paths that name data elsewhere, never on this machine. `azureml:<name>:<version>` is a
# registered data asset; the others are datastore or storage URIs. The local engine reads
# object storage (s3, gs, az/abfs(s), http(s): runner/inputs/remote.py); the rest is Azure's.
# Object storage only the local engine reads (through fsspec): Azure ML cannot mount these.
FSSPEC_ONLY_PREFIXES = ("s3://", "gs://", "gcs://", "az://", "abfs://")
REMOTE_PREFIXES = ("azureml://", "azureml:", "https://", "http://", "wasbs://", "abfss://", "adl://",
                   *FSSPEC_ONLY_PREFIXES)
# The file that makes a folder a v2 MLTable: not a data file of the table.
MLTABLE = "MLTable"


class Secret(str):
    """A real value read from a secret variable. The plan keeps it (a backend needs it);
    its repr shows *** so a plan printed by accident (a traceback, a debug log) leaks
    nothing, and the renderers show *** for it."""

    def __repr__(self) -> str:
        return "'***'"


def hide(value: Any, secret: bool) -> Any:
    """`value`, marked as a secret when it is text from a secret variable."""
    return Secret(value) if secret and isinstance(value, str) else value


def is_remote(path: str) -> bool:
    return path.startswith(REMOTE_PREFIXES)


def resolve_path(loaded: LoadedSpec, path: Path_, value: str) -> str:
    """A spec path made usable from the working directory (remote URIs are left alone).
    Relative paths are relative to the file that set them, so a variant in another
    folder keeps its own meaning; a default (not in any file) to the working directory."""
    from runner.spec.tree import lookup

    if is_remote(value) or os.path.isabs(value):
        return value
    node, _, _ = lookup(loaded.tree, path)
    if node.mark.line == 0:
        return os.path.normpath(value)
    trailing = "/" if value.endswith("/") else ""
    return os.path.normpath(os.path.join(os.path.dirname(node.mark.file), value)) + trailing


@dataclass
class InputPlan:
    """What one reference names, resolved."""

    reference: str  # datasets.mnist | models.m | steps.a.outputs.o
    kind: str  # file | tabular | model
    location: str  # from the working directory, or a remote URI; "" for a step's output
    parameter: str | None = None  # the dataset parameter it is bound through
    step: str | None = None  # for a step's output: the step that writes it
    output: str | None = None  # ... and the output's name
    manifest: bool = False
    format: str | None = None  # tabular: csv | parquet | jsonl (None: from each file's suffix)
    delimiter: str = ","
    header: bool = True
    encoding: str = "utf-8"
    partition_format: str | None = None
    secret: bool = False  # a location from a secret variable (a URL with a token): shown as ***

    @property
    def name(self) -> str:
        """The dataset, model or output name."""
        return self.output or "" if self.step else self.reference.split(".", 1)[1]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputPlan:
        return cls(**data)


@dataclass
class ArgumentPlan:
    """One entry script argument: a value, or a reference that becomes a path."""

    value: str  # the real value (a reference's location; secrets included)
    input: InputPlan | None = None  # what a reference names
    parameter: str | None = None  # the pipeline parameter it is bound to (kept one on Azure v1)
    secret: bool = False  # from a secret variable: renderers show ***

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArgumentPlan:
        data = dict(data)
        if data.get("input") is not None:
            data["input"] = InputPlan.from_dict(data["input"])
        return cls(**data)


def resolve_input(loaded: LoadedSpec, text: str, parameter: str | None = None) -> InputPlan:
    """A validated reference as an input: a dataset, a model or a step's output."""
    from runner.spec.binding import parse_reference

    ref = parse_reference(text)
    assert ref is not None and ref.kind != "parameters"  # bound and validated by spec/
    if ref.kind == "steps":
        return InputPlan(str(ref), "file", "", parameter, step=ref.name, output=ref.output)
    if ref.kind == "models":
        model = loaded.spec.models[ref.name]
        secret = ("models", ref.name, "path") in loaded.secrets
        location = hide(resolve_path(loaded, ("models", ref.name, "path"), model.path), secret)
        return InputPlan(str(ref), "model", location, parameter, secret=secret)
    dataset = loaded.spec.datasets[ref.name]
    secret = ("datasets", ref.name, "path") in loaded.secrets
    location = hide(resolve_path(loaded, ("datasets", ref.name, "path"), dataset.path), secret)
    item = InputPlan(str(ref), dataset.kind, location, parameter, manifest=dataset.manifest,
                     partition_format=dataset.partition_format, secret=secret)
    if dataset.kind == "tabular":
        item.format, item.delimiter = dataset.format, dataset.delimiter
        item.header, item.encoding = dataset.header, dataset.encoding
    return item


def resolve_inputs(loaded: LoadedSpec, index: int, which: str) -> list[InputPlan]:
    """A step's inputs or side_inputs (`which`), with the parameter each was bound through."""
    bound = {b.path: b.parameter for b in loaded.bindings}
    step = loaded.spec.steps[index]
    return [resolve_input(loaded, text, bound.get(("steps", index, which, j)))
            for j, text in enumerate(getattr(step, which))]


def resolve_arguments(loaded: LoadedSpec, index: int) -> list[ArgumentPlan]:
    """A step's arguments with real values: a model or dataset reference becomes its path;
    a step output's path is known only to the backend that runs it (value "")."""
    from runner.spec.binding import parse_reference

    bound = {b.path: b.parameter for b in loaded.bindings}
    out = []
    for j, arg in enumerate(loaded.spec.steps[index].arguments):
        path = ("steps", index, "arguments", j)
        ref = parse_reference(arg) if isinstance(arg, str) else None
        item = resolve_input(loaded, str(arg), bound.get(path)) if ref is not None else None
        value = item.location if item is not None else str(arg)
        secret = path in loaded.secrets or (item is not None and item.secret)
        out.append(ArgumentPlan(hide(value, secret), item, bound.get(path), secret))
    return out
