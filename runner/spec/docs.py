"""What each spec field means, for people: the hover text of the JSON Schema.

The texts live here, in one table keyed by "Model.field", and not as
`Field(description=...)` in models.py, because:
- models.py stays about validation: one line per field, its rules readable at a glance
  (prose for 77 fields would bury them, and the module would triple in length);
- they cost nothing when a spec is validated: only the schema generator (schema.py,
  run by `runner schema` and the tests) imports this module;
- the words users read are reviewed in one place, and schema.py applies them in one place
  (a `GenerateJsonSchema` hook), where a test also checks that every field has a text and
  every text a field.

Each text is Markdown: Azure's meaning first (the `ParallelRunConfig` / `ParallelRunStep`
parameter, or the v2 `parallel` job key, it maps to), units, what the local engine does,
then an example. Defaults and allowed ranges are *not* written here: schema.py appends
them from the models' own constraints, so they cannot drift. `[text](key)` links name a
key of `LINKS`.
"""

from __future__ import annotations

import re

_PY = "https://learn.microsoft.com/python/api/"
LINKS = {
    "prc": _PY + "azureml-pipeline-steps/azureml.pipeline.steps.parallelrunconfig",
    "prs": _PY + "azureml-pipeline-steps/azureml.pipeline.steps.parallelrunstep",
    "v2": "https://learn.microsoft.com/azure/machine-learning/reference-yaml-job-parallel",
    "compute": _PY + "azureml-core/azureml.core.compute.amlcompute.amlcompute",
    "datastore": _PY + "azureml-core/azureml.core.datastore.datastore",
    "environment": _PY + "azureml-core/azureml.core.environment.environment",
    "workspace": _PY + "azureml-core/azureml.core.workspace.workspace",
    "tabular": _PY + "azureml-core/azureml.data.dataset_factory.tabulardatasetfactory",
    "files": _PY + "azureml-core/azureml.data.dataset_factory.filedatasetfactory",
    "model": _PY + "azureml-core/azureml.core.model.model",
    "pipelinedata": _PY + "azureml-pipeline-core/azureml.pipeline.core.pipelinedata",
    "parameter": _PY + "azureml-pipeline-core/azureml.pipeline.core.graph.pipelineparameter",
    "experiment": _PY + "azureml-core/azureml.core.experiment.experiment",
    "vmsizes": "https://learn.microsoft.com/azure/virtual-machines/sizes",
    "storage": "https://learn.microsoft.com/rest/api/storageservices/"
               "naming-and-referencing-containers--blobs--and-metadata",
}

