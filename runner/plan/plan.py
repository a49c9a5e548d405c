"""Plan: what a validated spec will do, as plain data. Pure: no processes, no network,
no file system.

Relative paths resolve against the folder of the file that wrote them (a variant in
another folder keeps its own meaning), and against the working directory for values
given with --set; the plan records that directory (`cwd`), which its caller names
(runner/inputs/checks.py reads it, and what the target checks need of the disk).
References are resolved once, in `references.py`. The plan holds real values, secrets
included: the renderers (`runner/render.py`, the compilers' review output) hide what
`secret` marks. It is what `runner plan` shows and the one thing the backends read.
"""

from __future__ import annotations

import dataclasses

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.plan.references import ArgumentPlan, InputPlan, hide, resolve_arguments, resolve_inputs, resolve_path
from runner.spec.diagnostics import Path_, format_path
from runner.spec.tree import lookup

if TYPE_CHECKING:  # the run records import the plan's types: not the models (pydantic) behind them
    from runner.plan.azure import AzurePlan  # built for Azure targets only (build_plan imports it then)
    from runner.plan.targets import DatasetOnDisk
    from runner.spec.load import LoadedSpec
    from runner.spec.models import ParallelRun, Step

DEFAULT_FILES_PER_MINI_BATCH = 10
DEFAULT_BYTES_PER_MINI_BATCH = 1024 * 1024
REDACTED = "***"


@dataclass
class ParameterPlan:
    name: str
    value: Any
    base_value: Any  # as the first file of the variant chain sets it (None: not there)
    changed: bool
    set_by: str  # file:line:col or the --set-param flag
    bound_to: list[str] = field(default_factory=list)
    secret: bool = False  # from a secret variable: renderers show ***


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
    arguments: list[ArgumentPlan]
    environment_variables: dict[str, str]
    allow_reuse: bool
    bindings: dict[str, str]  # field -> parameter
    output_action: str = "append_row"  # append_row | summary_only
    row_format: str = "text"  # append_row_format: text | csv | parquet
    models: dict[str, str] = field(default_factory=dict)  # every model of the spec: name -> path
    secret_env: list[str] = field(default_factory=list)  # environment variables from secrets
    incremental: bool | str = False  # item reuse: True (size, mtime), "digest" (size, SHA-256) or False
    reuse_items: bool = True  # False (`apply --no-reuse`): an incremental step runs every item, a base for the next

    @property
    def kind(self) -> str:
        """file | tabular: what the first input holds (a mini-batch of paths or of rows)."""
        return self.inputs[0].kind if self.inputs else "file"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepPlan:
        data = dict(data)
        data["inputs"] = [InputPlan.from_dict(i) for i in data["inputs"]]
        data["side_inputs"] = [InputPlan.from_dict(i) for i in data["side_inputs"]]
        data["arguments"] = [ArgumentPlan.from_dict(a) for a in data["arguments"]]
        return cls(**data)


@dataclass
class RayPlan:
    """What the ray target needs besides the steps (the spec's `ray:` section, defaults
    filled in)."""

    address: str = "local"
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    pip: list[str] = field(default_factory=list)


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
    secrets: list[list[Any]] = field(default_factory=list)  # paths in `resolved` that hold secrets
    cwd: str = ""  # the working directory relative paths start from
    azure: AzurePlan | None = None  # what an Azure target needs besides the steps (None: local)
    ray: RayPlan | None = None  # what the ray target needs (None: another target)

    def without_reuse(self) -> Plan:
        """The plan with every step run again, whatever its allow_reuse and incremental
        (`apply --no-reuse`): locally no earlier run's output is linked or copied (an
        incremental step still records its items, for the next run to reuse); on Azure ML each step is
        submitted with allow_reuse false (v1) / is_deterministic false (v2)."""
        return dataclasses.replace(self, steps=[dataclasses.replace(s, allow_reuse=False, reuse_items=False)
                                                for s in self.steps])


def build_plan(loaded: LoadedSpec, *, cwd: str, datasets: Mapping[str, DatasetOnDisk], target: str | None = None,
               processes_per_node: int | None = None) -> Plan:
    """`cwd`: the working directory relative paths start from. `datasets`: what is on
    disk at each dataset's path, for the target's refusals. `processes_per_node` stands
    where the spec leaves process_count_per_node out: the backend's own default (the
    local engine: one per CPU; Azure: None, the VM decides)."""
    from runner.plan.targets import AZURE_TARGETS, check_target

    spec = loaded.spec
    chosen = target or spec.target
    check_target(loaded, chosen, datasets)
    steps = [_step_plan(loaded, i, step, processes_per_node) for i, step in enumerate(spec.steps)]
    resolved = resolved_spec(loaded)
    resolved["target"] = chosen  # as --target chose it
    return Plan(name=spec.name, experiment=spec.experiment or spec.name, target=chosen, source=loaded.source,
                chain=loaded.chain, parameters=_parameters(loaded), steps=steps, resolved=resolved,
                secrets=[list(path) for path in sorted(loaded.secrets, key=str)], cwd=cwd,
                azure=_azure(loaded) if chosen in AZURE_TARGETS else None,
                ray=_ray(loaded) if chosen == "ray" else None)


