"""Plan: what a validated spec will do, as plain data. Pure: no processes, no network.

Relative paths resolve against the folder of the file that wrote them (a variant in
another folder keeps its own meaning), and against the working directory for values
given with --set. The plan is what `runner plan` shows and what the engines consume.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from runner.plan.targets import check_target
from runner.spec.binding import parse_reference
from runner.spec.diagnostics import Path_, format_path
from runner.spec.load import LoadedSpec
from runner.spec.models import ParallelRun, Step
from runner.spec.tree import lookup
from runner.spec.types import is_size_string, mini_batch_bytes

DEFAULT_FILES_PER_MINI_BATCH = 10
DEFAULT_BYTES_PER_MINI_BATCH = 1024 * 1024
REDACTED = "***"
_REMOTE = ("azureml://", "https://", "http://", "wasbs://", "abfss://", "adl://")


@dataclass
class ParameterPlan:
    name: str
    value: Any
    base_value: Any  # as the first file of the variant chain sets it (None: not there)
    changed: bool
    set_by: str  # file:line:col or the --set-param flag
    bound_to: list[str] = field(default_factory=list)


@dataclass
class InputPlan:
    reference: str  # datasets.mnist or steps.x.outputs.y
    kind: str  # file | tabular
    location: str  # resolved local path, datastore URI, or the producing step's output
    parameter: str | None = None  # the dataset parameter it is bound through


@dataclass
class StepPlan:
    name: str
    source_directory: str
    entry_script: str
    inputs: list[InputPlan]
    side_inputs: list[InputPlan]
    output: str | None  # the output folder name, or None for summary_only without output
    append_row_file: str | None
    workers: int | None  # node_count x process_count_per_node; None: decided by the VM size
    node_count: int
    process_count_per_node: int | None  # None on Azure: one per core of the VM
    mini_batch: str  # human text: "5 files", "1 MiB of rows", "one per value of (a, b)"
    mini_batch_size: int | None  # files or bytes; None when partition_keys split the data
    partition_keys: list[str] | None
    error_threshold: int
    allowed_failed_count: int | None
    allowed_failed_percent: float | None
    run_max_try: int
    run_invocation_timeout: int
    logging_level: str
    arguments: list[str]
    environment_variables: dict[str, str]
    allow_reuse: bool
    bindings: dict[str, str]  # field -> parameter


@dataclass
class Plan:
    name: str
    experiment: str
    target: str
    source: str
    chain: list[str]
    parameters: list[ParameterPlan]
    steps: list[StepPlan]
    resolved: dict[str, Any]  # the full spec, merged, rendered, bound, defaults filled in


def resolve_path(loaded: LoadedSpec, path: Path_, value: str) -> str:
    """A spec path made usable from the working directory (remote URIs are left alone)."""
    if value.startswith(_REMOTE) or os.path.isabs(value):
        return value
    # A default (not in the tree) is relative to the file that declared the nearest parent.
    node, _, _ = lookup(loaded.tree, path)
    if node.mark.line == 0:
        return os.path.normpath(value)
    trailing = "/" if value.endswith("/") else ""
    return os.path.normpath(os.path.join(os.path.dirname(node.mark.file), value)) + trailing


def build_plan(loaded: LoadedSpec, target: str | None = None, cpu_count: int = 1) -> Plan:
    spec = loaded.spec
    chosen = target or spec.target
    check_target(loaded, chosen, {name: resolve_path(loaded, ("datasets", name, "path"), dataset.path)
                                  for name, dataset in spec.datasets.items()})
    bound_to: dict[str, list[str]] = {}
    for binding in loaded.bindings:
        bound_to.setdefault(binding.parameter, []).append(format_path(binding.path))
    parameters = []
    for name, value in spec.parameters.items():
        node, _, _ = lookup(loaded.tree, ("parameters", name))
        if isinstance(value, dict):  # a dataset parameter: where its dataset name was set
            node, _, _ = lookup(loaded.tree, ("parameters", name, "dataset"))
        base = loaded.base_parameters.get(name)
        changed = base != value
        if ("parameters", name) in loaded.secrets or name in loaded.base_secrets:
            value, base = REDACTED, REDACTED
        parameters.append(ParameterPlan(name, value, base, changed, str(node.mark), bound_to.get(name, [])))
    steps = [_step_plan(loaded, i, step, chosen, cpu_count) for i, step in enumerate(spec.steps)]
    resolved = resolved_spec(loaded)
    resolved["target"] = chosen  # as --target chose it
    return Plan(name=spec.name, experiment=spec.experiment or spec.name, target=chosen, source=loaded.source,
                chain=loaded.chain, parameters=parameters, steps=steps, resolved=resolved)


def resolved_spec(loaded: LoadedSpec) -> dict[str, Any]:
    """The validated spec with every default filled in and secrets hidden."""
    data = loaded.spec.model_dump(mode="json")
    data["experiment"] = data["experiment"] or data["name"]
    # Paths were relative to the file that wrote each; here all are relative to the
    # working directory, so the resolved spec stands on its own there.
    for kind in ("datasets", "models"):
        for name, item in data[kind].items():
            item["path"] = resolve_path(loaded, (kind, name, "path"), item["path"])
    for index, step in enumerate(data["steps"]):
        run = step["parallel_run"]
        run["source_directory"] = resolve_path(loaded, ("steps", index, "parallel_run", "source_directory"),
                                               run["source_directory"])
    for path in loaded.secrets:
        _redact(data, path)
    return data


def _redact(data: Any, path: Path_) -> None:
    for part in path[:-1]:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(data, (dict, list)) and (path[-1] in data if isinstance(data, dict) else path[-1] < len(data)):
        data[path[-1]] = REDACTED


def _inputs(loaded: LoadedSpec, index: int, which: str, step: Step) -> list[InputPlan]:
    out = []
    bound = {b.path: b.parameter for b in loaded.bindings}
    for j, text in enumerate(getattr(step, which)):
        ref = parse_reference(text)
        assert ref is not None  # validated
        if ref.kind == "datasets":
            dataset = loaded.spec.datasets[ref.name]
            location = resolve_path(loaded, ("datasets", ref.name, "path"), dataset.path)
            kind = dataset.kind
        else:
            location, kind = f"output '{ref.output}' of step '{ref.name}'", "file"
        out.append(InputPlan(str(ref), kind, location, bound.get(("steps", index, which, j))))
    return out


def _mini_batch(run: ParallelRun, kind: str) -> tuple[str, int | None]:
    if run.partition_keys:
        return f"one per value of ({', '.join(run.partition_keys)})", None
    if kind == "file":
        size = mini_batch_bytes(run.mini_batch_size) if run.mini_batch_size else DEFAULT_FILES_PER_MINI_BATCH
        return f"{size} file{'s' if size != 1 else ''}", size
    size = mini_batch_bytes(run.mini_batch_size) if run.mini_batch_size else DEFAULT_BYTES_PER_MINI_BATCH
    if run.mini_batch_size is None:
        shown = "1MB"  # Azure's default for tabular inputs
    else:
        shown = run.mini_batch_size if is_size_string(run.mini_batch_size) else f"{size} bytes"
    return f"about {shown} of rows", size


def _step_plan(loaded: LoadedSpec, index: int, step: Step, target: str, cpu_count: int) -> StepPlan:
    run = step.parallel_run
    base: Path_ = ("steps", index)
    inputs = _inputs(loaded, index, "inputs", step)
    text, size = _mini_batch(run, inputs[0].kind if inputs else "file")
    per_node = run.process_count_per_node or (cpu_count if target == "local" else None)
    source_directory = resolve_path(loaded, (*base, "parallel_run", "source_directory"), run.source_directory)
    prefix = len(format_path(base)) + 1
    return StepPlan(
        name=step.name,
        source_directory=source_directory,
        entry_script=os.path.normpath(os.path.join(source_directory, run.entry_script)),
        inputs=inputs,
        side_inputs=_inputs(loaded, index, "side_inputs", step),
        output=step.output.name if step.output else None,
        append_row_file=run.append_row_file_name if run.output_action == "append_row" else None,
        workers=run.node_count * per_node if per_node else None,
        node_count=run.node_count,
        process_count_per_node=per_node,
        mini_batch=text,
        mini_batch_size=size,
        partition_keys=run.partition_keys,
        error_threshold=run.error_threshold,
        allowed_failed_count=run.allowed_failed_count,
        allowed_failed_percent=run.allowed_failed_percent,
        run_max_try=run.run_max_try,
        run_invocation_timeout=run.run_invocation_timeout,
        logging_level=run.logging_level,
        arguments=[REDACTED if (*base, "arguments", j) in loaded.secrets else local_argument(loaded, arg)
                   for j, arg in enumerate(step.arguments)],
        environment_variables={k: (REDACTED if (*base, "parallel_run", "environment_variables", k) in loaded.secrets
                                   else v) for k, v in run.environment_variables.items()},
        allow_reuse=step.allow_reuse,
        bindings={format_path(b.path)[prefix:]: b.parameter for b in loaded.bindings if b.path[:2] == base},
    )


def local_argument(loaded: LoadedSpec, arg: Any) -> str:
    """Arguments as the entry script will see them locally: model references become paths."""
    ref = parse_reference(arg) if isinstance(arg, str) else None
    if ref and ref.kind == "models":
        return resolve_path(loaded, ("models", ref.name, "path"), loaded.spec.models[ref.name].path)
    if ref and ref.kind == "datasets":
        return resolve_path(loaded, ("datasets", ref.name, "path"), loaded.spec.datasets[ref.name].path)
    return str(arg)

