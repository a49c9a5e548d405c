"""Compile a plan to an Azure ML v2 pipeline job with one `parallel` node per step: the
YAML that `az ml job create -f` accepts and `azure.ai.ml.load_job` loads. Pure: no SDK
import, no network; tests load every emitted file back with the real SDK.

Mapping from ParallelRunStep (v1) to the v2 parallel job:
- mini_batch_size, partition_keys, error_threshold as they are; allowed_failed_count is
  mini_batch_error_threshold; allowed_failed_percent a program argument, as Azure's
  v2 examples pass it; node_count is resources.instance_count; process_count_per_node
  is max_concurrency_per_instance; run_max_try counts tries, v2's max_retries counts
  retries (one fewer); run_invocation_timeout is retry_settings.timeout.
- allow_reuse is the component's is_deterministic.
- A parameter bound to mini_batch_size or run_invocation_timeout stays a pipeline input;
  v2 cannot bind the other fields, so their values are written in (plan says which).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from typing import Any

from runner.azureml.compile_v1 import _has_package, azure_of, env_values, environment, input_name, parameter_value, \
    shown
from runner.plan.azure import AzurePlan, AzureStep
from runner.plan.plan import DEFAULT_FILES_PER_MINI_BATCH, REDACTED, Plan, StepPlan
from runner.plan.references import InputPlan, Secret, is_remote

SCHEMA = "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json"
DEFAULT_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"  # azureml-core's DEFAULT_CPU_IMAGE
V2_BINDABLE = ("mini_batch_size", "run_invocation_timeout")


@dataclass
class V2Job:
    job: dict[str, Any]  # the pipeline job YAML, as data
    stage: dict[str, str] = field(default_factory=dict)  # folder -> file: single files become folders
    inlined: list[str] = field(default_factory=list)  # bindings v2 cannot keep, written in as values


def node_name(step: str) -> str:
    """Pipeline node names must be Python identifiers."""
    return input_name(step)


def stage_folder(plan: Plan, dataset: str) -> str:
    """Where a single-file dataset is linked into a folder of its own: a v2 parallel job
    reads a uri_folder or an MLTable, not a uri_file."""
    return os.path.join(".runner", "stage", plan.name, dataset)


def compile_v2(plan: Plan, base_dir: str = ".", reveal: bool = False,
               code: dict[str, str] | None = None) -> V2Job:
    """The pipeline job; local paths are written relative to `base_dir`, the folder the
    YAML file will be in (Azure resolves them from there). `code`: step -> the folder its
    code was copied to (runner.azureml.code), uploaded instead of source_directory."""
    azure = azure_of(plan)
    out = V2Job({})
    compute = f"azureml:{azure.compute.name}"
    job: dict[str, Any] = {"$schema": SCHEMA, "type": "pipeline", "display_name": plan.name,
                           "experiment_name": plan.experiment}
    if azure.description:
        job["description"] = azure.description
    job["settings"] = {"default_compute": compute}
    job["inputs"] = _pipeline_inputs(plan, base_dir, out, reveal)
    outputs = {}
    for step, step_azure in zip(plan.steps, azure.steps, strict=True):
        if step.output:
            outputs[input_name(step.output)] = _output(plan.name, step, step_azure)
    if outputs:
        job["outputs"] = outputs
    job["jobs"] = {node_name(step.name): _node(plan, i, compute, base_dir, out, reveal, code or {})
                   for i, step in enumerate(plan.steps)}
    out.job = job
    return out


def _rel(path: str, base_dir: str) -> str:
    trailing = "/" if path.endswith("/") else ""
    return os.path.relpath(path, base_dir) + trailing


def _input_kind(azure: AzurePlan, name: str) -> str:
    """A parallel job reads tables as an MLTable, files as a folder."""
    return "mltable" if azure.datasets[name].kind == "tabular" else "uri_folder"


def _data_input(plan: Plan, name: str, base_dir: str, out: V2Job, reveal: bool) -> dict[str, Any]:
    azure = azure_of(plan)
    path = shown(azure.datasets[name].path, reveal)
    kind = _input_kind(azure, name)
    mode = "direct" if kind == "mltable" else "ro_mount"
    if path == REDACTED:
        return {"type": kind, "path": path, "mode": mode}
    if not is_remote(path) and _is_file(path) and kind == "uri_folder":
        folder = stage_folder(plan, name)
        out.stage[folder] = path
        path = folder + "/"
    return {"type": kind, "path": path if is_remote(path) else _rel(path, base_dir), "mode": mode}


def _is_file(path: str) -> bool:
    """A file, or (not made yet, as in a fresh clone) a path that names one: the same
    plan on every machine."""
    if os.path.exists(path):
        return os.path.isfile(path)
    return not path.endswith("/") and "." in os.path.basename(path)


def _pipeline_inputs(plan: Plan, base_dir: str, out: V2Job, reveal: bool) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for name, parameter in azure_of(plan).parameters.items():
        if isinstance(parameter.value, dict):
            inputs[input_name(name)] = _data_input(plan, parameter.value["dataset"], base_dir, out, reveal)
            continue
        inputs[input_name(name)] = parameter_value(parameter.value, parameter.field, parameter.value_secret,
                                                   reveal)
    return inputs


def appends_rows(step: StepPlan) -> bool:
    return step.output_action == "append_row" and step.output is not None


def _output(name: str, step: StepPlan, azure: AzureStep) -> dict[str, Any]:
    """A step's output. append_row_to writes one file: a uri_file output whose path names
    it (append_row_file_name), as Azure's examples declare it (azureml-examples
    cli/jobs/parallel/3a_mnist_batch_identification); a uri_folder would get a name of
    Azure's choosing, which `runner results` could not find."""
    assert step.output is not None
    store = azure.output_datastore
    folder = f"runner/{name}/${{{{name}}}}/{input_name(step.output)}"
    if appends_rows(step):
        store = store or "${{default_datastore}}"
        return {"type": "uri_file", "mode": "rw_mount",
                "path": f"azureml://datastores/{store}/paths/{folder}/{step.append_row_file}"}
    output: dict[str, Any] = {"type": "uri_folder", "mode": "rw_mount"}
    if store:
        output["path"] = f"azureml://datastores/{store}/paths/{folder}/"
    return output


