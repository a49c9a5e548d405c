"""The spec's Pydantic models: every field of Azure ML's ParallelRunConfig and
ParallelRunStep, plus the spec-level parts (parameters, datasets, models, azure, steps).

Models check one value at a time; rules that relate several fields or sections live in
`checks.py`, where each error can name the exact field it is about.
"""

from __future__ import annotations

import codecs
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Discriminator, Field, PlainValidator, SecretStr, Tag,
                      WithJsonSchema)

from runner.spec import partitions

from runner.spec.types import (
    AssetName,
    EnvName,
    EnvValue,
    ExperimentName,
    FileName,
    Float,
    Int,
    MiniBatchSize,
    Name,
    OutputName,
    ParameterValue,
    ParamName,
    RelativePath,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, defer_build=True)


# --- datasets and models ------------------------------------------------------------

# Azure's syntax: {key} or {key:yyyy/MM/dd} (runner/spec/partitions.py).
PartitionFormat = Annotated[str, Field(min_length=1), AfterValidator(partitions.check)]


def _path_pattern(value: str) -> str:
    problem = partitions.wildcard_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# A dataset's path: a folder, a file, or a glob matched by a regular expression (listing.py).
PathPattern = Annotated[str, Field(min_length=1), AfterValidator(_path_pattern)]


def _delimiter(value: str) -> str:
    if value in ('"', "\r", "\n"):
        raise ValueError("the delimiter cannot be a quote or a line break")
    return value


def _encoding(value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding '{value}' (e.g. utf-8, latin-1, utf-16)") from None
    return value


Delimiter = Annotated[str, Field(min_length=1, max_length=1), AfterValidator(_delimiter)]
Encoding = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_encoding)]


class FileDataset(Strict):
    """Files (Azure's FileDataset): `run()` gets a list of local paths. `path` is a folder
    (recursive), a glob, a single file, or a datastore URI (azureml://datastores/<name>/paths/<path>)."""

    kind: Literal["file"]
    path: PathPattern
    description: str | None = None
    # e.g. "/{year}/{month}/{name}.png": partitions a file dataset for partition_keys.
    partition_format: PartitionFormat | None = None
    # `path` is a failed-items manifest a local run wrote (failed_items.jsonl): the
    # dataset is exactly what failed there, so a variant re-runs only that.
    manifest: bool = False


class TabularDataset(Strict):
    """Rows (Azure's TabularDataset): `run()` gets a pandas DataFrame of about
    `mini_batch_size` bytes."""

    kind: Literal["tabular"]
    path: PathPattern
    format: Literal["csv", "parquet", "jsonl"] | None = None  # None: from the file suffix
    delimiter: Delimiter = ","
    header: bool = True
    encoding: Encoding = "utf-8"
    description: str | None = None
    partition_format: PartitionFormat | None = None
    manifest: bool = False  # as for file datasets: re-run the failed rows of a local run


def _dataset_kind(value: Any) -> str | None:
    return value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)


Dataset = Annotated[
    Annotated[FileDataset, Tag("file")] | Annotated[TabularDataset, Tag("tabular")],
    Discriminator(_dataset_kind, custom_error_type="dataset_kind",
                  custom_error_message="kind must be 'file' or 'tabular'"),
]


class ModelAsset(Strict):
    """A model folder or file; registered on Azure, bound to a local path locally."""

    path: str = Field(min_length=1)
    tags: dict[str, str] = {}
    description: str | None = None


# --- azure ------------------------------------------------------------------------

class Workspace(Strict):
    """The Azure ML workspace: its `config.json`, or its subscription, resource group and name."""

    config: str | None = "config.json"
    subscription_id: str | None = None
    resource_group: str | None = None
    name: str | None = None


class Compute(Strict):
    """An AmlCompute cluster: reused by name if it exists, else created with these settings."""

    # AmlCompute names: 2-16 characters, letters, digits and dashes, starting with a letter.
    name: str = Field(min_length=2, max_length=16, pattern=r"^[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?$")
    vm_size: str = "STANDARD_D2_V2"
    vm_priority: Literal["dedicated", "lowpriority"] = "dedicated"
    min_nodes: Int = Field(0, ge=0)
    max_nodes: Int = Field(4, ge=1)
    idle_seconds_before_scaledown: Int | None = Field(None, ge=0)


class Datastore(Strict):
    """An Azure Blob Storage container registered as a datastore."""

    kind: Literal["blob"] = "blob"
    # Azure Storage's own naming rules.
    container_name: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9](-?[a-z0-9])*$")
    account_name: str = Field(min_length=3, max_length=24, pattern=r"^[a-z0-9]+$")
    # Secrets come from the environment ("{{ env.NAME }}"); `plan` never prints them.
    account_key: SecretStr | None = None
    sas_token: SecretStr | None = None


def _one_line(value: str) -> str:
    if any(c in value for c in "\n\r\x00"):
        raise ValueError("a package requirement is one line (name, version and markers)")
    return value


# One line of a requirements file: compile_v1 parses it with a regular expression, which
# backtracked over a 20 KB entry with line breaks for seconds.
Requirement = Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_one_line)]


class Environment(Strict):
    """The workers' Python environment on Azure: conda and pip packages on a Docker image."""

    name: str = Field(min_length=1, max_length=255)
    python_version: str | None = None
    pip: list[Requirement] = []
    conda: list[Requirement] = []
    docker_base_image: str | None = None


