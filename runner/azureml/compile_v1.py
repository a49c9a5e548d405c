"""Compile a plan to what the tutorial builds by hand with SDK v1, as plain data.

The result is what `runner plan --target azureml` prints and what `build_v1` turns into
real azureml-core / azureml-pipeline-steps objects, so the plan a reviewer reads and
the pipeline that is submitted cannot drift apart. Pure: no SDK import, no network.

Each `${{ parameters.x }}` binding stays a PipelineParameter whose default is the value
the *base* spec file gives; a variant's own values are submitted as
`pipeline_parameters=`, exactly as the tutorial's second run re-submits its pipeline.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from runner.plan.azure import AzureDatastore, AzurePlan
from runner.plan.plan import REDACTED, Plan, StepPlan
from runner.plan.references import ArgumentPlan, InputPlan, Secret, is_remote
from runner.runs.outcome import BackendError

# Azure requires these in the environment of every ParallelRunStep (it warns otherwise,
# and file datasets cannot be mounted without fuse).
REQUIRED_PIP = ("azureml-core", "azureml-dataset-runtime[pandas,fuse]")
_DATA_ASSET = re.compile(r"^azureml:(?!//)(?P<name>[^:@/]+)(?::(?P<version>[^:@/]+)|@latest)?$")
_DATASTORE_URI = re.compile(r"^azureml://datastores/(?P<store>[^/]+)/paths/(?P<path>.*)$")
INT_FIELDS = ("process_count_per_node", "node_count", "run_invocation_timeout", "run_max_try")


def azure_of(plan: Plan) -> AzurePlan:
    """The plan's Azure part (built for an Azure target only)."""
    if plan.azure is None:
        raise BackendError(f"a plan for target {plan.target} has no Azure resources to compile")
    return plan.azure


def shown(value: Any, reveal: bool) -> Any:
    """A value as the compiled pipeline shows it: *** when it came from a secret variable;
    revealed, the text itself (the YAML writer and the SDKs take plain strings)."""
    if isinstance(value, Secret):
        return str(value) if reveal else REDACTED
    return value


def environment(plan: Plan, reveal: bool) -> dict[str, Any]:
    """The environment's packages, with those Azure requires of every ParallelRunStep."""
    env = azure_of(plan).environment
    pip = [shown(p, reveal) for p in env.pip]
    return {"name": env.name, "python_version": env.python_version,
            "conda_packages": [shown(p, reveal) for p in env.conda],
            "pip_packages": with_required(pip, REQUIRED_PIP),
            "docker_base_image": shown(env.docker_base_image, reveal)}


def input_name(text: str) -> str:
    """A DatasetConsumptionConfig / job input name: letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def data_asset(path: str) -> tuple[str, str] | None:
    """`azureml:<name>:<version>` (or `azureml:<name>@latest`): a registered data asset."""
    match = _DATA_ASSET.match(path)
    return (match.group("name"), match.group("version") or "latest") if match else None


def datastore_path(path: str) -> tuple[str, str] | None:
    match = _DATASTORE_URI.match(path)
    return (match.group("store"), match.group("path")) if match else None


def compile_v1(plan: Plan, reveal: bool = False, code: dict[str, str] | None = None) -> dict[str, Any]:
    """The SDK v1 pipeline as data. `reveal` keeps secret values (for building the real
    objects); without it they are shown as *** (for the plan). `code`: step -> the folder
    its code was copied to (runner.azureml.code), uploaded instead of source_directory."""
    azure = azure_of(plan)
    return {
        "target": "azureml",
        **resources(plan, reveal),
        "environment": environment(plan, reveal),
        "models": models(plan),
        "datasets": {name: _dataset(plan, name, reveal) for name in azure.used},
        "parameters": _parameters(azure, reveal),
        "steps": [_step(plan, index, reveal, code or {}) for index in range(len(plan.steps))],
        "submit": {"experiment": plan.experiment, "pipeline_parameters": _overrides(azure, reveal)},
    }


def models(plan: Plan) -> dict[str, Any]:
    """Each model as Model.register takes it (its path shown as written: a view hides a
    secret one with the plan's other secret values)."""
    return {name: {"path": str(model.path), "tags": model.tags, "description": model.description}
            for name, model in azure_of(plan).models.items()}


def resources(plan: Plan, reveal: bool = False) -> dict[str, Any]:
    """The workspace, compute and datastores: the same for both SDKs."""
    azure = azure_of(plan)
    return {"workspace": _workspace(azure, reveal), "compute": dataclasses.asdict(azure.compute),
            "datastores": {name: _datastore(store, reveal) for name, store in azure.datastores.items()}}


_REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9._-]+)\s*(?:\[(?P<extras>[^\]]*)\])?(?P<rest>.*)$")


