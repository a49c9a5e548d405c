"""Recording stand-ins for the two sessions, for tests about what runner does around the
session (the SDK objects build_v1 makes, pre-flight refusals, cancel and status records)
rather than about the requests: `runner apply` itself, both targets, runs on the wire
through the real sessions (test_wire_*.py, test_apply.py). Objects a pipeline is made of
stay the SDK's own."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import IO, Any

from azureml.core import Workspace
from azureml.core.authentication import AbstractAuthentication
from azureml.data.azure_storage_datastore import AzureBlobDatastore

from runner.azureml.session_v1 import Session
from runner.azureml.session_v2 import SessionV2
from runner.azureml.sessions import ComputeSpec, DatastoreSpec, ModelSpec, PipelineV1, WorkspaceSpec


class OfflineAuth(AbstractAuthentication):  # type: ignore[misc]  # the SDK's classes are Any
    """Tokens nobody checks: the Workspace object is built, never contacted."""

    def _get_arm_token(self) -> str:
        return "offline"

    def _get_graph_token(self) -> str:
        return "offline"

    def _get_azureml_client_token(self) -> str:
        return "offline"

    def _get_all_subscription_ids(self) -> list[str]:
        return []

    def get_authentication_header(self) -> dict[str, str]:
        return {"Authorization": "Bearer offline"}


def offline_workspace() -> Workspace:
    return Workspace("00000000-0000-0000-0000-000000000000", "rg", "ws", auth=OfflineAuth(),
                     _location="westeurope", _disable_service_check=True)


@dataclass
class FakeRun:
    id: str = "predict-digits-mnist_1700000000_abcd1234"


@dataclass
class RecordingSession(Session):
    """Session v1 with the network calls recorded (and the rows a run would write)."""

    rows: list[str] = field(default_factory=lambda: ["0.png: 7"])
    ends: str = "Finished"  # the status `wait` returns
    reads_data: bool = False
    append_row_file: str = "mnist_outputs.txt"
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def workspace(self, spec: WorkspaceSpec) -> Any:
        self.calls.append(("workspace", spec))
        self.ws = offline_workspace()
        return self.ws

    def compute(self, ws: Any, spec: ComputeSpec) -> Any:
        self.calls.append(("compute", spec))
        return spec["name"]

    def register_datastore(self, ws: Any, name: str, spec: DatastoreSpec) -> Any:
        self.calls.append(("register_datastore", name, spec))
        return AzureBlobDatastore(ws, name, spec["container_name"], spec["account_name"])

    def datastore(self, ws: Any, name: str | None) -> Any:
        self.calls.append(("datastore", name))
        return AzureBlobDatastore(ws, name or "workspaceblobstore", "azureml-blobstore", "wsaccount")

    def registered_dataset(self, ws: Any, name: str, version: str) -> Any:
        from azureml.core import Dataset

        self.calls.append(("registered_dataset", name, version))
        store = AzureBlobDatastore(ws, "workspaceblobstore", "azureml-blobstore", "wsaccount")
        return Dataset.File.from_files(path=(store, f"assets/{name}/{version}"), validate=False)

    def upload(self, store: Any, files: list[str], root: str, target: str) -> None:
        self.calls.append(("upload", store.name, root, [os.path.relpath(f, root) for f in files], target))

    def register_model(self, ws: Any, name: str, spec: ModelSpec) -> Any:
        self.calls.append(("register_model", name, spec))
        return {"name": name, "version": 1}

    def submit(self, ws: Any, experiment: str, pipeline: PipelineV1) -> Any:
        self.calls.append(("submit", experiment, pipeline.steps, pipeline.parameters))
        return FakeRun()

    def run_info(self, run: Any) -> dict[str, str]:
        return {"azure_run_id": run.id, "portal_url": f"https://ml.azure.com/runs/{run.id}"}

    def wait(self, ws: Any, run: Any, stream: IO[str] | None) -> str:
        self.calls.append(("wait", run.id))
        return self.ends

    # `runner cancel` / `status` and the pre-flight cluster check (issue 13)
    max_nodes: int | None = None  # an existing cluster's max_nodes; None: no cluster yet
    service_status: str = "Running"

    def existing_max_nodes(self, ws: Any, name: str) -> int | None:
        self.calls.append(("existing_max_nodes", name))
        return self.max_nodes

    def graph(self, ws: Any, pipeline: Any) -> None:  # offline: no default datastore to read
        self.calls.append(("graph", len(pipeline.steps)))

    def status(self, ws: Any, experiment: str, run_id: str) -> str:
        self.calls.append(("status", experiment, run_id))
        return self.service_status

    def cancel(self, ws: Any, experiment: str, run_id: str) -> None:
        self.calls.append(("cancel", experiment, run_id))

    def download(self, ws: Any, run: Any, step: str, output: str, dest: str) -> None:
        self.calls.append(("download", step, output))
        folder = os.path.join(dest, "azureml", run.id, output)  # where the SDK puts a PipelineData
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, self.append_row_file), "w", encoding="utf-8") as handle:
            handle.writelines(row + "\n" for row in self.rows)


@dataclass
class Submitted:
    name: str = "shy_lamp_0a1b2c3d"
    studio_url: str = "https://ml.azure.com/runs/shy_lamp_0a1b2c3d"


@dataclass
class RecordingSessionV2(SessionV2):
    """SessionV2 with MLClient's calls recorded; `load` is the real azure.ai.ml.load_job."""

    rows: list[str] = field(default_factory=lambda: ["0.png: 7"])
    ends: str = "Completed"  # the status `wait` returns
    append_row_file: str = "mnist_outputs.txt"
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    jobs: list[Any] = field(default_factory=list)

    def workspace(self, spec: WorkspaceSpec) -> Any:
        self.calls.append(("workspace", spec))
        return "client"

    def compute(self, client: Any, spec: ComputeSpec) -> Any:
        self.calls.append(("compute", spec))
        return spec["name"]

    def register_datastore(self, client: Any, name: str, spec: DatastoreSpec) -> Any:
        self.calls.append(("register_datastore", name, spec))
        return name

    def submit(self, client: Any, experiment: str, job: Any) -> Any:
        self.calls.append(("submit", experiment))
        self.jobs.append(job)
        return Submitted()

    def wait(self, client: Any, submitted: Any, stream: IO[str] | None) -> str:
        self.calls.append(("wait", submitted.name))
        return self.ends

    max_nodes: int | None = None
    service_status: str = "Running"

    def existing_max_nodes(self, client: Any, name: str) -> int | None:
        self.calls.append(("existing_max_nodes", name))
        return self.max_nodes

    def register_model(self, client: Any, name: str, spec: ModelSpec) -> Any:
        self.calls.append(("register_model", name, spec))

    def status(self, client: Any, experiment: str, name: str) -> str:
        self.calls.append(("status", experiment, name))
        return self.service_status

    def cancel(self, client: Any, experiment: str, name: str) -> None:
        self.calls.append(("cancel", experiment, name))

    def download(self, client: Any, submitted: Any, step: str, output: str, dest: str) -> None:
        self.calls.append(("download", submitted.name, output))
        folder = os.path.join(dest, "named-outputs", output)  # where jobs.download puts a named output
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, self.append_row_file), "w", encoding="utf-8") as handle:
            handle.writelines(row + "\n" for row in self.rows)
