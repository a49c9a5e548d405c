"""The one seam between the runner and an Azure ML workspace (azure-ai-ml, SDK v2).

`MLClient` with azure-identity's `DefaultAzureCredential`; every call that needs the
network is a method here. The wire tests (tests/azureml/test_wire_*.py) run this class with
the real SDK and only the network replaced (`credential`, `transport`); nothing in this file
was run against a live workspace from this project's machines (README).
"""

from __future__ import annotations

from typing import IO, Any

from runner.azureml.sessions import ComputeSpec, DatastoreSpec, ModelSpec, WorkspaceSpec

# MLClient, the job and the SDK's entities are typed Any here: azure-ai-ml is installed in
# .venv-azure only, and mypy runs in .venv.


class SessionV2:
    """azure-ai-ml calls (a sessions.V2Session)."""

    def __init__(self, credential: Any = None, transport: Any = None) -> None:
        # An azure-core TokenCredential (None: DefaultAzureCredential) and HttpTransport
        # (None: azure-core's default, requests) for every client MLClient makes.
        self.credential = credential
        self.transport = transport

    def workspace(self, spec: WorkspaceSpec) -> Any:
        """The workspace's MLClient."""
        from azure.ai.ml import MLClient

        credential = self.credential
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        extra = {"transport": self.transport} if self.transport is not None else {}
        if "config" in spec:
            return MLClient.from_config(credential=credential, path=spec["config"], **extra)
        return MLClient(credential, spec["subscription_id"], spec["resource_group"], spec["name"], **extra)

    def compute(self, client: Any, spec: ComputeSpec) -> Any:
        """Reuse the cluster if it exists, else create it and wait."""
        from azure.ai.ml.entities import AmlCompute
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return client.compute.get(spec["name"])
        except ResourceNotFoundError:
            tier = "low_priority" if spec["vm_priority"] == "lowpriority" else "dedicated"  # v2's words
            cluster = AmlCompute(name=spec["name"], size=spec["vm_size"], tier=tier,
                                 min_instances=spec["min_nodes"], max_instances=spec["max_nodes"],
                                 idle_time_before_scale_down=spec["idle_seconds_before_scaledown"])
            return client.compute.begin_create_or_update(cluster).result()

    def register_datastore(self, client: Any, name: str, spec: DatastoreSpec) -> Any:
        from azure.ai.ml.entities import AccountKeyConfiguration, AzureBlobDatastore, SasTokenConfiguration

        credentials = None
        if spec.get("account_key"):
            credentials = AccountKeyConfiguration(account_key=spec["account_key"])
        elif spec.get("sas_token"):
            credentials = SasTokenConfiguration(sas_token=spec["sas_token"])
        return client.datastores.create_or_update(AzureBlobDatastore(
            name=name, account_name=spec["account_name"], container_name=spec["container_name"],
            credentials=credentials))

    def load(self, path: str) -> Any:
        from azure.ai.ml import load_job

        return load_job(path)

    def submit(self, client: Any, experiment: str, job: Any) -> Any:
        return client.jobs.create_or_update(job, experiment_name=experiment)

    def run_info(self, submitted: Any) -> dict[str, str]:
        return {"azure_run_id": submitted.name, "portal_url": submitted.studio_url or ""}

    def wait(self, client: Any, submitted: Any, stream: IO[str] | None) -> str:
        """Stream the job's log until it ends; its final status."""
        from azure.ai.ml.exceptions import JobException
        from azure.core.exceptions import HttpResponseError

        try:
            client.jobs.stream(submitted.name)
        except (HttpResponseError, JobException) as exc:
            # Ctrl-C comes back as a JobException (found on the wire): it stays a Ctrl-C,
            # or a run that goes on would be recorded as failed.
            if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt from exc
            # Otherwise stream raises when the job fails; the status says so.
        return _status(client.jobs.get(submitted.name).status)

    def download(self, client: Any, submitted: Any, step: str, output: str, dest: str) -> None:
        # A v2 output is named by the pipeline's output (the node's), not by the step.
        client.jobs.download(submitted.name, download_path=dest, output_name=output)

    def existing_max_nodes(self, client: Any, name: str) -> int | None:
        """The max_instances of the cluster `name` if it exists (None: it does not)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            compute = client.compute.get(name)
        except ResourceNotFoundError:
            return None
        found = getattr(compute, "max_instances", None)
        return int(found) if found is not None else None

    def register_model(self, client: Any, name: str, spec: ModelSpec) -> Any:
        """A new version of the model, as v1's Model.register: an entry script's
        Model.get_model_path(name) finds registered models through the run's workspace."""
        from azure.ai.ml.entities import Model

        return client.models.create_or_update(Model(name=name, path=spec["path"], type="custom_model",
                                                    tags=spec["tags"] or None, description=spec["description"]))

    # A job's name is unique in the workspace: the experiment is not needed to find it.
    def status(self, client: Any, experiment: str, name: str) -> str:
        return _status(client.jobs.get(name).status)

    def cancel(self, client: Any, experiment: str, name: str) -> None:
        client.jobs.begin_cancel(name).result()


def _status(value: Any) -> str:
    """A job's status as the service words it ("Completed"). The SDK gives a str-Enum,
    whose str() is "JobStatus.COMPLETED" (found by the wire tests): its value is the word."""
    return str(getattr(value, "value", value))
