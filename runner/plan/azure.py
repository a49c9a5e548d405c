"""AzurePlan: what the Azure compilers and sessions need of a spec beyond the steps'
plans, resolved once when the plan is built (runner/plan/plan.py), so nothing under
runner/azureml/ reads the loaded spec again.

Secrets are kept as the rest of the plan keeps them: a text value read from a secret
variable is a `Secret` (its repr is ***), and the compilers show it as *** unless they
build what is submitted. Datastore credentials are always secrets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.plan.references import Secret, hide, resolve_path

if TYPE_CHECKING:  # the run records import the plan's types: not the models behind them
    from runner.spec.load import LoadedSpec
    from runner.spec.models import Step


@dataclass
class AzureWorkspace:
    """A workspace config file, or the workspace's three names (secrets possible)."""

    config: str | None  # from the working directory; None where the names are given
    subscription_id: str | None = None
    resource_group: str | None = None
    name: str | None = None


@dataclass
class AzureCompute:
    """An AmlCompute cluster: reused where it exists, else created."""

    name: str
    vm_size: str
    vm_priority: str  # dedicated | lowpriority
    min_nodes: int
    max_nodes: int
    idle_seconds_before_scaledown: int | None


@dataclass
class AzureDatastore:
    container_name: str
    account_name: str
    account_key: Secret | None = None
    sas_token: Secret | None = None


@dataclass
class AzureEnvironment:
    name: str
    python_version: str | None
    conda: list[str]
    pip: list[str]
    docker_base_image: str | None


@dataclass
class AzureDataset:
    """A dataset as the pipeline reads it; `path` from the working directory or remote."""

    kind: str  # file | tabular
    path: str
    format: str | None = None
    delimiter: str = ","
    header: bool = True
    encoding: str = "utf-8"
    partition_format: str | None = None


@dataclass
class AzureModel:
    path: str  # from the working directory (a Secret where a secret variable set it)
    tags: dict[str, str]
    description: str | None


@dataclass
class AzureParameter:
    """A pipeline parameter: the variant's value, the base file's (the default a v1
    PipelineParameter keeps), and the parallel_run field it binds to, which types it."""

    value: Any
    base: Any
    field: str | None
    secret: bool  # the value or the base value came from a secret variable
    value_secret: bool = False  # the value did (v2 submits the value only)


@dataclass
class AzureStep:
    """A step's fields as written, where a StepPlan keeps them resolved or computed."""

    entry_script: str  # inside source_directory
    mini_batch_size: str | None  # None: Azure's default
    process_count_per_node: int | None  # None: one per core of the VM
    description: str | None  # the step's, else its parallel_run's
    run_description: str | None  # the parallel_run's own (v1's ParallelRunConfig)
    output_datastore: str | None
    bound: dict[str, str] = field(default_factory=dict)  # parallel_run field -> parameter


@dataclass
class AzurePlan:
    description: str | None
    workspace: AzureWorkspace
    compute: AzureCompute
    environment: AzureEnvironment
    datastores: dict[str, AzureDatastore]
    datasets: dict[str, AzureDataset]  # every dataset of the spec
    used: list[str]  # the datasets a step reads, now or through a parameter's base value
    models: dict[str, AzureModel]
    parameters: dict[str, AzureParameter]
    steps: list[AzureStep]  # as Plan.steps


def azure_plan(loaded: LoadedSpec) -> AzurePlan:
    """The Azure part of a plan for an Azure target (check_target has made sure the spec
    has azure.compute and azure.environment)."""
    from runner.plan.targets import used_datasets  # the spec's models (pydantic): not at import

    spec = loaded.spec
    assert spec.azure is not None and spec.azure.compute is not None and spec.azure.environment is not None
    return AzurePlan(
        description=spec.description,
        workspace=_workspace(loaded),
        compute=AzureCompute(**spec.azure.compute.model_dump(mode="json")),
        environment=_environment(loaded),
        datastores={name: AzureDatastore(store.container_name, store.account_name, _secret(store.account_key),
                                         _secret(store.sas_token))
                    for name, store in spec.azure.datastores.items()},
        datasets={name: _dataset(loaded, name) for name in spec.datasets},
        used=used_datasets(loaded),
        models={name: AzureModel(_path(loaded, ("models", name, "path"), model.path), dict(model.tags),
                                 model.description) for name, model in spec.models.items()},
        parameters=_parameters(loaded),
        steps=[_step(loaded, index, step) for index, step in enumerate(spec.steps)],
    )


def _secret(value: Any) -> Secret | None:
    """A pydantic SecretStr's value, kept a Secret."""
    return None if value is None else Secret(value.get_secret_value())


def _hidden(loaded: LoadedSpec, path: tuple[Any, ...], value: Any) -> Any:
    return hide(value, path in loaded.secrets)


def _path(loaded: LoadedSpec, path: tuple[Any, ...], value: str) -> str:
    hidden: str = _hidden(loaded, path, resolve_path(loaded, path, value))
    return hidden


def _workspace(loaded: LoadedSpec) -> AzureWorkspace:
    assert loaded.spec.azure is not None
    ws = loaded.spec.azure.workspace
    base = ("azure", "workspace")
    if ws.subscription_id:
        return AzureWorkspace(None, *(_hidden(loaded, (*base, key), getattr(ws, key))
                                      for key in ("subscription_id", "resource_group", "name")))
    return AzureWorkspace(resolve_path(loaded, (*base, "config"), ws.config or "config.json"))


def _environment(loaded: LoadedSpec) -> AzureEnvironment:
    assert loaded.spec.azure is not None and loaded.spec.azure.environment is not None
    env = loaded.spec.azure.environment
    base = ("azure", "environment")
    return AzureEnvironment(env.name, env.python_version,
                            [_hidden(loaded, (*base, "conda", i), p) for i, p in enumerate(env.conda)],
                            [_hidden(loaded, (*base, "pip", i), p) for i, p in enumerate(env.pip)],
                            _hidden(loaded, (*base, "docker_base_image"), env.docker_base_image))


def _dataset(loaded: LoadedSpec, name: str) -> AzureDataset:
    dataset = loaded.spec.datasets[name]
    out = AzureDataset(dataset.kind, _path(loaded, ("datasets", name, "path"), dataset.path),
                       partition_format=dataset.partition_format)
    if dataset.kind == "tabular":
        out.format, out.delimiter = dataset.format, dataset.delimiter
        out.header, out.encoding = dataset.header, dataset.encoding
    return out


def _parameters(loaded: LoadedSpec) -> dict[str, AzureParameter]:
    out = {}
    for name, value in loaded.spec.parameters.items():
        secret = ("parameters", name) in loaded.secrets or name in loaded.base_secrets
        # The first binding into a parallel_run field decides the type (as the SDKs read it).
        bound = next((str(b.path[3]) for b in loaded.bindings
                      if b.parameter == name and b.path[2] == "parallel_run"), None)
        out[name] = AzureParameter(hide(value, secret), hide(loaded.base_parameters.get(name, value), secret),
                                   bound, secret, ("parameters", name) in loaded.secrets)
    return out


def _step(loaded: LoadedSpec, index: int, step: Step) -> AzureStep:
    run = step.parallel_run
    return AzureStep(
        entry_script=run.entry_script,
        mini_batch_size=None if run.mini_batch_size is None else str(run.mini_batch_size),
        process_count_per_node=run.process_count_per_node,
        description=step.description or run.description,
        run_description=run.description,
        output_datastore=step.output.datastore if step.output else None,
        bound={str(b.path[3]): b.parameter for b in loaded.bindings
               if b.path[:3] == ("steps", index, "parallel_run")},
    )
