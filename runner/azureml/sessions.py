"""The Azure sessions' contracts: everything that needs credentials or the network goes
through one of these, so tests replace exactly this and nothing else.

Both SDKs get the same verbs: find the workspace (v1's `workspace`, v2's `client`),
make the cluster, register datastores and models, submit, follow (`run_info`, `wait`),
read the state (`run_status`), `cancel`, `download`, and read an existing cluster's size
(`existing_max_nodes`). They differ where the SDKs do: v1 builds its pipeline from
objects (so it also looks up datastores and data assets and uploads data itself) and
names a run by a PipelineRun object; v2 loads a job file and names a run by its name.

The SDKs' own objects (Workspace, MLClient, runs, jobs) are `Any`: neither SDK ships
type information, and azure-ai-ml is not installed where mypy runs. What the compiled
pipeline hands the sessions is typed here (the same for both SDKs).
"""

from __future__ import annotations

from typing import IO, Any, Literal, Protocol, TypedDict, runtime_checkable


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


# runtime_checkable: the facade takes a session as `object` (tests pass their own) and
# the backend's factory checks it is the SDK's kind before typing it so.
@runtime_checkable
class V1Session(Protocol):
    """azureml-core (SDK v1): runner.azureml.session_v1.Session."""

    # Whether datasets may read their data when defined (Dataset.Tabular infers column
    # types that way): yes in a workspace, no offline.
    reads_data: bool

    def workspace(self, spec: WorkspaceSpec) -> Any: ...

    def compute(self, ws: Any, spec: ComputeSpec) -> Any: ...

    def register_datastore(self, ws: Any, name: str, spec: DatastoreSpec) -> Any: ...

    def datastore(self, ws: Any, name: str | None) -> Any: ...

    def registered_dataset(self, ws: Any, name: str, version: str) -> Any: ...

    def upload(self, store: Any, files: list[str], root: str, target: str) -> None: ...

    def register_model(self, ws: Any, name: str, spec: ModelSpec) -> Any: ...

    def submit(self, ws: Any, experiment: str, steps: list[Any], pipeline_parameters: dict[str, Any]) -> Any: ...

    def run_info(self, run: Any) -> dict[str, str]: ...

    def wait(self, run: Any, stream: IO[str] | None) -> str: ...

    def download(self, run: Any, step: str, output: str, dest: str) -> None: ...

    def existing_max_nodes(self, ws: Any, name: str) -> int | None: ...

    def pipeline_run(self, ws: Any, experiment: str, run_id: str) -> Any: ...

    def cancel(self, run: Any) -> None: ...

    def run_status(self, run: Any) -> str: ...


@runtime_checkable
class V2Session(Protocol):
    """azure-ai-ml (SDK v2): runner.azureml.session_v2.SessionV2."""

    def client(self, spec: WorkspaceSpec) -> Any: ...

    def ensure_compute(self, client: Any, spec: ComputeSpec) -> None: ...

    def register_datastore(self, client: Any, name: str, spec: DatastoreSpec) -> None: ...

    def register_model(self, client: Any, name: str, spec: ModelSpec) -> Any: ...

    def load(self, path: str) -> Any: ...

    def submit(self, client: Any, job: Any, experiment: str) -> Any: ...

    def run_info(self, submitted: Any) -> dict[str, str]: ...

    def wait(self, client: Any, submitted: Any, stream: IO[str] | None) -> str: ...

    def download(self, client: Any, submitted: Any, output: str, dest: str) -> None: ...

    def existing_max_nodes(self, client: Any, name: str) -> int | None: ...

    def cancel(self, client: Any, name: str) -> None: ...

    def run_status(self, client: Any, name: str) -> str: ...


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