FIELDS: dict[str, str] = {
    # --- the spec ---
    "Spec.name": """The job's name. On Azure ML it names the pipeline (v2: its `display_name`) and,
        unless `experiment` is set, the experiment. Lowercase letters, digits and dashes,
        starting with a letter (Azure's rule for step names). Example: `name: predict-digits-mnist`.""",
    "Spec.description": """Free text about the job. On `azureml-v2` it is the pipeline job's
        `description`. Example: `description: Score last night's images`.""",
    "Spec.experiment": """The Azure ML [experiment](experiment) runs are submitted to (v1
        `Experiment(ws, name).submit`, v2 `experiment_name`). Unset: the job's `name`.
        Example: `experiment: digit_identification`.""",
    "Spec.target": """Where `runner apply` and `runner plan` run the job when no `--target` is
        given: `local` (this machine, with ParallelRunStep's semantics), `ray` (the same engine
        with its workers as actors on a Ray cluster: `ray:`), `azureml` (an SDK v1
        pipeline of ParallelRunSteps) or `azureml-v2` (a v2 pipeline job with one `parallel`
        node per step). Example: `target: azureml-v2`.""",
    "Spec.parameters": """Pipeline parameters (v1 [`PipelineParameter`](parameter), v2 pipeline
        `inputs`): named values that fields take as `${{ parameters.NAME }}`, so a variant or
        `--set-param NAME=VALUE` changes a run without touching the steps. A value is a
        string, number or boolean, or `{dataset: NAME}` (a dataset parameter, for `inputs`).
        On Azure the base spec's values are the defaults and a variant submits its own.
        Example: `parameters: {batch_size_param: "5", mnist_param: {dataset: mnist}}`.""",
    "Spec.datasets": """The data the steps read, by name: `kind: file` (Azure's FileDataset) or
        `kind: tabular` (TabularDataset). Used as `${{ datasets.NAME }}` in `inputs`,
        `side_inputs` and `arguments`, or through a dataset parameter.
        Example: `datasets: {mnist: {kind: file, path: ../data/mnist/}}`.""",
    "Spec.models": """Models the entry script loads, by name. On Azure each is registered and
        mounted; locally it is laid out under `AZUREML_MODEL_DIR`, so
        `Model.get_model_path("NAME")` works unchanged. `${{ models.NAME }}` in `arguments`
        passes its path. Example: `models: {mnist-prs: {path: ../models/mnist}}`.""",
    "Spec.azure": """Azure ML settings: the workspace, the compute cluster, datastores and the
        Python environment. The `azureml` and `azureml-v2` targets need at least `compute`
        and `environment`; the local target ignores them.
        Example: `azure: {compute: {name: cpu-cluster}, environment: {name: batch-env}}`.""",
    "Spec.ray": """Ray settings, read only by the `ray` target: which cluster and what each
        worker actor asks of it. Unset: a cluster started on this machine for the run.
        Example: `ray: {address: auto, cpus_per_worker: 1}`.""",
    "Spec.steps": """The pipeline's steps, in order; each is a ParallelRunStep (v2: a `parallel`
        node). A step reads an earlier one's output as `${{ steps.STEP.outputs.NAME }}`; a
        variant changes a step by naming it. Example:
        `steps: [{name: score, inputs: ["${{ datasets.images }}"], output: {name: scores},
        parallel_run: {entry_script: score.py}}]`.""",
    # --- datasets and models ---
    "FileDataset.kind": """`file`: a FileDataset. `run(mini_batch)` gets a list of local file
        paths, `mini_batch_size` of them.""",
    "FileDataset.path": """Where the files are: a folder (read recursively), a glob
        (`../data/*.png`, local target only), one file, a datastore URI
        `azureml://datastores/NAME/paths/PATH`, a registered data asset `azureml:NAME:VERSION`
        (or `azureml:NAME@latest`), an `https://` URL, or a `failed_items.jsonl` with
        `manifest: true`. Relative to the file that sets it. The Azure targets upload a local
        path to the default datastore, once per content ([`Dataset.File.from_files`](files)).
        Example: `path: ../data/mnist/`.""",
    "FileDataset.description": """Free text about the dataset, for people reading the spec.""",
    "FileDataset.partition_format": """Azure's `partition_format`: partition keys read from each
        file's path, from the first key to the end of the path. `{name}` is one path segment,
        `{name:yyyy/MM/dd}` a date from `yyyy`, `MM`, `dd`, `HH`, `mm`, `ss`; these are the
        keys `partition_keys` can group by.
        Example: `partition_format: /{clinic}/{day:yyyy/MM/dd}/scan.png`.""",
    "FileDataset.manifest": """`path` is the `failed_items.jsonl` of a local run: the dataset is
        exactly the mini-batches that failed or never ran there, so a variant re-runs only
        those. Local target only. Example: `manifest: true`.""",
    "TabularDataset.kind": """`tabular`: a TabularDataset. `run(mini_batch)` gets a pandas
        DataFrame of about `mini_batch_size` bytes of rows, never spanning two files.""",
    "TabularDataset.path": """Where the tables are: a folder, a glob (local target only) or one
        file of CSV, JSON Lines or Parquet; a datastore URI `azureml://datastores/NAME/paths/PATH`,
        a data asset `azureml:NAME:VERSION`, an `https://` URL, or a `failed_items.jsonl`
        with `manifest: true`. Relative to the file that sets it. A local folder for
        `azureml-v2` needs an `MLTable` file. Example: `path: ../data/tabular/`.""",
    "TabularDataset.format": """The tables' format: `csv` (delimited text), `parquet` or `jsonl`
        (JSON Lines). Unset: from each file's suffix (`.parquet`, `.jsonl`; anything else is
        CSV). On v1, [`Dataset.Tabular`](tabular)`.from_delimited_files`, `from_parquet_files`
        or `from_json_lines_files`. Example: `format: parquet`.""",
    "TabularDataset.delimiter": """The field separator of CSV files (v1 `separator`): one
        character, not a quote or a line break. Example: `delimiter: ";"`, or `"\\t"` for
        tab-separated files.""",
    "TabularDataset.header": """Whether the first line of each CSV file holds the column names;
        `false`: the columns are numbered. Example: `header: false`.""",
    "TabularDataset.encoding": """The text encoding of CSV and JSON Lines files: a name Python
        knows. A file in an encoding that does not write ASCII as itself (UTF-16, UTF-32) is
        read whole, as one mini-batch. Example: `encoding: latin-1`.""",
    "TabularDataset.description": """Free text about the dataset, for people reading the spec.""",
    "TabularDataset.partition_format": """Azure's `partition_format`: partition keys read from
        each file's path, from the first key to the end of the path, as columns of the
        DataFrame. `{name}` is one path segment (a string column); `{name:yyyy/MM/dd}` a date
        from `yyyy`, `MM`, `dd`, `HH`, `mm`, `ss` (a datetime column on Azure, its ISO text
        locally). Example: `partition_format: /{clinic}/{PartitionDate:yyyy/MM/dd}/rows.csv`.""",
    "TabularDataset.manifest": """`path` is the `failed_items.jsonl` of a local run: the dataset
        is exactly the rows that failed or never ran there (their byte ranges and row groups),
        so a variant re-runs only those. Local target only. Example: `manifest: true`.""",
    "ModelAsset.path": """The model file or folder, relative to the file that sets it. Azure
        registers it ([`Model.register`](model) on v1, a `custom_model` input on v2) and mounts
        it; locally it is laid out as `AZUREML_MODEL_DIR` lays out registered models.
        Example: `path: ../models/mnist`.""",
    "ModelAsset.tags": """Tags of the registered model (`Model.register`'s `tags`, v1).
        Example: `tags: {pretrained: mnist}`.""",
    "ModelAsset.description": """The registered model's description (`Model.register`, v1).""",
    # --- azure ---
    "Azure.workspace": """Which Azure ML workspace: a `config.json`, or subscription, resource
        group and name. Unset: `config.json` next to the spec.""",
    "Azure.compute": """The AmlCompute cluster the steps run on; the Azure targets need it.
        Example: `compute: {name: cpu-cluster, vm_size: STANDARD_D2_V2, max_nodes: 4}`.""",
    "Azure.datastores": """Blob containers registered as datastores, by name, for dataset paths
        `azureml://datastores/NAME/paths/...` and step outputs. `workspaceblobstore` and
        `workspacefilestore` exist in every workspace. Example:
        `datastores: {mnist_datastore: {container_name: sampledata, account_name: pipelinedata}}`.""",
    "Azure.environment": """The Python environment the workers run in on Azure; the Azure
        targets need it. Locally the workers run in the Python that runs `runner`.
        Example: `environment: {name: batch-env, python_version: "3.11", pip: [pillow]}`.""",
    # --- ray ---
    "Ray.address": """Which Ray cluster runs the job: `local` starts one on this machine for
        the run; `auto` joins the cluster this machine belongs to (`RAY_ADDRESS`, or the
        one `ray start` started); `HOST:PORT` a cluster's GCS address; `ray://HOST:PORT`
        Ray Client. Every node must reach the driver's address (README, "Ray").
        Example: `address: auto`.""",
    "Ray.cpus_per_worker": """CPUs each worker actor reserves (Ray's `num_cpus`, in steps of
        0.0001); a node runs `process_count_per_node` of them. Example: `cpus_per_worker: 2`.""",
    "Ray.gpus_per_worker": """GPUs each worker actor reserves (Ray's `num_gpus`, fractions
        allowed, in steps of 0.0001); Ray sets the actor's `CUDA_VISIBLE_DEVICES`. Locally
        no field is needed: each worker process gets its own GPU (README, "GPUs").
        Example: `gpus_per_worker: 1`.""",
    "Ray.pip": """Packages Ray installs on each node for the job's actors (`runtime_env`'s
        `pip`): what the entry script imports that the nodes' Python lacks. Example:
        `pip: [pillow>=10]`.""",
    "Workspace.config": """The workspace's `config.json`, as the Azure portal downloads it,
        read by [`Workspace.from_config`](workspace) (v1) or `MLClient.from_config` (v2).
        Relative to the file that sets it. Used unless `subscription_id` is given.
        Example: `config: ../config.json`.""",
    "Workspace.subscription_id": """The workspace's Azure subscription ID; given with
        `resource_group` and `name`, instead of `config`.
        Example: `subscription_id: "{{ env.AZURE_SUBSCRIPTION_ID }}"`.""",
    "Workspace.resource_group": """The workspace's resource group; given with `subscription_id`
        and `name`. Example: `resource_group: ml-rg`.""",
    "Workspace.name": """The workspace's name; given with `subscription_id` and
        `resource_group`. Example: `name: ml-workspace`.""",
    "Compute.name": """The [AmlCompute](compute) cluster: reused if it exists, else created with
        the settings below (v1 `AmlCompute.provisioning_configuration`, v2 `AmlCompute`).
        Letters, digits and dashes, starting with a letter. Example: `name: cpu-cluster`.""",
    "Compute.vm_size": """The [VM size](vmsizes) of the cluster's nodes, used when the cluster is
        created; not every size is offered in every region. Example: `vm_size: STANDARD_NC6S_V3`.""",
    "Compute.vm_priority": """`dedicated` nodes, or `lowpriority` ones (cheaper, but may be
        preempted; v2 calls them `low_priority`). Used when the cluster is created.
        Example: `vm_priority: lowpriority`.""",
    "Compute.min_nodes": """The fewest nodes the cluster keeps, even when idle; `0` lets it scale
        to zero. Used when the cluster is created; at most `max_nodes`. Example: `min_nodes: 1`.""",
    "Compute.max_nodes": """The most nodes the cluster scales up to, used when it is created; a
        step's `node_count` may not exceed it. Example: `max_nodes: 8`.""",
    "Compute.idle_seconds_before_scaledown": """Seconds a node stays idle before the cluster
        scales it down (v2 `idle_time_before_scale_down`). Unset: Azure's default, 1800 s
        (30 minutes). Units: seconds. Example: `idle_seconds_before_scaledown: 600`.""",
    "Datastore.kind": """`blob`: an Azure Blob Storage container, registered with
        [`Datastore.register_azure_blob_container`](datastore) (v1) or `AzureBlobDatastore`
        (v2). The only kind supported.""",
    "Datastore.container_name": """The blob container, by [Azure's naming rules](storage):
        lowercase letters, digits and single dashes, starting and ending with a letter or
        digit. Example: `container_name: sampledata`.""",
    "Datastore.account_name": """The storage account: lowercase letters and digits.
        Example: `account_name: pipelinedata`.""",
    "Datastore.account_key": """An access key of the storage account. Read it from the
        environment: a key written in the spec is an error, and `plan` shows it as `***`.
        Give `account_key` or `sas_token`, not both. Example: `account_key: "{{ env.STORAGE_KEY }}"`.""",
    "Datastore.sas_token": """A SAS token of the storage account (reading needs List and Read
        permissions; writing also Write and Add). Read it from the environment; `plan` shows
        it as `***`. Give `account_key` or `sas_token`, not both.
        Example: `sas_token: "{{ env.STORAGE_SAS }}"`.""",
    "Environment.name": """The name the [environment](environment) is registered under (v1
        `Environment(name)`, v2 the conda file's `name`). Example: `name: batch_environment`.""",
    "Environment.python_version": """The environment's Python version (a conda `python=`
        dependency). Unset: conda's default. Quote it: YAML reads `3.10` as 3.1.
        Example: `python_version: "3.11"`.""",
    "Environment.pip": """pip requirements. `azureml-core` and
        `azureml-dataset-runtime[pandas,fuse]`, which every ParallelRunStep needs, are added
        when missing, and `mltable` for a v2 tabular input.
        Example: `pip: [tensorflow-cpu~=2.21.0, pillow]`.""",
    "Environment.conda": """conda packages (from `conda-forge` on v2). Example: `conda: [pip]`.""",
    "Environment.docker_base_image": """The Docker image the environment builds on. Unset:
        azureml-core's default CPU image, `mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04`.
        Example: `docker_base_image: mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04`.""",
    # --- steps ---
    "Step.name": """The step's name ([`ParallelRunStep`](prs)'s `name`; v2 the node's
        `display_name`, and its key with other characters as `_`), unique in the spec.
        Variants and `--set steps.NAME.…` find the step by it. Lowercase letters, digits and
        dashes, starting with a letter. Example: `name: predict-digits-mnist`.""",
    "Step.description": """Free text about the step. On `azureml-v2` the parallel component's
        `description` (before `parallel_run.description`).""",
    "Step.inputs": """The data split into mini-batches ([`ParallelRunStep`](prs)'s `inputs`; v2
        the component's `input_data`). Each is a whole reference: `${{ datasets.NAME }}`,
        `${{ parameters.NAME }}` (a dataset parameter) or `${{ steps.STEP.outputs.NAME }}`
        (a folder of files). All of one kind, file or tabular; each is split on its own and
        all mini-batches are treated alike. `azureml-v2` takes one input.
        Example: `inputs: ["${{ parameters.mnist_param }}"]`.""",
    "Step.side_inputs": """Reference data every worker reads whole, not split into mini-batches
        ([`ParallelRunStep`](prs)'s `side_inputs`; v2 more component inputs), as `inputs`
        references. Pass a path to the script with `arguments` (locally
        `RUNNER_SIDE_INPUTS` also maps each reference to its path, as JSON).
        Example: `side_inputs: ["${{ datasets.labels }}"]`.""",
    "Step.output": """Where the step's results go: a [`PipelineData`](pipelinedata) (v1), a
        `uri_folder` output (v2), a folder of the run locally. `append_row` writes its file
        there; later steps read it as `${{ steps.STEP.outputs.NAME }}`. Needed by
        `append_row`. Example: `output: {name: inferences}`.""",
    "Step.arguments": """Command-line arguments of the entry script (`sys.argv`;
        [`ParallelRunStep`](prs)'s `arguments`, v2 `program_arguments`). ParallelRunStep adds
        its own, so the first must be an option (`--name`) and its own option names
        (`--mini_batch_size`, ...) are reserved. A value is a string, a number, or a whole
        reference: `${{ models.NAME }}`, `${{ datasets.NAME }}` and
        `${{ steps.STEP.outputs.NAME }}` become paths, `${{ parameters.NAME }}` its value.
        Example: `arguments: [--model, "${{ models.mnist-prs }}", --threshold, 0.5]`.""",
    "Step.allow_reuse": """Reuse the results of an earlier run with the same settings and inputs
        instead of running again ([`ParallelRunStep`](prs)'s `allow_reuse`; v2
        `is_deterministic`). Locally a step is reused when its definition, inputs (paths,
        sizes, modification times), models and code snapshot are unchanged, and says so.
        `false`: always run. Example: `allow_reuse: false`.""",
    "Step.incremental": """Reuse an earlier run's rows item by item (local engine): when an
        earlier run of this step had the same definition, code snapshot and models, each
        input file whose size and modification time are unchanged keeps its rows from that
        run, only new and changed files run, and files gone from the input drop out of the
        output. `digest`: compare files by size and a SHA-256 of their content instead (for
        stores whose modification times cannot be trusted; every file is read once). Not
        with `summary_only`. `runner apply --no-reuse` runs everything. Example:
        `incremental: true`.""",
    "Step.parallel_run": """How the step runs: Azure's [`ParallelRunConfig`](prc), field for
        field (its environment and compute come from `azure`).
        Example: `parallel_run: {entry_script: score.py, mini_batch_size: 10, error_threshold: 5}`.""",
    "Output.name": """The output's name ([`PipelineData`](pipelinedata)'s name; v2 the output's
        key): letters, digits and `_`, not starting with a digit. Later steps read it as
        `${{ steps.STEP.outputs.NAME }}`. Example: `name: inferences`.""",
    "Output.datastore": """The datastore the output is written to on Azure: one of
        `azure.datastores`, or `workspaceblobstore`. Unset: the workspace's default datastore.
        Example: `datastore: mnist_datastore`.""",
}

