"""Build the real SDK v1 objects from the compiled pipeline, as the tutorial does by hand:
Environment, datasets, PipelineParameters, DatasetConsumptionConfigs, PipelineData,
ParallelRunConfig and ParallelRunStep. Everything that talks to Azure goes through
`Session` (session_v1.py), the one seam tests replace.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, TypedDict

from azureml.core import Dataset, Environment
from azureml.data import FileDataset
from azureml.core.conda_dependencies import CondaDependencies
from azureml.data.dataset_consumption_config import DatasetConsumptionConfig
from azureml.pipeline.core import PipelineData, PipelineParameter
from azureml.pipeline.steps import ParallelRunConfig, ParallelRunStep

from runner.azureml.sessions import PipelineV1, Provisioned, V1Session
from runner.plan.references import MLTABLE


# The SDK's objects are typed Any (azureml-core ships no type information); the compiled
# pipeline is JSON-like data from compile_v1, typed here where its shape is fixed.


class EnvironmentSpec(TypedDict):
    name: str
    python_version: str | None
    conda_packages: list[str]
    pip_packages: list[str]
    docker_base_image: str | None


@dataclass
class Built:
    """The pipeline's parts; `V1Session.submit` takes its steps and pipeline_parameters."""

    workspace: Any
    steps: list[Any]
    parameters: dict[str, Any]  # name -> PipelineParameter
    datasets: dict[str, Any]  # name -> FileDataset / TabularDataset
    pipeline_parameters: dict[str, Any]  # what the variant submits
    models: dict[str, Any] = field(default_factory=dict)  # name -> registered Model
    model_paths: dict[str, str] = field(default_factory=dict)  # name -> local folder or file
    # step name -> its output: a PipelineData, or (read by a later step) the PipelineData
    # promoted to a dataset, the one form the SDK lets a ParallelRunStep input consume.
    outputs: dict[str, Any] = field(default_factory=dict)
    read_later: set[str] = field(default_factory=set)  # steps whose output a later step reads


