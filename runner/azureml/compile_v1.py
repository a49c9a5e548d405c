"""Compile a plan to what the tutorial builds by hand with SDK v1, as plain data.

The result is what `runner plan --target azureml` prints and what `build_v1` turns into
real azureml-core / azureml-pipeline-steps objects, so the plan a reviewer reads and
the pipeline that is submitted cannot drift apart. Pure: no SDK import, no network.

Each `${{ parameters.x }}` binding stays a PipelineParameter whose default is the value
the *base* spec file gives; a variant's own values are submitted as
`pipeline_parameters=`, exactly as the tutorial's second run re-submits its pipeline.
"""

from __future__ import annotations

import re
from typing import Any

from runner.plan.plan import REDACTED, Plan, StepPlan
from runner.plan.references import ArgumentPlan, InputPlan, Secret, is_remote, resolve_path
from runner.plan.targets import used_datasets
from runner.spec.load import LoadedSpec

# Azure requires these in the environment of every ParallelRunStep (it warns otherwise,
# and file datasets cannot be mounted without fuse).
REQUIRED_PIP = ("azureml-core", "azureml-dataset-runtime[pandas,fuse]")
_DATA_ASSET = re.compile(r"^azureml:(?!//)(?P<name>[^:@/]+)(?::(?P<version>[^:@/]+)|@latest)?$")
_DATASTORE_URI = re.compile(r"^azureml://datastores/(?P<store>[^/]+)/paths/(?P<path>.*)$")
INT_FIELDS = ("process_count_per_node", "node_count", "run_invocation_timeout", "run_max_try")


def shown(loaded: LoadedSpec, path: tuple[Any, ...], value: Any, reveal: bool) -> Any:
    """A value as the compiled pipeline shows it: *** when it came from a secret variable."""
    return REDACTED if not reveal and path in loaded.secrets else value


def environment(loaded: LoadedSpec, reveal: bool) -> dict[str, Any]:
    """The environment's packages, with those Azure requires of every ParallelRunStep."""
    assert loaded.spec.azure is not None and loaded.spec.azure.environment is not None
    env = loaded.spec.azure.environment
    base = ("azure", "environment")
    pip = [shown(loaded, (*base, "pip", i), p, reveal) for i, p in enumerate(env.pip)]
    return {"name": env.name, "python_version": env.python_version,
            "conda_packages": [shown(loaded, (*base, "conda", i), p, reveal) for i, p in enumerate(env.conda)],
            "pip_packages": with_required(pip, REQUIRED_PIP),
            "docker_base_image": shown(loaded, (*base, "docker_base_image"), env.docker_base_image, reveal)}


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


def compile_v1(loaded: LoadedSpec, plan: Plan, reveal: bool = False,
               code: dict[str, str] | None = None) -> dict[str, Any]:
    """The SDK v1 pipeline as data. `reveal` keeps secret values (for building the real
    objects); without it they are shown as *** (for the plan). `code`: step -> the folder
    its code was copied to (runner.azureml.code), uploaded instead of source_directory."""
    spec = loaded.spec
    return {
        "target": "azureml",
        **resources(loaded, reveal),
        "environment": environment(loaded, reveal),
        "models": {name: {"path": resolve_path(loaded, ("models", name, "path"), model.path), "tags": model.tags,
                          "description": model.description} for name, model in spec.models.items()},
        "datasets": {name: _dataset(loaded, name, reveal) for name in used_datasets(loaded)},
        "parameters": _parameters(loaded, reveal),
        "steps": [_step(loaded, plan, index, reveal, code or {}) for index in range(len(spec.steps))],
        "submit": {"experiment": plan.experiment, "pipeline_parameters": _overrides(loaded, reveal)},
    }