# ParallelRunConfig, field for field; kept apart from FIELDS to keep each table short.
PARALLEL_RUN: dict[str, str] = {
    "source_directory": """The folder with the entry script and the files it uses, relative to
        the file that sets it. It is the run's code snapshot: copied when a run starts (Azure
        uploads it), without what the top `.amlignore`, else `.gitignore`, excludes; workers
        run in the copy. Example: `source_directory: ..`.""",
    "entry_script": """The user script, a path inside `source_directory` (no `..`). It
        defines `init()`, called once per worker process (load the model there), and
        `run(mini_batch)`, called per mini-batch with a list of file paths or a pandas
        DataFrame; `run()` returns a list or DataFrame with one element per item that
        succeeded. An optional `shutdown()` runs at the end. See [`ParallelRunConfig`](prc).
        Example: `entry_script: entry_scripts/score.py`.""",
    "mini_batch_size": """How much one `run()` call gets. File inputs: a number of files.
        Tabular inputs: an approximate amount of data, in bytes or with a unit `KB`, `MB` or
        `GB` (1KB = 1024 bytes), at most 1024GB. Unset: 10 files, or 1MB of rows. Not with
        `partition_keys`. May be `${{ parameters.NAME }}`. Example: `mini_batch_size: 10` or
        `mini_batch_size: 10MB`.""",
    "partition_keys": """Split the input by key instead of by size: each distinct combination of
        the keys' values is one mini-batch, and `run(mini_batch, mini_batch_context)` finds it
        in `mini_batch_context.partition_key_value`. The keys must come from every input's
        `partition_format` (locally also a table's columns); the Azure targets need a tabular
        dataset with `partition_format`. Not with `mini_batch_size`; no key twice.
        Example: `partition_keys: [clinic]`.""",
    "error_threshold": """How many failed items the step tolerates over its whole input (not per
        mini-batch): records for tabular inputs, files for file inputs. One more and the step
        stops (exit 1) with the reason. `-1` tolerates any number, `0` none. An item fails when
        its mini-batch fails for good, or when `run()` returns fewer results than items. v1
        requires it; v2 and this runner default to -1. Example: `error_threshold: 10`.""",
    "allowed_failed_count": """How many failed mini-batches the step tolerates over its whole
        input; one more and it stops (exit 1). Locally a mini-batch counts once all its tries
        failed (Azure may count one between two tries). `-1`: any number; unset: not
        checked. v2 `mini_batch_error_threshold`. With `error_threshold` and
        `allowed_failed_percent`, the first one exceeded stops the step.
        Example: `allowed_failed_count: 3`.""",
    "allowed_failed_percent": """The percentage of the step's mini-batches that may fail; above
        it the step stops (exit 1). `100` tolerates any number; unset: not checked. Azure
        checks it once all mini-batches are scheduled, the local engine after each one. v2 has
        no key for it: it is passed to the script as `--allowed_failed_percent`, as Azure's v2
        examples do. Units: percent, decimals allowed. Example: `allowed_failed_percent: 2.5`.""",
    "output_action": """What becomes of what `run()` returns. `append_row`: every returned
        element (or DataFrame row) is appended as one line to `append_row_file_name` in the
        step's `output`, which it needs. `summary_only`: the script writes its own output
        (`EntryScript().output_dir`); the returned elements only count the items that
        succeeded. Example: `output_action: summary_only`.""",
    "append_row_file_name": """The name of the `append_row` file in the step's output folder.
        Not any of `~"#%&*:<>?/\\{|}` (Azure refuses them), no leading dot, at most 255 bytes
        of UTF-8. Example: `append_row_file_name: mnist_outputs.txt`.""",
    "append_row_format": """Not an Azure field: how `append_row` writes locally. `text` is
        Azure's format: `str()` of each element, a DataFrame row's values separated by
        spaces, one line each. `csv` adds a header row (reads back with pandas); `parquet`
        writes a typed table once every mini-batch is done. The Azure targets take only
        `text`. Example: `append_row_format: csv`.""",
    "run_invocation_timeout": """Seconds one `run()` call may take. Past it the worker's whole
        process tree is killed, that try fails and the worker starts again with `init()`; the
        mini-batch gets up to `run_max_try` tries. v2 `retry_settings.timeout`. May be
        `${{ parameters.NAME }}`. Units: seconds. Example: `run_invocation_timeout: 300`.""",
    "run_max_try": """How many times a failed or timed-out mini-batch is tried, the first try
        included; after the last it fails for good (counted by the thresholds, listed in
        `failed_items.jsonl`). v2 counts retries: `retry_settings.max_retries` is one less.
        `1`: no retry. May be `${{ parameters.NAME }}`. Example: `run_max_try: 5`.""",
    "process_count_per_node": """Worker processes per node; each calls `init()` once, then
        `run()` per mini-batch, so `process_count_per_node × node_count` `run()` calls run at
        once. Unset: one per CPU core (Azure: 1 on a GPU VM). v2
        `max_concurrency_per_instance`. May be `${{ parameters.NAME }}`.
        Example: `process_count_per_node: 2`.""",
    "node_count": """Nodes of the compute cluster the step runs on, at most its `max_nodes` (v2
        `resources.instance_count`). Locally `node_count × process_count_per_node` workers
        run on this machine. May be `${{ parameters.NAME }}`. Example: `node_count: 2`.""",
    "logging_level": """The Python `logging` level in each worker (`logs/user/` of the run holds
        what the entry script logs): `WARNING`, `INFO` or `DEBUG`. May be
        `${{ parameters.NAME }}`. Example: `logging_level: DEBUG`.""",
    "environment_variables": """Environment variables set in every worker process that runs
        the entry script. Numbers and booleans are passed as text (`true`, `false`); values
        read from a secret variable (`{{ env.API_KEY }}`) are shown as `***` by `plan`.
        Example: `environment_variables: {OMP_NUM_THREADS: 1}`.""",
    "description": """A description of the batch job, for display ([`ParallelRunConfig`](prc)'s
        `description`; v2 the component's, unless the step has one).""",
}
FIELDS.update({f"ParallelRun.{name}": text for name, text in PARALLEL_RUN.items()})

# Not fields of the models: the variant's `extends`, and a dataset parameter's one key.
EXTENDS = """The base spec this variant changes, relative to this file: a `.yaml` or `.yml`
    file inside the same git repository. Mappings merge key by key, `steps` merge by `name`,
    other lists are replaced, and `null` removes a key. Example: `extends: mnist.yaml`."""
DATASET_PARAMETER = """The name of one of `datasets`: a dataset parameter (v1 a
    `PipelineParameter` of a `DatasetConsumptionConfig`, v2 a pipeline input), for a step's
    `inputs`. Example: `mnist_param: {dataset: mnist}`."""

_LINK = re.compile(r"\]\((\w+)\)")


def markdown(text: str) -> str:
    """The text as Markdown: paragraphs joined onto one line each, links resolved."""
    paragraphs = (" ".join(line.strip() for line in block.splitlines()) for block in text.split("\n\n"))
    return _LINK.sub(lambda m: f"]({LINKS[m.group(1)]})", "\n\n".join(p.strip() for p in paragraphs))
