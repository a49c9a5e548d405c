"""What the ray target does with a plan, as data for the plan views (runner/render.py):
the cluster, each step's actors and their placement, what is shipped to the nodes, and
what every node must be able to read itself.

The Ray backend runs the local engine's driver on this machine with the workers as Ray
actors: `node_count x process_count_per_node` of them per step, each reserving
`ray.cpus_per_worker` CPUs and `ray.gpus_per_worker` GPUs, in a placement group of one
bundle per node (strategy SPREAD). The code snapshot goes to the nodes through Ray's
object store (a zip each node unpacks once), the runner package likewise, used by an
actor whose node does not import this very runner itself, `ray.pip` as the actors'
runtime_env pip (runner/ray/actors.py, boot.py);
the data does not: a worker opens the paths it is given, so a local path must name the
same data on every node, while an object-storage URI is read from the store by each worker.

Pure, like the rest of runner/plan: paths are joined to the plan's working directory,
never looked at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from runner.plan.plan import Plan, StepPlan
from runner.plan.references import InputPlan, Secret, is_remote

STRATEGY = "SPREAD"  # one bundle per node, on different nodes where the cluster has them
LOCAL, AUTO, CLIENT = "local", "auto", "ray://"


@dataclass(frozen=True)
class RayActors:
    """One step's actors and the placement group that holds them."""

    step: str
    nodes: int  # bundles: one per node
    per_node: int  # actors per bundle
    actors: int
    bundle: dict[str, float]  # what each bundle reserves: {"CPU": ..., "GPU": ...} (GPU only when asked)
    code: str  # the source_directory whose snapshot the actors import the entry script from


@dataclass(frozen=True)
class NodeRead:
    """Something a worker opens itself, wherever its actor runs."""

    what: str  # "datasets.images (steps score)"
    location: str  # an absolute local path, or the store's URI
    secret: bool = False  # from a secret variable: shown as ***


@dataclass(frozen=True)
class RayLayout:
    address: str
    cluster: str  # the address in words
    cpus_per_worker: float
    gpus_per_worker: float
    strategy: str
    steps: list[RayActors]
    shipped: list[str]  # what goes with the job to every node
    pip: list[str]
    local_paths: list[NodeRead] = field(default_factory=list)  # must exist at the same path on every node
    object_storage: list[NodeRead] = field(default_factory=list)  # read from the store by each worker
    run_folder: list[str] = field(default_factory=list)  # steps' outputs a later step reads (the driver writes them)


def cluster_text(address: str) -> str:
    """`ray.address` in words."""
    if address == LOCAL:
        return "a cluster started on this machine for the run"
    if address == AUTO:
        return "the cluster this machine belongs to (RAY_ADDRESS, or the one `ray start` started here)"
    if address.startswith(CLIENT):
        return f"the cluster behind Ray Client at {address[len(CLIENT):]}"
    return f"the cluster whose head (GCS) is at {address}"


def _actors(step: StepPlan, cpus: float, gpus: float) -> RayActors:
    per_node = step.process_count_per_node or 1  # as the engine runs a step that leaves it unset
    bundle = {"CPU": per_node * cpus, **({"GPU": per_node * gpus} if gpus else {})}
    return RayActors(step.name, step.node_count, per_node, step.node_count * per_node, bundle,
                     step.source_directory)


def _reads(plan: Plan) -> tuple[list[NodeRead], list[NodeRead], list[str]]:
    """Every input, side input, argument and model the steps read: local paths, URIs,
    and other steps' outputs, each once (the steps that read it named)."""
    found: dict[tuple[str, str], tuple[list[str], bool]] = {}
    outputs: dict[str, list[str]] = {}
    for step in plan.steps:
        items: list[InputPlan] = [*step.inputs, *step.side_inputs,
                                  *[a.input for a in step.arguments if a.input is not None]]
        for item in items:
            if item.step:
                outputs.setdefault(f"output '{item.output}' of step '{item.step}'", []).append(step.name)
            else:
                found.setdefault((item.reference, item.location), ([], item.secret))[0].append(step.name)
        for name, path in step.models.items():
            found.setdefault((f"models.{name}", path), ([], isinstance(path, Secret)))[0].append(step.name)
    local, remote = [], []
    for (what, location), (steps, secret) in found.items():
        text = f"{what} ({'steps' if len(set(steps)) > 1 else 'step'} {', '.join(dict.fromkeys(steps))})"
        if is_remote(location):
            remote.append(NodeRead(text, location, secret))
        else:
            local.append(NodeRead(text, os.path.normpath(os.path.join(plan.cwd, location)), secret))
    readers = [f"{what}, read by {', '.join(dict.fromkeys(steps))}" for what, steps in outputs.items()]
    return local, remote, readers


def ray_layout(plan: Plan) -> RayLayout | None:
    """The ray target's view of `plan`; None for another target."""
    if plan.ray is None:
        return None
    ray = plan.ray
    shipped = [f"the code snapshot of {os.path.normpath(os.path.join(plan.cwd, code))} (a zip in Ray's object "
               "store, unpacked once per node)" for code in dict.fromkeys(step.source_directory for step in plan.steps)]
    shipped.append("the runner package (a zip in Ray's object store), used where a node does not import this very "
                   "runner itself (each actor checks as it starts)")
    if ray.pip:
        shipped.append(f"pip requirements, installed by Ray for the actors (runtime_env pip): {', '.join(ray.pip)}")
    local, remote, run_folder = _reads(plan)
    return RayLayout(ray.address, cluster_text(ray.address), ray.cpus_per_worker, ray.gpus_per_worker, STRATEGY,
                     [_actors(step, ray.cpus_per_worker, ray.gpus_per_worker) for step in plan.steps], shipped,
                     list(ray.pip), local, remote, run_folder)
