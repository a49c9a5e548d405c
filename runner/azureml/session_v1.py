"""The one seam between the runner and an Azure ML workspace (SDK v1).

Every call that needs credentials or the network is a method here; everything else
(the objects a pipeline is made of) is built in build_v1.py from the compiled plan.
The wire tests (tests/azureml/test_wire_*.py) run this class with the real SDK and only the
network replaced (`auth`); nothing in this file was run against a live workspace from this
project's machines (see README).
"""

from __future__ import annotations

import os
from typing import IO, Any

# The SDK's objects (Workspace, ComputeTarget, Datastore, Model, PipelineRun) are typed Any:
# azureml-core ships no type information. What the compiled pipeline hands the session
# is typed in sessions.py, with the protocol this class satisfies (V1Session).
from runner.azureml.sessions import ComputeSpec, DatastoreSpec, ModelSpec, PipelineV1, WorkspaceSpec
from runner.azureml.submit import AzureError


class Session:
    """azureml-core calls, as the tutorial makes them (a sessions.V1Session)."""

    # Whether datasets may read their data when defined (Dataset.Tabular infers column
    # types that way): yes in a workspace, no offline.
    reads_data = True

    def __init__(self, auth: Any = None) -> None:
        # An azureml-core AbstractAuthentication; None: the SDK's default (interactive
        # login or the Azure CLI's). The wire tests pass one whose tokens nobody issued.
        self.auth = auth

    def workspace(self, spec: WorkspaceSpec) -> Any:
        from azureml.core import Workspace

        if "config" in spec:
            return Workspace.from_config(path=spec["config"], auth=self.auth)
        return Workspace.get(name=spec["name"], subscription_id=spec["subscription_id"],
                             resource_group=spec["resource_group"], auth=self.auth)

    def compute(self, ws: Any, spec: ComputeSpec) -> Any:
        """Reuse the cluster if it exists, else create it and wait (as the tutorial)."""
        from azureml.core.compute import AmlCompute, ComputeTarget

        if spec["name"] in ws.compute_targets:
            return ws.compute_targets[spec["name"]]
        config = AmlCompute.provisioning_configuration(
            vm_size=spec["vm_size"], vm_priority=spec["vm_priority"], min_nodes=spec["min_nodes"],
            max_nodes=spec["max_nodes"], idle_seconds_before_scaledown=spec["idle_seconds_before_scaledown"])
        target = ComputeTarget.create(ws, spec["name"], config)
        target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)
        return target

    def register_datastore(self, ws: Any, name: str, spec: DatastoreSpec) -> Any:
        from azureml.core import Datastore

        return Datastore.register_azure_blob_container(
            ws, datastore_name=name, container_name=spec["container_name"], account_name=spec["account_name"],
            account_key=spec.get("account_key"), sas_token=spec.get("sas_token"), overwrite=True)

    def datastore(self, ws: Any, name: str | None) -> Any:
        """A datastore by name; None: the workspace's default (where outputs and uploads go)."""
        from azureml.core import Datastore

        return ws.get_default_datastore() if name is None else Datastore.get(ws, name)

    def registered_dataset(self, ws: Any, name: str, version: str) -> Any:
        """A data asset registered in the workspace (a spec's `azureml:<name>:<version>`)."""
        from azureml.core import Dataset

        return Dataset.get_by_name(ws, name, version=version)

    def upload(self, store: Any, files: list[str], root: str, target: str) -> None:
        """Local files to target/<path relative to root>; files already there are kept
        (the target is named by a digest of the listing: same files, same data)."""
        store.upload_files(files, relative_root=root, target_path=target, overwrite=False, show_progress=False)

    def register_model(self, ws: Any, name: str, spec: ModelSpec) -> Any:
        from azureml.core.model import Model

        return Model.register(workspace=ws, model_path=spec["path"], model_name=name, tags=spec["tags"] or None,
                              description=spec["description"])

    def submit(self, ws: Any, experiment: str, pipeline: PipelineV1) -> Any:
        from azureml.core import Experiment
        from azureml.pipeline.core import Pipeline

        made = Pipeline(workspace=ws, steps=pipeline.steps)
        return Experiment(ws, experiment).submit(made, pipeline_parameters=pipeline.parameters or None)

    def graph(self, ws: Any, pipeline: PipelineV1) -> None:
        """Pipeline() builds the graph and checks its edges without submitting it (finalize,
        which creates the modules, comes at submit)."""
        from azureml.pipeline.core import Pipeline

        Pipeline(workspace=ws, steps=pipeline.steps)

    def run_info(self, run: Any) -> dict[str, str]:
        return {"azure_run_id": run.id, "portal_url": run.get_portal_url()}

    def wait(self, ws: Any, run: Any, stream: IO[str] | None) -> str:
        """Follow the run to its end (the SDK prints its progress); its final status.
        Ctrl-C stays a KeyboardInterrupt: the SDK turns it into its own exception while
        it prints (ExperimentExecutionException), which would read as a service error."""
        try:
            run.wait_for_completion(show_output=stream is not None, raise_on_error=False)
        except Exception as exc:
            if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt from exc
            raise
        return str(run.get_status())

    def download(self, ws: Any, run: Any, step: str, output: str, dest: str) -> None:
        """The step's output into dest. azureml-core opens each file before fetching its
        blob and only logs a blob that fails ("Task Exception"), leaving an empty file;
        it returns how many succeeded, which is checked against the files it made."""
        step_run = run.find_step_run(step)[0]
        downloaded = step_run.get_output_data(output).download(local_path=dest)
        made = sum(len(names) for _, _, names in os.walk(dest))
        if isinstance(downloaded, int) and downloaded < made:
            raise AzureError(f"downloaded {downloaded} of the {made} files of step {step}'s output '{output}': "
                             "blob storage refused or failed the others (the SDK's log above says why)")

    def existing_max_nodes(self, ws: Any, name: str) -> int | None:
        """The max_nodes of the cluster `name` if it exists (None: it does not, or is not an
        AmlCompute): ParallelRunConfig checks node_count against it."""
        from azureml.core.compute import AmlCompute

        target = ws.compute_targets.get(name)
        if not isinstance(target, AmlCompute) or target.scale_settings is None:
            return None
        return int(target.scale_settings.maximum_node_count)

    def status(self, ws: Any, experiment: str, run_id: str) -> str:
        return str(_pipeline_run(ws, experiment, run_id).get_status())

    def cancel(self, ws: Any, experiment: str, run_id: str) -> None:
        _pipeline_run(ws, experiment, run_id).cancel()


def _pipeline_run(ws: Any, experiment: str, run_id: str) -> Any:
    """A submitted PipelineRun, by its id (`runner cancel` / `status` of a recorded run):
    run history keeps runs by experiment, so the id alone does not find one."""
    from azureml.core import Experiment
    from azureml.pipeline.core import PipelineRun

    return PipelineRun(Experiment(ws, experiment), run_id)
