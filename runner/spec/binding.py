"""`${{ ... }}` references: pipeline parameters, datasets, models and step outputs.

A `${{ parameters.x }}` binding stays a parameter when compiled for Azure (a
PipelineParameter), so a variant that changes only parameters re-submits the same
pipeline. Here we check each reference stands where Azure accepts it, then substitute
the parameter's value (keeping the parameter's own source mark, so a bad value is
reported where it was set) and record the binding for the plan and the compilers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runner.spec.diagnostics import Diagnostic, Path_, did_you_mean, format_path
from runner.spec.tree import Mapping, Node, Scalar, Sequence, child, walk

_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
REFERENCE = re.compile(
    rf"^\$\{{\{{\s*(?:(?P<kind>parameters|datasets|models)\.(?P<name>{_NAME})"
    rf"|steps\.(?P<step>{_NAME})\.outputs\.(?P<output>{_NAME}))\s*\}}\}}$"
)

# Where Azure accepts a PipelineParameter in a ParallelRunStep.
BINDABLE_FIELDS = ("mini_batch_size", "process_count_per_node", "node_count",
                   "logging_level", "run_invocation_timeout", "run_max_try")


@dataclass(frozen=True)
class Reference:
    kind: str  # parameters | datasets | models | steps
    name: str  # parameter, dataset or model name; for steps the step name
    output: str | None = None

    def __str__(self) -> str:
        if self.kind == "steps":
            return f"steps.{self.name}.outputs.{self.output}"
        return f"{self.kind}.{self.name}"


@dataclass(frozen=True)
class Binding:
    """A field of the spec that takes its value from a pipeline parameter."""

    path: Path_
    parameter: str


def parse_reference(text: str) -> Reference | None:
    match = REFERENCE.match(text.strip())
    if not match:
        return None
    if match.group("step"):
        return Reference("steps", match.group("step"), match.group("output"))
    return Reference(match.group("kind"), match.group("name"))


def _slot(path: Path_) -> str | None:
    """What kind of place a path is: 'input', 'argument', 'field', or None."""
    if len(path) == 3 and path[0] == "steps" and path[2] in ("inputs", "side_inputs"):
        return None  # the list itself
    if len(path) == 4 and path[0] == "steps" and path[2] in ("inputs", "side_inputs"):
        return "input"
    if len(path) == 4 and path[0] == "steps" and path[2] == "arguments":
        return "argument"
    if len(path) == 4 and path[0] == "steps" and path[2] == "parallel_run" and path[3] in BINDABLE_FIELDS:
        return "field"
    return None


_ALLOWED = {
    "input": {"datasets", "parameters", "steps"},
    "argument": {"parameters", "models", "datasets", "steps"},
    "field": {"parameters"},
}


def bind_parameters(root: Mapping) -> tuple[list[Binding], list[Diagnostic]]:
    """Check every reference's place and form; substitute parameter values in place."""
    params_entry = root.entries.get("parameters")
    params = params_entry.node.entries if params_entry and isinstance(params_entry.node, Mapping) else {}
    diags: list[Diagnostic] = []
    bindings: list[Binding] = []
    for path, node in list(walk(root)):
        if not (isinstance(node, Scalar) and isinstance(node.value, str) and "${{" in node.value):
            continue
        ref = parse_reference(node.value)
        slot = _slot(path)
        if ref is None:
            diags.append(Diagnostic(node.mark, path, _malformed(node.value)))
            continue
        if slot is None or ref.kind not in _ALLOWED[slot]:
            diags.append(Diagnostic(node.mark, path, _misplaced(ref, path)))
            continue
        if ref.kind != "parameters":
            continue  # datasets, models and step outputs are checked against the spec later
        if ref.name not in params:
            diags.append(Diagnostic(node.mark, path, f"no parameter named '{ref.name}'"
                                                     f"{did_you_mean(ref.name, params)}"))
            continue
        value = params[ref.name].node
        bound = _bound_value(value, node, slot, ref, path, diags)
        if bound is not None:
            _replace(root, path, bound)
            bindings.append(Binding(path, ref.name))
    return bindings, diags


def _bound_value(value: Node, node: Scalar, slot: str, ref: Reference, path: Path_,
                 diags: list[Diagnostic]) -> Scalar | None:
    note = f"bound from parameters.{ref.name}"
    is_dataset = isinstance(value, Mapping) and "dataset" in value.entries
    if slot == "input":
        if not (isinstance(value, Mapping) and "dataset" in value.entries):
            diags.append(Diagnostic(node.mark, path, f"parameters.{ref.name} is not a dataset parameter; "
                                                     "an input needs one: {dataset: <name>}"))
            return None
        dataset = value.entries["dataset"].node
        name = dataset.value if isinstance(dataset, Scalar) else None
        return Scalar(dataset.mark, f"${{{{ datasets.{name} }}}}", bound_from=note)
    if not isinstance(value, Scalar):
        what = "a dataset parameter" if is_dataset else "not a plain value (string, number or boolean)"
        diags.append(Diagnostic(node.mark, path, f"parameters.{ref.name} is {what}; "
                                                 "this field takes a plain value"))
        return None
    return Scalar(value.mark, value.value, secret=value.secret, bound_from=note)


def _replace(root: Mapping, path: Path_, new: Node) -> None:
    """Put `new` at `path`, a path that `walk(root)` yielded."""
    parent: Node = root
    for part in path[:-1]:
        found = child(parent, part)
        if found is None:
            raise LookupError(f"no node at {format_path(path)}")
        parent = found[1]
    last = path[-1]
    if isinstance(parent, Mapping) and isinstance(last, str):
        parent.entries[last].node = new
    elif isinstance(parent, Sequence) and isinstance(last, int):
        parent.items[last] = new
    else:
        raise LookupError(f"no node at {format_path(path)}")


def _malformed(text: str) -> str:
    stripped = text.strip()
    if not (stripped.startswith("${{") and stripped.endswith("}}")) or stripped.count("${{") > 1:
        return "a ${{ ... }} reference must be the whole value, not part of a string"
    return ("malformed reference; expected ${{ parameters.NAME }}, ${{ datasets.NAME }}, "
            "${{ models.NAME }} or ${{ steps.STEP.outputs.NAME }}")


def _misplaced(ref: Reference, path: Path_) -> str:
    if path and path[-1] in ("inputs", "side_inputs", "arguments"):
        return f"{path[-1]} must be a list, e.g. [\"${{{{ {ref} }}}}\"]"
    if ref.kind == "parameters":
        fields = ", ".join(f"parallel_run.{f}" for f in BINDABLE_FIELDS)
        return (f"a parameter cannot be bound here; Azure accepts pipeline parameters only in "
                f"inputs, arguments and {fields}")
    return f"a reference to {ref.kind} cannot stand at {format_path(path)}"