def _azure(loaded: LoadedSpec) -> AzurePlan:
    from runner.plan.azure import azure_plan  # ~4 ms of types a local run never needs

    return azure_plan(loaded)


def _ray(loaded: LoadedSpec) -> RayPlan:
    ray = loaded.spec.ray
    if ray is None:
        return RayPlan()
    return RayPlan(ray.address, ray.cpus_per_worker, ray.gpus_per_worker, list(ray.pip))


def _parameters(loaded: LoadedSpec) -> list[ParameterPlan]:
    bound_to: dict[str, list[str]] = {}
    for binding in loaded.bindings:
        bound_to.setdefault(binding.parameter, []).append(format_path(binding.path))
    parameters = []
    for name, value in loaded.spec.parameters.items():
        node, _, _ = lookup(loaded.tree, ("parameters", name))
        if isinstance(value, dict):  # a dataset parameter: where its dataset name was set
            node, _, _ = lookup(loaded.tree, ("parameters", name, "dataset"))
        base = loaded.base_parameters.get(name)
        secret = ("parameters", name) in loaded.secrets or name in loaded.base_secrets
        parameters.append(ParameterPlan(name, hide(value, secret), hide(base, secret), base != value, str(node.mark),
                                        bound_to.get(name, []), secret))
    return parameters


def resolved_spec(loaded: LoadedSpec) -> dict[str, Any]:
    """The validated spec with every default filled in, secrets included (a renderer
    hides the paths in `Plan.secrets`)."""
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
        _mark_secret(data, path)
    return data


def _mark_secret(data: Any, path: Path_) -> None:
    for part in path[:-1]:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return
    last = path[-1]
    if isinstance(data, dict) and last in data:
        data[last] = hide(data[last], True)
    elif isinstance(data, list) and isinstance(last, int) and last < len(data):
        data[last] = hide(data[last], True)


def _mini_batch(run: ParallelRun, kind: str) -> tuple[str, int | None]:
    from runner.spec.types import is_size_string, mini_batch_bytes

    if run.partition_keys:
        return f"one per value of ({', '.join(run.partition_keys)})", None
    if kind == "file":
        size = mini_batch_bytes(run.mini_batch_size) if run.mini_batch_size else DEFAULT_FILES_PER_MINI_BATCH
        return f"{size} file{'s' if size != 1 else ''}", size
    size = mini_batch_bytes(run.mini_batch_size) if run.mini_batch_size else DEFAULT_BYTES_PER_MINI_BATCH
    shown: int | str
    if run.mini_batch_size is None:
        shown = "1MB"  # Azure's default for tabular inputs
    else:
        shown = run.mini_batch_size if is_size_string(run.mini_batch_size) else f"{size} bytes"
    return f"about {shown} of rows", size


def _step_plan(loaded: LoadedSpec, index: int, step: Step, processes_per_node: int | None) -> StepPlan:
    run = step.parallel_run
    base: Path_ = ("steps", index)
    inputs = resolve_inputs(loaded, index, "inputs")
    text, size = _mini_batch(run, inputs[0].kind if inputs else "file")
    per_node = run.process_count_per_node or processes_per_node
    source_directory = resolve_path(loaded, (*base, "parallel_run", "source_directory"), run.source_directory)
    prefix = len(format_path(base)) + 1
    env_path = (*base, "parallel_run", "environment_variables")
    return StepPlan(
        name=step.name,
        source_directory=source_directory,
        entry_script=os.path.normpath(os.path.join(source_directory, run.entry_script)),
        inputs=inputs,
        side_inputs=resolve_inputs(loaded, index, "side_inputs"),
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
        arguments=resolve_arguments(loaded, index),
        environment_variables={k: hide(str(v), (*env_path, k) in loaded.secrets)
                               for k, v in run.environment_variables.items()},
        allow_reuse=step.allow_reuse,
        bindings={format_path(b.path)[prefix:]: b.parameter for b in loaded.bindings if b.path[:2] == base},
        output_action=run.output_action,
        row_format=run.append_row_format,
        models={name: hide(resolve_path(loaded, ("models", name, "path"), model.path),
                           ("models", name, "path") in loaded.secrets)
                for name, model in loaded.spec.models.items()},
        secret_env=[k for k in run.environment_variables if (*env_path, k) in loaded.secrets],
        incremental=step.incremental,
    )