def _input_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "number"}.get(type(value), "string")


@dataclass
class _NodeInputs:
    """A node's inputs and its component's, filled as references are met."""

    plan: Plan
    base_dir: str
    out: V2Job
    reveal: bool
    node: dict[str, Any] = field(default_factory=dict)
    component: dict[str, Any] = field(default_factory=dict)

    def parameter(self, parameter: str) -> str:
        """A pipeline input; its name, for ${{inputs.<name>}}."""
        name = input_name(parameter)
        self.node[name] = f"${{{{parent.inputs.{name}}}}}"
        azure = azure_of(self.plan)
        value = azure.parameters[parameter].value
        kind = _input_kind(azure, value["dataset"]) if isinstance(value, dict) else _input_type(value)
        self.component[name] = {"type": kind}
        return name

    def add(self, item: InputPlan) -> str:
        """A node input for a resolved reference; its name."""
        if item.parameter:
            return self.parameter(item.parameter)
        if item.step:
            name = input_name(item.output or "")
            self.node[name] = f"${{{{parent.jobs.{node_name(item.step)}.outputs.{name}}}}}"
            self.component[name] = {"type": "uri_folder"}
            return name
        if item.kind == "model":
            name = input_name("model_" + item.name)
            path = REDACTED if item.secret and not self.reveal else str(item.location)
            self.node[name] = {"type": "custom_model",
                               "path": path if is_remote(path) or path == REDACTED else _rel(path, self.base_dir)}
            self.component[name] = {"type": "custom_model"}
            return name
        name = input_name(item.name)
        self.node[name] = _data_input(self.plan, item.name, self.base_dir, self.out, self.reveal)
        self.component[name] = {"type": self.node[name]["type"]}
        return name


def _mini_batch_size(size: Any, input_type: str) -> str:
    """The spec's size, or Azure's documented default written out: the SDK sends 0 for a
    size left unset, which is not Azure's default of 10 files or 1MB of rows."""
    if size is not None:
        return str(size)
    return "1MB" if input_type == "mltable" else str(DEFAULT_FILES_PER_MINI_BATCH)


def _thresholds(error_threshold: int, allowed_failed_count: int | None) -> dict[str, int]:
    """v2's schema takes one threshold attribute per job ("Only one error_threshold setting
    can be used in one job"): mini_batch_error_threshold where allowed_failed_count is
    set (the item threshold then goes as the --error_threshold program argument, as
    Azure's parallel job docs pass it), else error_threshold."""
    if allowed_failed_count is None:
        return {"error_threshold": error_threshold}
    return {"mini_batch_error_threshold": allowed_failed_count}


def _arguments(step: StepPlan, io: _NodeInputs, reveal: bool) -> list[str]:
    """program_arguments: references as ${{inputs.x}}, the rest quoted for the shell."""
    arguments: list[str] = []
    for arg in step.arguments:
        if arg.input is not None:
            arguments.append(f"${{{{inputs.{io.add(arg.input)}}}}}")
        elif arg.parameter:
            arguments.append(f"${{{{inputs.{io.parameter(arg.parameter)}}}}}")
        elif arg.secret and not reveal:
            arguments.append(REDACTED)
        else:
            arguments.append(shlex.quote(str(arg.value)))
    if step.allowed_failed_count is not None and step.error_threshold != -1:
        arguments += ["--error_threshold", str(step.error_threshold)]  # see _thresholds
    if step.allowed_failed_percent is not None:
        arguments += ["--allowed_failed_percent", _number(step.allowed_failed_percent)]
    return arguments