class Azure(Strict):
    """What the Azure ML targets need: the workspace, compute cluster, datastores, environment."""

    workspace: Workspace = Workspace()
    compute: Compute | None = None
    datastores: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,255}$")], Datastore] = {}
    environment: Environment | None = None


_DIGITS = frozenset("0123456789")
_HOST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
_IPV6 = frozenset("0123456789abcdefABCDEF:.%")


def _host_port(text: str) -> bool:
    """HOST:PORT with a host name, an IPv4 address or a [bracketed] IPv6 one, and a port
    in 1-65535. Plain string checks: the value is the user's (and a template's)."""
    host, colon, port = text.rpartition(":")
    if not colon or not port or len(port) > 5 or not set(port) <= _DIGITS or not 0 < int(port) < 65536:
        return False
    if host.startswith("[") and host.endswith("]"):
        return len(host) > 2 and set(host[1:-1]) <= _IPV6
    return bool(host) and set(host) <= _HOST and not host.startswith(("-", "."))


def _ray_address(value: str) -> str:
    if value in ("local", "auto"):
        return value
    if _host_port(value.removeprefix("ray://")):
        return value
    raise ValueError("a Ray address is `local` (a cluster started on this machine for the run), `auto` (the "
                     "cluster this machine belongs to), HOST:PORT (the head's GCS) or ray://HOST:PORT (Ray Client)")


def _ray_quantity(value: float) -> float:
    if 0 < value < 0.0001:  # Ray's resource unit: a smaller request is refused when the actor is made
        raise ValueError("Ray reserves CPUs and GPUs in steps of 0.0001: ask for 0.0001 or more")
    return value


RayAddress = Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_ray_address)]
RayQuantity = Annotated[Float, AfterValidator(_ray_quantity)]


class Ray(Strict):
    """What the `ray` target needs: which cluster, and what each worker actor asks of it."""

    # local: start a cluster for the run on this machine; auto: the cluster this machine
    # belongs to (RAY_ADDRESS, or `ray start`'s); host:port: a GCS address; ray://host:port:
    # Ray Client (the driver must still be reachable from every node: README).
    address: RayAddress = "local"
    cpus_per_worker: RayQuantity = Field(1.0, gt=0, le=1024)
    gpus_per_worker: RayQuantity = Field(0.0, ge=0, le=64)
    # Installed by Ray on each node for the job's actors (runtime_env pip): what the entry
    # script imports that the nodes lack. Empty: the nodes' Python has it.
    pip: list[Requirement] = []


# --- steps ------------------------------------------------------------------------

class Output(Strict):
    """A step's output folder (a PipelineData on v1, a uri_folder output on v2)."""

    name: OutputName
    datastore: str | None = None  # None: the workspace's default datastore


class ParallelRun(Strict):
    """ParallelRunConfig, field for field (environment and compute come from `azure`)."""

    # Relative paths are relative to the folder of the file that sets them.
    source_directory: str = Field(".", min_length=1)
    entry_script: RelativePath  # inside source_directory
    mini_batch_size: MiniBatchSize | None = None  # None: 10 files, or 1MB of rows
    partition_keys: list[Annotated[str, Field(min_length=1)]] | None = Field(None, min_length=1)
    error_threshold: Int = Field(-1, ge=-1)
    allowed_failed_count: Int | None = Field(None, ge=-1)
    allowed_failed_percent: Float | None = Field(None, ge=0, le=100)
    output_action: Literal["append_row", "summary_only"] = "append_row"
    append_row_file_name: FileName = "parallel_run_step.txt"
    # Not an Azure field: text is Azure's append_row (str() per element, DataFrame values
    # separated by spaces); csv adds a header row; parquet writes a typed table at the end.
    append_row_format: Literal["text", "csv", "parquet"] = "text"
    run_invocation_timeout: Int = Field(60, gt=0)
    run_max_try: Int = Field(3, ge=1)
    process_count_per_node: Int | None = Field(None, ge=1)  # None: one per CPU core
    node_count: Int = Field(1, ge=1)
    logging_level: Literal["WARNING", "INFO", "DEBUG"] = "INFO"
    environment_variables: dict[EnvName, EnvValue] = {}
    description: str | None = None


def _argument(value: object) -> str | int | float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("an argument must be a string or a number")
    return value


Argument = Annotated[str | int | float, PlainValidator(_argument),
                     WithJsonSchema({"type": ["string", "number"]})]


class Step(Strict):
    """A ParallelRunStep: its inputs, output, arguments and reuse, and how it runs (`parallel_run`)."""

    name: Name
    description: str | None = None
    inputs: list[str] = Field(min_length=1)
    side_inputs: list[str] = []
    output: Output | None = None
    arguments: list[Argument] = []
    allow_reuse: bool = True
    # Item reuse (local engine): true compares inputs by size and modification time,
    # "digest" by size and a SHA-256 of the content (for stores whose times lie).
    incremental: bool | Literal["digest"] = False
    parallel_run: ParallelRun


# --- the spec ---------------------------------------------------------------------

class Spec(Strict):
    """A batch inference job: parameters, data, models, where to run, and its steps."""

    name: Name
    description: str | None = None
    experiment: ExperimentName | None = None  # None: the job's name
    target: Literal["local", "ray", "azureml", "azureml-v2"] = "local"
    parameters: dict[ParamName, ParameterValue] = {}
    datasets: dict[AssetName, Dataset] = {}
    models: dict[AssetName, ModelAsset] = {}
    azure: Azure | None = None
    ray: Ray | None = None  # read only by the ray target
    steps: list[Step] = Field(min_length=1)