def resources(loaded: LoadedSpec, reveal: bool = False) -> dict[str, Any]:
    """The workspace, compute and datastores: the same for both SDKs."""
    azure = loaded.spec.azure
    assert azure is not None and azure.compute is not None  # check_target
    return {"workspace": _workspace(loaded, reveal), "compute": azure.compute.model_dump(mode="json"),
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


def _workspace(loaded: LoadedSpec, reveal: bool) -> dict[str, Any]:
    assert loaded.spec.azure is not None
    ws = loaded.spec.azure.workspace
    if ws.subscription_id:
        return {key: shown(loaded, ("azure", "workspace", key), getattr(ws, key), reveal)
                for key in ("subscription_id", "resource_group", "name")}
    return {"config": resolve_path(loaded, ("azure", "workspace", "config"), ws.config or "config.json")}


def _datastore(store: Any, reveal: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"container_name": store.container_name, "account_name": store.account_name}
    for key in ("account_key", "sas_token"):
        secret = getattr(store, key)
        if secret is not None:
            out[key] = secret.get_secret_value() if reveal else REDACTED
    return out


def _dataset(loaded: LoadedSpec, name: str, reveal: bool) -> dict[str, Any]:
    dataset = loaded.spec.datasets[name]
    path = resolve_path(loaded, ("datasets", name, "path"), dataset.path)
    out: dict[str, Any] = {"kind": dataset.kind}
    if shown(loaded, ("datasets", name, "path"), path, reveal) == REDACTED:
        return {**out, "url": REDACTED}  # a URL with a SAS token in it, say
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
        out.update(local=path, upload_to=f"runner/{loaded.spec.name}/{name}")
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


def _bound_field(loaded: LoadedSpec, parameter: str) -> str | None:
    for binding in loaded.bindings:
        if binding.parameter == parameter and binding.path[2] == "parallel_run":
            return str(binding.path[3])
    return None


def _secret_parameter(loaded: LoadedSpec, name: str) -> bool:
    return ("parameters", name) in loaded.secrets or name in loaded.base_secrets


def _parameters(loaded: LoadedSpec, reveal: bool) -> dict[str, Any]:
    """PipelineParameter defaults: the base spec's values (a variant submits its own)."""
    out = {}
    for name, value in loaded.spec.parameters.items():
        base = loaded.base_parameters.get(name, value)
        out[name] = REDACTED if _secret_parameter(loaded, name) and not reveal else \
            _typed(_bound_field(loaded, name), base)
    return out


def _overrides(loaded: LoadedSpec, reveal: bool) -> dict[str, Any]:
    out = {}
    for name, value in loaded.spec.parameters.items():
        field = _bound_field(loaded, name)
        base = _typed(field, loaded.base_parameters.get(name, value))
        if _typed(field, value) != base:
            out[name] = REDACTED if _secret_parameter(loaded, name) and not reveal else _typed(field, value)
    return out


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


def _step(loaded: LoadedSpec, plan: Plan, index: int, reveal: bool, code: dict[str, str]) -> dict[str, Any]:
    step = loaded.spec.steps[index]
    run = step.parallel_run
    step_plan = plan.steps[index]
    bound = {str(b.path[3]): b.parameter for b in loaded.bindings
             if b.path[:3] == ("steps", index, "parallel_run")}
    arguments = [argument(arg, reveal) for arg in step_plan.arguments]
    side_inputs = [reference(item) for item in step_plan.side_inputs]
    for ref in arguments:
        if isinstance(ref, dict) and "input_name" in ref and ref not in side_inputs:
            side_inputs.append(ref)  # Azure mounts what an argument names only as a side input
    config: dict[str, Any] = {
        "source_directory": code.get(step.name, step_plan.source_directory),
        "entry_script": run.entry_script,
        "mini_batch_size": None if run.mini_batch_size is None else str(run.mini_batch_size),
        "error_threshold": run.error_threshold,
        "allowed_failed_count": run.allowed_failed_count,
        "allowed_failed_percent": run.allowed_failed_percent,
        "output_action": run.output_action,
        "append_row_file_name": run.append_row_file_name if run.output_action == "append_row" else None,
        "process_count_per_node": run.process_count_per_node,
        "node_count": run.node_count,
        "logging_level": run.logging_level,
        "run_invocation_timeout": run.run_invocation_timeout,
        "run_max_try": run.run_max_try,
        "partition_keys": run.partition_keys,
        "environment_variables": env_values(step_plan, reveal),
        "description": run.description,
    }
    for field, parameter in bound.items():
        config[field] = {"parameter": parameter}
    return {
        "name": step.name,
        "inputs": [reference(item) for item in step_plan.inputs],
        "side_inputs": side_inputs,
        "output": {"name": step.output.name, "datastore": step.output.datastore} if step.output else None,
        "arguments": arguments,
        "allow_reuse": step.allow_reuse,
        "parallel_run_config": config,
    }
