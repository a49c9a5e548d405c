"""What `runner apply` will create, reuse and submit on Azure, in words, for `runner plan`.

Read from the compiled pipeline (never the network): whether a cluster already exists
is decided at apply time, so the plan says "reused if it exists, else created".
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from runner.azureml.compile_v1 import input_name
from runner.azureml.compile_v2 import V2Job
from runner.azureml.sessions import ComputeSpec, DatastoreSpec, WorkspaceSpec
from runner.plan.references import is_remote


def _compute(spec: ComputeSpec) -> str:
    return (f"{spec['name']}: reused if it exists, else created and waited for ({spec['vm_size']}, "
            f"{spec['min_nodes']}-{spec['max_nodes']} nodes, {spec['vm_priority']})")


def _workspace(spec: WorkspaceSpec) -> str:
    if "config" in spec:
        return f"from {spec['config']}"
    return f"{spec['name']} in resource group {spec['resource_group']}, subscription {spec['subscription_id']}"


def _store(name: str, spec: DatastoreSpec) -> str:
    how = "account key" if "account_key" in spec else "SAS token" if "sas_token" in spec else "no credentials"
    return (f"{name}: blob container {spec['container_name']} in account {spec['account_name']} "
            f"({how}), registered (overwrite)")


def describe_v1(compiled: dict[str, Any]) -> list[str]:
    env = compiled["environment"]
    lines = [f"  workspace    {_workspace(compiled['workspace'])}",
             f"  compute      {_compute(compiled['compute'])}"]
    lines += [f"  datastore    {_store(n, s)}" for n, s in compiled["datastores"].items()]
    lines.append(f"  environment  {env['name']}: python {env['python_version'] or '(image default)'}, "
                 f"{len(env['conda_packages'])} conda and {len(env['pip_packages'])} pip packages"
                 + (f", image {env['docker_base_image']}" if env["docker_base_image"] else ""))
    for name, model in compiled["models"].items():
        lines.append(f"  model        {name}: registered from {model['path']} (a new version each apply)")
    for name, data in compiled["datasets"].items():
        if "local" in data:
            where = (f"{data['local']} uploaded to the default datastore under {data['upload_to']}/<digest>/ "
                     "(files already there are not uploaded again)")
        elif "asset" in data:
            where = f"the registered data asset {data['asset']}, version {data['version']}"
        elif "datastore" in data:
            where = f"{data['path']} on datastore {data['datastore']}"
        else:
            where = data["url"]
        lines.append(f"  dataset      {name} ({data['kind']}): {where}")
    for step in compiled["steps"]:
        for ref in step["side_inputs"]:
            if "model" in ref:
                lines.append(f"  side input   {ref['input_name']}: model {ref['model']}'s files, uploaded and mounted "
                             f"so the argument that names it is a path")
    lines.append("  code         each step's code as `code snapshot` counts it, copied into the run folder and "
                 "uploaded from there (its snapshot)")
    names = ", ".join(compiled["parameters"]) or "none"
    lines.append(f"  pipeline     {len(compiled['steps'])} ParallelRunStep(s); PipelineParameters: {names}")
    overrides = compiled["submit"]["pipeline_parameters"]
    shown = ", ".join(f"{k}={_flow(v)}" for k, v in overrides.items()) or "none (the defaults)"
    lines.append(f"  submit       Experiment({compiled['submit']['experiment']!r}).submit(pipeline, "
                 f"pipeline_parameters: {shown})")
    return lines


def describe_v2(job: V2Job, compute: ComputeSpec, datastores: dict[str, DatastoreSpec],
                workspace: WorkspaceSpec, models: dict[str, str] | None = None) -> list[str]:
    lines = [f"  workspace    MLClient {_workspace(workspace)}, DefaultAzureCredential",
             f"  compute      {_compute(compute)}"]
    lines += [f"  datastore    {_store(n, s)}" for n, s in datastores.items()]
    locals_ = [k for k, v in job.job["inputs"].items() if isinstance(v, dict) and not is_remote(v["path"])]
    for name, node in job.job["jobs"].items():
        locals_ += [f"{name}.{k}" for k, v in node["inputs"].items() if isinstance(v, dict) and not is_remote(v["path"])]
    if locals_:
        lines.append(f"  uploads      local inputs, uploaded by the SDK at submission: {', '.join(locals_)}")
    for name, path in (models or {}).items():
        lines.append(f"  model        {name}: registered from {path} (a new version each apply, so "
                     "Model.get_model_path finds it as on v1) and passed as the custom_model input "
                     f"model_{input_name(name)}")
    lines.append("  code         each step's code as `code snapshot` counts it, copied into the run folder and "
                 "uploaded from there")
    for folder, file in job.stage.items():
        lines.append(f"  staged       {file} linked into {folder}/ (a parallel job reads a folder, not one file)")
    for item in job.inlined:
        lines.append(f"  inlined      {item}: v2 cannot bind this field to a pipeline input; its value is "
                     "written in")
    lines.append(f"  submit       MLClient.jobs.create_or_update(job, experiment_name="
                 f"{job.job['experiment_name']!r}), then stream and download")
    return lines


def file_differs(datastores: dict[str, DatastoreSpec], models: dict[str, str]) -> list[str]:
    """What `runner apply` does that the job file alone (`az ml job create -f`) does not:
    the file's header says so, so the two stories are one (issue 23.7)."""
    lines = ["# `runner apply` does more than this file:"]
    if datastores:
        lines.append(f"#   it registers the datastore(s) {', '.join(datastores)} first; `az ml job create` "
                     "does not (register them before you submit this file);")
    for name in models:
        lines.append(f"#   it registers model {name} (a new version each apply), so Model.get_model_path("
                     f"{name!r}) finds it as on v1; this file only passes its files as the custom_model "
                     f"input model_{input_name(name)} (uploaded, not registered);")
    lines.append("#   it uploads each step's code from a snapshot in the run folder (as `code snapshot` counts "
                 "it); this file points at the source folder, which the CLI uploads by its own rules.")
    return [line + "\n" for line in lines]


def _flow(value: object) -> str:
    if isinstance(value, dict) and set(value) == {"dataset"}:
        return f"{{dataset: {value['dataset']}}}"
    return json.dumps(value)


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:
        return True


def dump(data: object) -> str:
    """YAML as a person writes it: keys in order, no anchors, long lines kept whole."""
    return yaml.dump(data, Dumper=_NoAliases, sort_keys=False, width=100, allow_unicode=True)