def _parts(requirement: str) -> tuple[str, list[str], str] | None:
    """(normalised name, extras, the rest: version and markers) of a pip requirement."""
    match = _REQUIREMENT.match(requirement)
    if not match:
        return None
    extras = [e.strip() for e in (match.group("extras") or "").split(",") if e.strip()]
    return re.sub(r"[-_.]+", "-", match.group("name")).lower(), extras, match.group("rest")


def _has_package(packages: list[str], wanted: str) -> bool:
    parts = _parts(wanted)
    return parts is not None and any((_parts(p) or ("",))[0] == parts[0] for p in packages)


def with_required(packages: list[str], required: tuple[str, ...] | list[str]) -> list[str]:
    """The spec's pip packages plus what Azure requires. A package the spec already lists
    keeps its version, and takes the extras the requirement needs besides its own
    (`azureml-dataset-runtime[fuse]` becomes `[fuse,pandas]`: a tabular input needs pandas)."""
    out = list(packages)
    for wanted in required:
        need = _parts(wanted)
        assert need is not None
        for index, package in enumerate(out):
            have = _parts(package)
            if have is None or have[0] != need[0]:
                continue
            missing = [e for e in need[1] if e not in have[1]]
            if missing and not isinstance(package, Secret):
                name = package.split("[", 1)[0].rstrip() if "[" in package else package[:len(package) - len(have[2])]
                out[index] = f"{name.strip()}[{','.join(have[1] + missing)}]{have[2]}"
            break
        else:
            out.append(wanted)
    return out


def _workspace(azure: AzurePlan, reveal: bool) -> dict[str, Any]:
    ws = azure.workspace
    if ws.config is None:
        return {"subscription_id": shown(ws.subscription_id, reveal), "resource_group": shown(ws.resource_group, reveal),
                "name": shown(ws.name, reveal)}
    return {"config": ws.config}


def _datastore(store: AzureDatastore, reveal: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"container_name": store.container_name, "account_name": store.account_name}
    for key, secret in (("account_key", store.account_key), ("sas_token", store.sas_token)):
        if secret is not None:
            out[key] = shown(secret, reveal)
    return out


def _dataset(plan: Plan, name: str, reveal: bool) -> dict[str, Any]:
    dataset = azure_of(plan).datasets[name]
    out: dict[str, Any] = {"kind": dataset.kind}
    if shown(dataset.path, reveal) == REDACTED:
        return {**out, "url": REDACTED}  # a URL with a SAS token in it, say
    path = str(dataset.path)
    remote = datastore_path(path)
    asset = data_asset(path)
    if asset:
        out.update(asset=asset[0], version=asset[1])
    elif remote:
        out.update(datastore=remote[0], path=remote[1])
    elif is_remote(path):
        out.update(url=path)
    else:
        # Uploaded to the default datastore under a folder named by a digest of the files
        # (computed at apply), so unchanged data is not uploaded twice.
        out.update(local=path, upload_to=f"runner/{plan.name}/{name}")
    if dataset.kind == "tabular":
        suffix = path.rstrip("/").rsplit(".", 1)[-1].lower()
        out.update(format=dataset.format or (suffix if suffix in ("parquet", "jsonl") else "csv"),
                   delimiter=dataset.delimiter, header=dataset.header, encoding=dataset.encoding)
    if dataset.partition_format:
        out["partition_format"] = dataset.partition_format
    return out


