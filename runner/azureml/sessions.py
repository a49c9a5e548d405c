"""The Azure sessions' contracts: everything that needs credentials or the network goes
through one of these, so tests replace exactly this and nothing else.

Both SDKs have the same verbs (`Session`), in the order a submission uses them
(runner.azureml.submit): find the `workspace` (v1's Workspace, v2's MLClient), read an
existing cluster's size (`existing_max_nodes`), make the `compute`, `register_datastore`
and `register_model`, `submit`, follow (`run_info`, `wait`), `download`; and for a
recorded run, its `status` and `cancel`, found by experiment and id. They differ where
the SDKs do: v1 builds its pipeline from objects, so it also looks up datastores and
data assets and uploads data itself (`V1Session`); v2 loads a job file, and the SDK
uploads the job's local paths when it submits it (`V2Session`).

The SDKs' own objects (Workspace, MLClient, runs, jobs) are `Any`: neither SDK ships
type information, and azure-ai-ml is not installed where mypy runs. What the compiled
pipeline hands the sessions is typed here (the same for both SDKs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any, Literal, Protocol, TypedDict, TypeVar, runtime_checkable


class WorkspaceSpec(TypedDict, total=False):
    """A workspace config file, or the workspace's three names."""

    config: str
    subscription_id: str
    resource_group: str
    name: str


class ComputeSpec(TypedDict):
    """An AmlCompute cluster, as the spec's azure.compute gives it."""

    name: str
    vm_size: str
    vm_priority: Literal["dedicated", "lowpriority"]
    min_nodes: int
    max_nodes: int
    idle_seconds_before_scaledown: int | None


class _DatastoreNames(TypedDict):
    container_name: str
    account_name: str


class DatastoreSpec(_DatastoreNames, total=False):
    """A blob container; at most one of the two credentials."""

    account_key: str
    sas_token: str


class ModelSpec(TypedDict):
    path: str
    tags: dict[str, str]
    description: str | None


@dataclass(frozen=True)
class Resources:
    """What the workspace must hold before a pipeline is submitted: the same for both SDKs
    (compile_v1.resources, compile_v1.models)."""

    workspace: WorkspaceSpec
    compute: ComputeSpec
    datastores: dict[str, DatastoreSpec]
    models: dict[str, ModelSpec]


@dataclass(frozen=True)
class Provisioned:
    """The SDK's objects for those resources, as the session returned them (v1 builds its
    steps from them; v2's job names them)."""

    workspace: Any
    compute: Any
    datastores: dict[str, Any]
    models: dict[str, Any]


# What a session submits: v1's steps and parameters (PipelineV1), v2's loaded job.
P = TypeVar("P", contravariant=True)


@dataclass(frozen=True)
class PipelineV1:
    """The ParallelRunSteps build_v1 made, and the values of the PipelineParameters that
    this run is submitted with (the variant's)."""

    steps: list[Any]
    parameters: dict[str, Any]


class Session(Protocol[P]):
    """The verbs both SDKs share. `ws` is what `workspace` returns (v1: a Workspace; v2: an
    MLClient); `run` is what `submit` returns (v1: a PipelineRun; v2: the created job).
    Where one SDK does not need an argument (v1's `wait` the workspace, v2's `download`
    the step), it still takes it, so that one flow drives both."""

    def workspace(self, spec: WorkspaceSpec) -> Any: ...

    def existing_max_nodes(self, ws: Any, name: str) -> int | None: ...

    def compute(self, ws: Any, spec: ComputeSpec) -> Any: ...

    def register_datastore(self, ws: Any, name: str, spec: DatastoreSpec) -> Any: ...

    def register_model(self, ws: Any, name: str, spec: ModelSpec) -> Any: ...

    def submit(self, ws: Any, experiment: str, pipeline: P) -> Any: ...

    def run_info(self, run: Any) -> dict[str, str]: ...

    def wait(self, ws: Any, run: Any, stream: IO[str] | None) -> str: ...

    def download(self, ws: Any, run: Any, step: str, output: str, dest: str) -> None: ...

    # A recorded run, found again by what run.json keeps (v1 finds a run in its experiment).
    def status(self, ws: Any, experiment: str, run_id: str) -> str: ...

    def cancel(self, ws: Any, experiment: str, run_id: str) -> None: ...


# runtime_checkable: the facade takes a session as `object` (tests pass their own) and
# the backend's factory checks it is the SDK's kind before typing it so.
@runtime_checkable
class V1Session(Session[PipelineV1], Protocol):
    """azureml-core (SDK v1): runner.azureml.session_v1.Session."""

    # Whether datasets may read their data when defined (Dataset.Tabular infers column
    # types that way): yes in a workspace, no offline.
    reads_data: bool

    def datastore(self, ws: Any, name: str | None) -> Any: ...

    def registered_dataset(self, ws: Any, name: str, version: str) -> Any: ...

    def upload(self, store: Any, files: list[str], root: str, target: str) -> None: ...

    # The pipeline's graph built as `submit` builds it (the SDK's own checks of the steps
    # and their edges), creating nothing: run before anything is created.
    def graph(self, ws: Any, pipeline: PipelineV1) -> None: ...


@runtime_checkable
class V2Session(Session[Any], Protocol):
    """azure-ai-ml (SDK v2): runner.azureml.session_v2.SessionV2."""

    def load(self, path: str) -> Any: ...


def v1_session(session: object) -> V1Session | None:
    """`session` (what a caller of the facade passed) as a v1 session; None: the real one."""
    if session is None or isinstance(session, V1Session):
        return session
    raise TypeError(f"target azureml needs an SDK v1 session (runner.azureml.session_v1.Session), "
                    f"not {type(session).__name__}")


def v2_session(session: object) -> V2Session | None:
    """`session` as a v2 session; None: the real one."""
    if session is None or isinstance(session, V2Session):
        return session
    raise TypeError(f"target azureml-v2 needs an SDK v2 session (runner.azureml.session_v2.SessionV2), "
                    f"not {type(session).__name__}")