def listing(path: str, skip: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """What to upload for a local path: (the folder files are relative to, the files).
    `skip` names files that describe the data rather than hold it (a v2 MLTable)."""
    if os.path.isfile(path):
        return os.path.dirname(path) or ".", [path]
    files = []
    for root, dirs, names in os.walk(path):
        dirs.sort()
        files += [os.path.join(root, name) for name in sorted(names) if name not in skip]
    return path, files


def listing_digest(root: str, files: list[str]) -> str:
    """Names, sizes and modification times of what is uploaded: same files, same folder
    on the datastore, so a second apply uploads nothing."""
    digest = hashlib.sha256()
    for path in files:
        stat = os.stat(path)
        digest.update(f"{os.path.relpath(path, root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def upload(session: V1Session, store: Any, local: str, prefix: str, skip: tuple[str, ...] = ()) -> str:
    """Upload a local file or folder under prefix/<digest>; the datastore path to read."""
    root, files = listing(local, skip)
    target = f"{prefix}/{listing_digest(root, files)}"
    session.upload(store, files, root, target)
    return f"{target}/{os.path.basename(local)}" if os.path.isfile(local) else target


def environment(spec: EnvironmentSpec) -> Environment:
    env = Environment(name=spec["name"])
    versions = {"python_version": spec["python_version"]} if spec["python_version"] else {}
    env.python.conda_dependencies = CondaDependencies.create(
        conda_packages=spec["conda_packages"] or None, pip_packages=spec["pip_packages"], **versions)
    if spec["docker_base_image"]:
        env.docker.base_image = spec["docker_base_image"]
    return env


def _dataset(session: V1Session, ws: Any, name: str, spec: dict[str, Any], stores: dict[str, Any]) -> Any:
    if "asset" in spec:  # registered in the workspace: used as it is
        return session.registered_dataset(ws, spec["asset"], spec["version"])
    if "url" in spec:
        path: Any = spec["url"]
    elif "datastore" in spec:
        store = stores.get(spec["datastore"]) or session.datastore(ws, spec["datastore"])
        path = (store, spec["path"])
    else:
        store = session.datastore(ws, None)
        skip = (MLTABLE,) if spec["kind"] == "tabular" else ()  # read by v2 only; not rows
        path = (store, upload(session, store, spec["local"], spec["upload_to"], skip))
    extra = {"partition_format": spec["partition_format"]} if spec.get("partition_format") else {}
    if spec["kind"] == "file":
        return Dataset.File.from_files(path=path, validate=False, **extra)
    if spec["format"] == "parquet":
        return Dataset.Tabular.from_parquet_files(path=path, validate=False, **extra)
    if spec["format"] == "jsonl":
        return Dataset.Tabular.from_json_lines_files(path=path, validate=False, encoding=_encoding(spec), **extra)
    # CSV column types are inferred by reading the data in Azure (the seam says whether it can).
    infer = session.reads_data
    return Dataset.Tabular.from_delimited_files(path=path, validate=False, separator=spec["delimiter"],
                                                header=spec["header"], encoding=_encoding(spec),
                                                infer_column_types=infer, **extra)


def _encoding(spec: dict[str, Any]) -> str:
    # Dataset.Tabular names encodings its own way ("utf8", "latin1", ...).
    encoding: str = spec["encoding"]
    return {"utf-8": "utf8", "latin-1": "latin1", "iso-8859-1": "iso88591", "ascii": "ascii",
            "utf-16": "utf16", "windows-1252": "windows1252"}.get(encoding.lower(), encoding)


def build(compiled: dict[str, Any], session: V1Session, made: Provisioned) -> Built:
    """Build the steps from the workspace resources the shared flow created or reused
    (runner.azureml.submit.submit): datasets are defined, and local data uploaded, here."""
    ws, compute, stores, models = made.workspace, made.compute, made.datastores, made.models
    datasets = {name: _dataset(session, ws, name, spec, stores) for name, spec in compiled["datasets"].items()}
    env = environment(compiled["environment"])
    parameters = {}
    for name, default in compiled["parameters"].items():
        value = datasets[default["dataset"]] if isinstance(default, dict) else default
        parameters[name] = PipelineParameter(name=name, default_value=value)
    built = Built(ws, [], parameters, datasets, {}, models,
                  {name: spec["path"] for name, spec in compiled["models"].items()},
                  read_later={ref["step_output"] for step in compiled["steps"]
                              for ref in step["inputs"] + step["side_inputs"] if "step_output" in ref})
    for spec in compiled["steps"]:
        built.steps.append(_step(spec, built, compute, env, stores, session))
    for name, value in compiled["submit"]["pipeline_parameters"].items():
        built.pipeline_parameters[name] = datasets[value["dataset"]] if isinstance(value, dict) else value
    return built


def _consume(ref: dict[str, Any], built: Built, session: V1Session) -> Any:
    """What ParallelRunStep takes for an input, side input, or an argument naming one."""
    if "parameter" in ref and "input_name" not in ref:
        return built.parameters[ref["parameter"]]
    if "parameter" in ref:
        param = built.parameters[ref["parameter"]]
        return _mounted(DatasetConsumptionConfig(ref["input_name"], param), param.default_value)
    if "step_output" in ref:
        return built.outputs[ref["step_output"]].as_named_input(ref["input_name"]).as_mount()
    if "model" in ref:
        dataset = built.datasets.get(f"model:{ref['model']}")
        if dataset is None:  # the model's files, mounted so an argument can name their path
            store = session.datastore(built.workspace, None)
            target = upload(session, store, built.model_paths[ref["model"]], f"runner/models/{ref['model']}")
            dataset = Dataset.File.from_files(path=(store, target), validate=False)
            built.datasets[f"model:{ref['model']}"] = dataset
        return dataset.as_named_input(ref["input_name"]).as_mount()
    dataset = built.datasets[ref["dataset"]]
    return _mounted(dataset.as_named_input(ref["input_name"]), dataset)


def _mounted(config: DatasetConsumptionConfig, dataset: Any) -> DatasetConsumptionConfig:
    """Files are mounted (as the tutorial); a TabularDataset is read directly, in mini-batches."""
    return config.as_mount() if isinstance(dataset, FileDataset) else config


def _value(value: Any, built: Built) -> Any:
    return built.parameters[value["parameter"]] if isinstance(value, dict) else value


def _step(spec: dict[str, Any], built: Built, compute: Any, env: Environment, stores: dict[str, Any],
          session: V1Session) -> ParallelRunStep:
    config = spec["parallel_run_config"]
    run_config = ParallelRunConfig(
        source_directory=config["source_directory"],
        entry_script=config["entry_script"],
        mini_batch_size=_value(config["mini_batch_size"], built),
        error_threshold=config["error_threshold"],
        allowed_failed_count=config["allowed_failed_count"],
        allowed_failed_percent=config["allowed_failed_percent"],
        output_action=config["output_action"],
        append_row_file_name=config["append_row_file_name"],
        environment=env,
        compute_target=compute,
        process_count_per_node=_value(config["process_count_per_node"], built),
        node_count=_value(config["node_count"], built),
        logging_level=_value(config["logging_level"], built),
        run_invocation_timeout=_value(config["run_invocation_timeout"], built),
        run_max_try=_value(config["run_max_try"], built),
        partition_keys=config["partition_keys"],
        environment_variables=config["environment_variables"] or None,
        description=config["description"],
    )
    consumed: dict[str, Any] = {}

    def consume(ref: dict[str, Any]) -> Any:
        key = repr(sorted(ref.items()))
        if key not in consumed:  # an argument and the side input it names are one object
            consumed[key] = _consume(ref, built, session)
        return consumed[key]

    output = None
    if spec["output"]:
        store = stores.get(spec["output"]["datastore"] or "") or session.datastore(built.workspace,
                                                                                   spec["output"]["datastore"])
        output = PipelineData(name=spec["output"]["name"], datastore=store)
        if spec["name"] in built.read_later:
            # The SDK refuses (at submit, after the workspace is written to) an input read as
            # a dataset from an output that the producing step did not promote.
            output = output.as_dataset()
        built.outputs[spec["name"]] = output
    return ParallelRunStep(
        name=spec["name"],
        parallel_run_config=run_config,
        inputs=[consume(ref) for ref in spec["inputs"]],
        output=output,
        side_inputs=[consume(ref) for ref in spec["side_inputs"]] or None,
        arguments=[consume(a) if isinstance(a, dict) else a for a in spec["arguments"]] or None,
        allow_reuse=spec["allow_reuse"],
    )


class _NoWrites:
    """The session for a dry build: reads go through (the default datastore, a registered
    dataset), uploads are skipped (their target folder is named by the listing alone)."""

    def __init__(self, session: V1Session) -> None:
        self._session = session
        self.reads_data = False  # a dry build defines the datasets; it reads no data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def upload(self, store: Any, files: list[str], root: str, target: str) -> None:
        return None


def dry_pipeline(compiled: dict[str, Any], session: V1Session, ws: Any) -> PipelineV1:
    """The steps built as `build` builds them, before anything is created: the compute
    named (not made), the spec's datastores as SDK objects (not registered), no model
    registered and nothing uploaded. What `V1Session.graph` checks before the apply writes."""
    from azureml.data.azure_storage_datastore import AzureBlobDatastore

    stores = {name: AzureBlobDatastore(ws, name, spec["container_name"], spec["account_name"])
              for name, spec in compiled["datastores"].items()}
    made = Provisioned(ws, compiled["compute"]["name"], stores, {})
    built = build(compiled, _NoWrites(session), made)  # a V1Session but for its upload
    return PipelineV1(built.steps, built.pipeline_parameters)