def _typed(field: str | None, value: Any) -> Any:
    """A parameter's value typed by the field it binds to ("{{ 1+2 }}" renders as "3")."""
    if field in INT_FIELDS and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if field == "mini_batch_size" and not isinstance(value, dict):
        return str(value)  # ParallelRunStep takes a string (files, or "1MB" for rows)
    return value


def parameter_value(value: Any, field: str | None, secret: bool, reveal: bool) -> Any:
    """A parameter's value as the pipeline takes it: typed by its field, *** if secret."""
    if secret and not reveal:
        return REDACTED
    typed = _typed(field, value)
    return str(typed) if isinstance(typed, Secret) else typed


def _parameters(azure: AzurePlan, reveal: bool) -> dict[str, Any]:
    """PipelineParameter defaults: the base spec's values (a variant submits its own)."""
    return {name: parameter_value(p.base, p.field, p.secret, reveal) for name, p in azure.parameters.items()}


def _overrides(azure: AzurePlan, reveal: bool) -> dict[str, Any]:
    return {name: parameter_value(p.value, p.field, p.secret, reveal) for name, p in azure.parameters.items()
            if _typed(p.field, p.value) != _typed(p.field, p.base)}


def reference(item: InputPlan) -> dict[str, Any]:
    """What a resolved reference is in the compiled pipeline: the dataset parameter it was
    bound through (kept one), another step's output, a model or a dataset."""
    if item.parameter:
        return {"parameter": item.parameter, "input_name": input_name(item.parameter)}
    if item.step:
        return {"step_output": item.step, "output": item.output, "input_name": input_name(item.output or "")}
    if item.kind == "model":
        return {"model": item.name, "input_name": input_name("model_" + item.name)}
    return {"dataset": item.name, "input_name": input_name(item.name)}


def argument(arg: ArgumentPlan, reveal: bool) -> Any:
    """An entry script argument: a reference, a scalar parameter, or its text."""
    if arg.input is not None:
        return reference(arg.input)
    if arg.parameter:
        return {"parameter": arg.parameter}
    return REDACTED if arg.secret and not reveal else str(arg.value)


def env_values(step: StepPlan, reveal: bool) -> dict[str, str]:
    return {k: REDACTED if k in step.secret_env and not reveal else str(v)
            for k, v in step.environment_variables.items()}


def _step(plan: Plan, index: int, reveal: bool, code: dict[str, str]) -> dict[str, Any]:
    step_plan = plan.steps[index]
    step = azure_of(plan).steps[index]
    arguments = [argument(arg, reveal) for arg in step_plan.arguments]
    side_inputs = [reference(item) for item in step_plan.side_inputs]
    for ref in arguments:
        if isinstance(ref, dict) and "input_name" in ref and ref not in side_inputs:
            side_inputs.append(ref)  # Azure mounts what an argument names only as a side input
    config: dict[str, Any] = {
        "source_directory": code.get(step_plan.name, step_plan.source_directory),
        "entry_script": step.entry_script,
        "mini_batch_size": step.mini_batch_size,
        "error_threshold": step_plan.error_threshold,
        "allowed_failed_count": step_plan.allowed_failed_count,
        "allowed_failed_percent": step_plan.allowed_failed_percent,
        "output_action": step_plan.output_action,
        "append_row_file_name": step_plan.append_row_file,
        "process_count_per_node": step.process_count_per_node,
        "node_count": step_plan.node_count,
        "logging_level": step_plan.logging_level,
        "run_invocation_timeout": step_plan.run_invocation_timeout,
        "run_max_try": step_plan.run_max_try,
        "partition_keys": step_plan.partition_keys,
        "environment_variables": env_values(step_plan, reveal),
        "description": step.run_description,
    }
    for field, parameter in step.bound.items():
        config[field] = {"parameter": parameter}
    return {
        "name": step_plan.name,
        "inputs": [reference(item) for item in step_plan.inputs],
        "side_inputs": side_inputs,
        "output": {"name": step_plan.output, "datastore": step.output_datastore} if step_plan.output else None,
        "arguments": arguments,
        "allow_reuse": step_plan.allow_reuse,
        "parallel_run_config": config,
    }