def _task(plan: Plan, index: int, mltable: bool, arguments: list[str], base_dir: str,
          reveal: bool, code: dict[str, str]) -> dict[str, Any]:
    """The run_function task: code, entry script, environment, arguments, append_row_to."""
    step = plan.steps[index]
    env = azure_of(plan).environment
    packages = environment(plan, reveal)
    pip = packages["pip_packages"]
    if mltable and not _has_package(pip, "mltable"):
        pip.append("mltable")  # a parallel job reads an MLTable input with it
    dependencies: list[Any] = [f"python={env.python_version}"] if env.python_version else []
    dependencies += packages["conda_packages"] + [{"pip": pip}]
    source = code.get(step.name) or step.source_directory
    task: dict[str, Any] = {
        "type": "run_function",
        "code": _rel(source, base_dir),
        "entry_script": azure_of(plan).steps[index].entry_script,
        "environment": {"image": packages["docker_base_image"] or DEFAULT_IMAGE,
                        "conda_file": {"name": env.name, "channels": ["conda-forge"], "dependencies": dependencies}},
    }
    if arguments:
        task["program_arguments"] = " ".join(arguments)
    if appends_rows(step):
        task["append_row_to"] = f"${{{{outputs.{input_name(step.output or '')}}}}}"
    return task


def _component(step: StepPlan, azure: AzureStep, io: _NodeInputs, data: str, task: dict[str, Any]) -> dict[str, Any]:
    """The parallel component: its inputs, output, mini-batches, thresholds and task."""
    component: dict[str, Any] = {"type": "parallel", "display_name": step.name, "is_deterministic": step.allow_reuse}
    if azure.description:
        component["description"] = azure.description
    component["inputs"] = io.component
    if step.output:
        component["outputs"] = {input_name(step.output): {"type": "uri_file" if appends_rows(step)
                                                                   else "uri_folder"}}
    component["input_data"] = f"${{{{inputs.{data}}}}}"
    if step.partition_keys:
        component["partition_keys"] = list(step.partition_keys)
    else:
        component["mini_batch_size"] = _mini_batch_size(azure.mini_batch_size, io.component[data]["type"])
    component.update(_thresholds(step.error_threshold, step.allowed_failed_count),
                     logging_level=step.logging_level,
                     retry_settings={"max_retries": step.run_max_try - 1, "timeout": step.run_invocation_timeout})
    if azure.process_count_per_node is not None:
        component["max_concurrency_per_instance"] = azure.process_count_per_node
    component["task"] = task
    return component


def _node(plan: Plan, index: int, compute: str, base_dir: str, out: V2Job,
          reveal: bool, code: dict[str, str]) -> dict[str, Any]:
    step = plan.steps[index]
    azure = azure_of(plan)
    step_azure = azure.steps[index]
    io = _NodeInputs(plan, base_dir, out, reveal)
    data = io.add(step.inputs[0])
    for item in step.side_inputs:
        io.add(item)
    for name, model in azure.models.items():  # every model, as on v1 (where Model.register makes them findable)
        io.add(InputPlan(f"models.{name}", "model", model.path, secret=isinstance(model.path, Secret)))
    arguments = _arguments(step, io, reveal)
    bound = {field_name: input_name(parameter) for field_name, parameter in step_azure.bound.items()}
    for field_name, parameter in bound.items():
        if field_name not in V2_BINDABLE:
            out.inlined.append(f"steps[{index}].parallel_run.{field_name} (parameters.{parameter})")

    def value(field_name: str, literal: Any) -> Any:
        if field_name in bound and field_name in V2_BINDABLE:
            return f"${{{{parent.inputs.{bound[field_name]}}}}}"
        return literal

    task = _task(plan, index, io.component[data]["type"] == "mltable", arguments, base_dir, reveal, code)
    component = _component(step, step_azure, io, data, task)
    node: dict[str, Any] = {"type": "parallel", "compute": compute, "inputs": io.node}
    if step.output:
        node["outputs"] = {input_name(step.output): f"${{{{parent.outputs.{input_name(step.output)}}}}}"}
    node["resources"] = {"instance_count": step.node_count}
    # The component holds the parallel settings; the SDK copies to the node what it leaves
    # unset (Parallel.__init__), so the node names only what is bound to a pipeline input.
    if not step.partition_keys and value("mini_batch_size", None) is not None:
        node["mini_batch_size"] = value("mini_batch_size", None)
    timeout = value("run_invocation_timeout", step.run_invocation_timeout)
    if timeout != step.run_invocation_timeout:
        node["retry_settings"] = {"max_retries": step.run_max_try - 1, "timeout": timeout}
    if step.environment_variables:
        node["environment_variables"] = env_values(step, reveal)
    node["component"] = component
    return node


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
