"""Submit a compiled pipeline through a session, follow it, and download what it wrote;
before that, check what the plan names is there (`preflight`) and link a v2 job's
single-file inputs into the folders its YAML names (`stage_inputs`).

Both targets take one flow (`submit`), through the verbs their sessions share; each
SDK only says what it submits (`submission_v1`: steps built from the compiled pipeline;
`submission_v2`: the job file, loaded). Both end the same way: an `Outcome` that the
backend records in the run folder, so `runner runs / status / results` read Azure runs as
they read local ones.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from runner.azureml.compile_v1 import azure_of
from runner.azureml.sessions import PipelineV1, Provisioned, Resources, Session, V1Session, V2Session
from runner.plan.plan import Plan
from runner.plan.references import is_remote
from runner.runs.errors import BackendError, RunError
from runner.runs.errors import PreflightError as PreflightError  # what the workspace holds rules the run out

# Azure ML run statuses (v1 and v2) that end a run -> the runner's. Any other (NotStarted,
# Queued, Preparing, Starting, Provisioning, Running, Finalizing, CancelRequested, Paused)
# is still running.
_STATUS = {"completed": "succeeded", "finished": "succeeded", "failed": "failed", "canceled": "canceled",
           "cancelled": "canceled", "notresponding": "failed"}

# What a session submits (sessions.Session's parameter): v1's PipelineV1, v2's loaded job.
P = TypeVar("P")


class AzureError(BackendError):
    """A call to Azure (or the SDK's import) failed: nothing ran, or we lost track of it (exit 3)."""


def check_cluster(max_nodes: int | None, compute: Mapping[str, object], node_counts: dict[str, int]) -> None:
    """node_count against the cluster's max_nodes, as ParallelRunConfig checks it inside
    the build (after datastores and models were registered): an existing cluster keeps its
    own max_nodes, whatever the spec says (the spec's own is checked at validation)."""
    if max_nodes is None:
        return
    problems = [f"step {step}: node_count {count} is more than the {max_nodes} nodes the existing cluster "
                f"{compute['name']} scales to (its max_nodes; the spec's {compute['max_nodes']} applies only "
                "when the cluster is created)" for step, count in node_counts.items() if count > max_nodes]
    if problems:
        raise PreflightError("; ".join(problems))


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


def preflight(plan: Plan, exclude: Collection[str] = ()) -> list[str]:
    """What would fail after resources are created: checked before anything is (from the
    plan, so nothing is compiled for it). `exclude`: the runs folder (not code)."""
    problems = []
    azure = azure_of(plan)
    config = azure.workspace.config
    if config and not os.path.isfile(config):
        problems.append(f"workspace config {config} does not exist (download it from the Azure ML studio, "
                        "or give subscription_id, resource_group and name)")
    for step in plan.steps:
        if not os.path.isdir(step.source_directory):
            problems.append(f"step {step.name}: source_directory {step.source_directory} does not exist")
        elif not os.path.isfile(step.entry_script):
            problems.append(f"step {step.name}: entry script {step.entry_script} does not exist")
        else:
            problems += _code_problems(step.name, step.source_directory, step.entry_script, plan.target, exclude)
    for name in azure.used:  # a variant's base dataset too: it is the parameter's default
        path = str(azure.datasets[name].path)
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


def _code_problems(step: str, source_directory: str, entry_script: str, target: str,
                   exclude: Collection[str]) -> list[str]:
    """The step's code as it will be uploaded (runner.azureml.code): its entry script in
    it, and (v1) within the snapshot limits azureml-core refuses to submit above."""
    from runner.inputs.snapshot import FILE_LIMIT, SIZE_LIMIT, SnapshotError, list_code

    try:
        listing = list_code(source_directory, exclude)
    except SnapshotError as exc:
        return [f"step {step}: {exc}"]
    script = os.path.relpath(entry_script, source_directory).replace(os.sep, "/")
    problems = []
    if script not in {f.rel for f in listing.files}:
        problems.append(f"step {step}: entry script {entry_script} is left out of the code uploaded from "
                        f"{source_directory} (by its {listing.ignore_file or 'snapshot rules'})")
    over = listing.size > SIZE_LIMIT or (len(listing.files) > FILE_LIMIT
                                         and not os.environ.get("AML_SNAPSHOT_NO_FILE_LIMIT"))  # as the SDK
    if target == "azureml" and over:
        problems.append(f"step {step}: the code snapshot of {source_directory}: {listing.limit_warning()}")
    return problems


def stage_inputs(stage: Mapping[str, str]) -> None:
    """Link each single-file input into a folder of its own, holding only that file (a
    copy where links cannot be made), where a v2 job file says its input is (V2Job.stage).
    Raises RunError for a file that is not there."""
    for folder, file in stage.items():
        if not os.path.isfile(file):
            raise RunError(f"{file} does not exist (a single-file dataset: it is linked into {folder}/ "
                           "for azureml-v2)")
        os.makedirs(folder, exist_ok=True)
        target = os.path.join(folder, os.path.basename(file))
        for name in os.listdir(folder):  # what an earlier plan or apply staged
            path = os.path.join(folder, name)
            if path != target or not os.path.samefile(path, file):
                shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
        if os.path.exists(target):
            continue
        try:
            os.link(file, target)
        except OSError:
            shutil.copy2(file, target)


def runner_status(azure_status: str) -> str:
    """The runner's status for a run that ended (an unknown state counts as failed)."""
    return _STATUS.get(azure_status.lower(), "failed")


def current_status(azure_status: str) -> str:
    """The runner's status for a state read at any time: running until it ends."""
    return _STATUS.get(azure_status.lower(), "running")


def find_file(folder: str, name: str) -> str | None:
    """The SDKs download into layouts of their own (azureml/<run>/<output>/, named-outputs/<output>/)."""
    for root, _, files in sorted(os.walk(folder)):
        if name in files:
            return os.path.join(root, name)
    return None


def _fetch(download: Callable[[Wanted, str], None], wanted: list[Wanted], downloads: Path) -> dict[str, str]:
    files = {}
    for item in wanted:
        dest = str(downloads / item.step)
        download(item, dest)
        found = find_file(dest, item.file)
        if found is None:
            raise AzureError(f"step '{item.step}' finished but its output '{item.output}' has no {item.file}")
        files[item.step] = found
    return files


@dataclass(frozen=True)
class Submission(Generic[P]):
    """What one SDK submits, in the shape the shared flow takes. `pipeline` makes what the
    session submits once the resources are there (v1 builds its steps with them)."""

    resources: Resources
    node_counts: dict[str, int]  # step -> node_count, checked against an existing cluster
    experiment: str
    pipeline: Callable[[Provisioned], P]
    wanted: list[Wanted]  # what to download once it succeeded
    # What the SDK checks of the pipeline, run before anything is created (v1: its graph).
    check: Callable[[Any], None] = lambda ws: None


def submit(session: Session[P], submission: Submission[P], downloads: Path,
           on_submitted: Callable[[dict[str, str]], None], stream: IO[str] | None = None) -> Outcome:
    """The one flow of both targets: find the workspace, check the cluster before anything
    is created, create or reuse the resources, submit, follow to the end, download
    (into `downloads`/<step>/: the run folder's download folder)."""
    resources = submission.resources
    ws = session.workspace(resources.workspace)
    check_cluster(session.existing_max_nodes(ws, resources.compute["name"]), resources.compute,
                  submission.node_counts)
    submission.check(ws)
    run = session.submit(ws, submission.experiment, submission.pipeline(provision(session, ws, resources)))
    info = session.run_info(run)
    on_submitted(info)
    azure_status = session.wait(ws, run, stream)
    outcome = Outcome(runner_status(azure_status), azure_status, info)
    if outcome.status == "succeeded":
        outcome.files = _fetch(lambda item, dest: session.download(ws, run, item.step, item.output, dest),
                               submission.wanted, downloads)
    return outcome


def provision(session: Session[Any], ws: Any, resources: Resources) -> Provisioned:
    """Create or reuse the cluster, the datastores and the models, in that order."""
    return Provisioned(ws, session.compute(ws, resources.compute),
                       {name: session.register_datastore(ws, name, spec) for name, spec in resources.datastores.items()},
                       # v2 too, so an entry script's Model.get_model_path(name) finds them as on v1
                       {name: session.register_model(ws, name, spec) for name, spec in resources.models.items()})


def submission_v1(compiled: dict[str, Any], session: V1Session, wanted: list[Wanted]) -> Submission[PipelineV1]:
    """A compiled v1 pipeline (compile_v1.compile_v1): its steps are built (build_v1) once
    the compute, datastores and models they name are in the workspace."""
    from runner.azureml.build_v1 import build, dry_pipeline

    def pipeline(made: Provisioned) -> PipelineV1:
        built = build(compiled, session, made)
        return PipelineV1(built.steps, built.pipeline_parameters)

    def check(ws: Any) -> None:  # the SDK's graph checks, before the apply writes anything
        session.graph(ws, dry_pipeline(compiled, session, ws))

    resources = Resources(compiled["workspace"], compiled["compute"], compiled["datastores"], compiled["models"])
    return Submission(resources, _node_counts(compiled), compiled["submit"]["experiment"], pipeline,
                      wanted, check)


def submission_v2(job_file: str, resources: Resources, session: V2Session,
                  wanted: list[Wanted]) -> Submission[Any]:
    """A v2 job file, loaded with the SDK (as `az ml job create -f` does) before anything
    else, so a job the SDK refuses creates nothing."""
    job = session.load(job_file)
    nodes = {name: node.resources.instance_count for name, node in job.jobs.items()
             if getattr(node, "resources", None) is not None}
    return Submission(resources, nodes, job.experiment_name, lambda made: job, wanted)


def _node_counts(compiled: dict[str, Any]) -> dict[str, int]:
    """Each step's node_count (a PipelineParameter's value as submitted, else its default)."""
    counts = {}
    for step in compiled["steps"]:
        value = step["parallel_run_config"]["node_count"]
        if isinstance(value, dict):
            name = value["parameter"]
            value = compiled["submit"]["pipeline_parameters"].get(name, compiled["parameters"][name])
        counts[step["name"]] = int(value)
    return counts


def place(found: str, folder: str) -> str:
    """Move a downloaded output (the folder holding its append_row file, with whatever else
    the entry script wrote there) to where the local engine keeps it; the file's new path."""
    os.makedirs(folder, exist_ok=True)
    source = os.path.dirname(found)
    for name in os.listdir(source):
        shutil.move(os.path.join(source, name), os.path.join(folder, name))
    return os.path.join(folder, os.path.basename(found))
