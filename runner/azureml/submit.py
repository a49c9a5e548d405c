"""Submit a compiled pipeline through a session, follow it, and download what it wrote.

Both targets end the same way: an `Outcome` that the API records in the run folder, so
`runner runs / status / results` read Azure runs as they read local ones.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from runner.azureml.compile_v1 import resources
from runner.plan.plan import Plan
from runner.plan.references import is_remote, resolve_path
from runner.plan.targets import used_datasets
from runner.spec.load import LoadedSpec

# Azure ML run statuses (v1 and v2) -> the runner's.
_STATUS = {"completed": "succeeded", "finished": "succeeded", "failed": "failed", "canceled": "failed",
           "cancelled": "failed", "notresponding": "failed"}


class AzureError(Exception):
    """A call to Azure (or the SDK's import) failed: nothing ran, or we lost track of it."""


@dataclass
class Wanted:
    """An append_row file a step writes, to download after the run."""

    step: str
    output: str
    file: str


@dataclass
class Outcome:
    status: str  # succeeded | failed
    azure_status: str
    info: dict[str, str]  # azure_run_id, portal_url
    files: dict[str, str] = field(default_factory=dict)  # step -> downloaded append_row file


def require_sdk(target: str) -> None:
    """Fail before anything is created when the target's SDK is not installed."""
    try:
        if target == "azureml":
            import azureml.core  # noqa: F401
            import azureml.pipeline.steps  # noqa: F401
        else:
            import azure.ai.ml  # noqa: F401
            import azure.identity  # noqa: F401
    except ImportError as exc:
        extra = "azureml" if target == "azureml" else "azureml-v2"
        raise AzureError(f"target {target} needs its Azure ML SDK, which is not installed here "
                         f"(pip install 'runner[{extra}]'): {exc}") from exc


def error_text(exc: BaseException) -> str:
    """One line saying what went wrong. azureml-core's exceptions start with their class
    name and keep the text in `message` ("UserErrorException:\\n\\tMessage: ...")."""
    text = getattr(exc, "message", None) or str(exc)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    lines = [line for line in lines if line.rstrip(":") != type(exc).__name__]
    for line in lines:
        if line.startswith("Message:"):
            lines = [line[len("Message:"):].strip()]
            break
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def preflight(loaded: LoadedSpec, plan: Plan) -> list[str]:
    """What would fail after resources are created: checked before anything is (from the
    plan, so nothing is compiled for it)."""
    problems = []
    config = resources(loaded)["workspace"].get("config")
    if config and not os.path.isfile(config):
        problems.append(f"workspace config {config} does not exist (download it from the Azure ML studio, "
                        "or give subscription_id, resource_group and name)")
    for step in plan.steps:
        if not os.path.isdir(step.source_directory):
            problems.append(f"step {step.name}: source_directory {step.source_directory} does not exist")
        elif not os.path.isfile(step.entry_script):
            problems.append(f"step {step.name}: entry script {step.entry_script} does not exist")
    for name in used_datasets(loaded):  # a variant's base dataset too: it is the parameter's default
        path = resolve_path(loaded, ("datasets", name, "path"), loaded.spec.datasets[name].path)
        if is_remote(path):
            continue
        if not os.path.exists(path):
            problems.append(f"dataset {name}: {path} does not exist")
        elif os.path.isdir(path) and not any(os.scandir(path)):
            problems.append(f"dataset {name}: {path} is empty")
    models = {name: path for step in plan.steps for name, path in step.models.items()}
    for name, path in models.items():
        if not os.path.exists(path):
            problems.append(f"model {name}: {path} does not exist")
    return problems


def runner_status(azure_status: str) -> str:
    return _STATUS.get(azure_status.lower(), "failed")


def find_file(folder: str, name: str) -> str | None:
    """The SDKs download into layouts of their own (azureml/<run>/<output>/, named-outputs/<output>/)."""
    for root, _, files in sorted(os.walk(folder)):
        if name in files:
            return os.path.join(root, name)
    return None


def _fetch(download: Callable[[Wanted, str], None], wanted: list[Wanted], workdir: str) -> dict[str, str]:
    files = {}
    for item in wanted:
        dest = os.path.join(workdir, "download", item.step)
        download(item, dest)
        found = find_file(dest, item.file)
        if found is None:
            raise AzureError(f"step '{item.step}' finished but its output '{item.output}' has no {item.file}")
        files[item.step] = found
    return files


def submit_v1(compiled: dict[str, Any], session: Any, wanted: list[Wanted], workdir: str,
              on_submitted: Callable[[dict[str, str]], None], stream: IO[str] | None = None) -> Outcome:
    """Build (creating or reusing workspace resources), submit, wait, download."""
    from runner.azureml.build_v1 import build

    built = build(compiled, session)
    run = session.submit(built.workspace, compiled["submit"]["experiment"], built.steps, built.pipeline_parameters)
    info = session.run_info(run)
    on_submitted(info)
    azure_status = session.wait(run, stream)
    outcome = Outcome(runner_status(azure_status), azure_status, info)
    if outcome.status == "succeeded":
        outcome.files = _fetch(lambda item, dest: session.download(run, item.step, item.output, dest), wanted,
                               workdir)
    return outcome


def submit_v2(job_file: str, client_spec: dict[str, Any], session: Any, wanted: list[Wanted], workdir: str,
              on_submitted: Callable[[dict[str, str]], None], compute: dict[str, Any] | None = None,
              datastores: dict[str, Any] | None = None, stream: IO[str] | None = None) -> Outcome:
    """Load the job YAML with the SDK (as `az ml job create -f` does), submit, stream, download."""
    job = session.load(job_file)
    client = session.client(client_spec)
    if compute:
        session.ensure_compute(client, compute)
    for name, spec in (datastores or {}).items():
        session.register_datastore(client, name, spec)
    experiment = job.experiment_name
    submitted = session.submit(client, job, experiment)
    info = session.run_info(submitted)
    on_submitted(info)
    azure_status = session.wait(client, submitted, stream)
    outcome = Outcome(runner_status(azure_status), azure_status, info)
    if outcome.status == "succeeded":
        outcome.files = _fetch(lambda item, dest: session.download(client, submitted, item.output, dest), wanted,
                               workdir)
    return outcome


def place(found: str, folder: str) -> str:
    """Move a downloaded output (the folder holding its append_row file, with whatever else
    the entry script wrote there) to where the local engine keeps it; the file's new path."""
    os.makedirs(folder, exist_ok=True)
    source = os.path.dirname(found)
    for name in os.listdir(source):
        shutil.move(os.path.join(source, name), os.path.join(folder, name))
    return os.path.join(folder, os.path.basename(found))
