"""Target azureml: the real SDK v1 objects built from each example spec, every field
checked against the spec; the calls that would reach Azure are recorded by the seam."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from azureml.core import Environment
from azureml.data import FileDataset, TabularDataset
from azureml.data.dataset_consumption_config import DatasetConsumptionConfig
from azureml.pipeline.core import PipelineData, PipelineParameter
from azureml.pipeline.steps import ParallelRunStep

from runner import api
from runner.azureml.backend import AzureMLBackend
from runner.azureml.build_v1 import Built, build, listing, listing_digest
from runner.azureml.submit import provision, submission_v1
from runner.inputs.checks import plan_here as build_plan
from runner.spec.load import load_spec
from tests.azureml.fakes import RecordingSession


def built_for(spec: str, environ: dict[str, str] | None = None) -> tuple[Built, RecordingSession]:
    loaded = load_spec(spec, environ=environ or {})
    plan = build_plan(loaded, target="azureml")
    compiled = AzureMLBackend().compile(plan, reveal=True)
    session = RecordingSession()
    submission = submission_v1(compiled.data, session, [])
    ws = session.workspace(submission.resources.workspace)  # as the shared flow does before it builds
    return build(compiled.data, session, provision(session, ws, submission.resources)), session


def parameter(value: Any, name: str, default: Any) -> None:
    assert isinstance(value, PipelineParameter)
    assert (value.name, value.default_value) == (name, default)


def dataset_path(dataset: Any) -> str:
    return str(dataset)  # the dataset's definition, with its datastore path


def test_mnist_is_the_tutorials_pipeline(project: Path) -> None:
    built, session = built_for("specs/mnist.yaml")
    digest = listing_digest(*listing("data/mnist/"))
    model_digest = listing_digest(*listing("models/mnist"))
    calls = [c for c in session.calls if c[0] != "datastore"]
    assert calls == [
        ("workspace", {"config": "specs/config.json"}),
        ("compute", {"name": "cpu-cluster", "vm_size": "STANDARD_D2_V2", "vm_priority": "dedicated",
                     "min_nodes": 0, "max_nodes": 4, "idle_seconds_before_scaledown": None}),
        ("register_datastore", "mnist_datastore", {"container_name": "sampledata", "account_name": "pipelinedata"}),
        ("register_model", "mnist-prs", {"path": "models/mnist", "tags": {"pretrained": "mnist"},
                                         "description": "Mnist trained tensorflow model"}),
        ("upload", "workspaceblobstore", "data/mnist/", ["0.png", "1.png", "2.png"],
         f"runner/predict-digits-mnist/mnist/{digest}"),
        ("upload", "workspaceblobstore", "models/mnist", ["model.keras"], f"runner/models/mnist-prs/{model_digest}"),
    ]
    [step] = built.steps
    assert isinstance(step, ParallelRunStep) and step.name == "predict-digits-mnist"
    config = step._parallel_run_config
    assert (config.source_directory, config.entry_script) == (".", "entry_scripts/digit_identification.py")
    parameter(config.mini_batch_size, "batch_size_param", "5")
    parameter(config.process_count_per_node, "process_count_param", 2)
    assert (config.error_threshold, config.output_action, config.append_row_file_name) == \
        (10, "append_row", "mnist_outputs.txt")
    assert (config.node_count, config.run_invocation_timeout, config.run_max_try, config.logging_level) == \
        (2, 60, 3, "INFO")
    assert (config.allowed_failed_count, config.allowed_failed_percent, config.partition_keys) == (None, None, None)
    assert config.compute_target == "cpu-cluster"
    env = config.environment
    assert isinstance(env, Environment) and env.name == "batch_environment"
    assert env.docker.base_image == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
    conda = env.python.conda_dependencies
    assert conda.get_python_version() == "3.11"
    assert list(conda.conda_packages) == ["python=3.11", "pip"]
    # The spec's own [fuse] takes the [pandas] extra Azure requires besides (issue 13).
    assert list(conda.pip_packages) == ["tensorflow-cpu~=2.21.0", "pillow", "azureml-core",
                                        "azureml-dataset-runtime[fuse,pandas]"]
    # The input: a dataset PipelineParameter, mounted, as the tutorial's DatasetConsumptionConfig.
    consumed, mounted_side_input = step._inputs  # ParallelRunStep lists side inputs after the inputs
    assert isinstance(consumed, DatasetConsumptionConfig) and consumed.name == "mnist_param"
    assert consumed.mode == "mount"
    parameter(consumed.dataset, "mnist_param", built.datasets["mnist"])
    assert isinstance(built.datasets["mnist"], FileDataset)
    assert f"workspaceblobstore/paths/runner/predict-digits-mnist/mnist/{digest}" in dataset_path(
        built.datasets["mnist"])
    [output] = step._output
    assert isinstance(output, PipelineData) and output.name == "inferences"
    assert output.datastore.name == "workspaceblobstore"
    assert step._allow_reuse is True
    # --model names the model's files, mounted as a side input.
    [side] = step._side_inputs
    assert side.name == mounted_side_input.name
    assert side.name == "model_mnist_prs" and side.mode == "mount"
    arguments = step._arguments
    assert arguments[arguments.index("--model") + 1] == "DatasetConsumptionConfig:model_mnist_prs"
    assert built.pipeline_parameters == {}  # the base spec: the defaults


def test_the_variant_resubmits_the_same_pipeline_with_new_parameter_values(project: Path) -> None:
    base, _ = built_for("specs/mnist.yaml")
    variant, session = built_for("specs/mnist.single-image.yaml")
    # The same pipeline (defaults are the base file's) ...
    config = variant.steps[0]._parallel_run_config
    parameter(config.mini_batch_size, "batch_size_param", "5")
    parameter(config.process_count_per_node, "process_count_param", 2)
    parameter(variant.steps[0]._inputs[0].dataset, "mnist_param", variant.datasets["mnist"])
    assert dataset_path(variant.datasets["mnist"]) == dataset_path(base.datasets["mnist"])
    # ... submitted with the variant's values, as the tutorial's second run.
    overrides = variant.pipeline_parameters
    assert set(overrides) == {"mnist_param", "batch_size_param", "process_count_param"}
    assert (overrides["batch_size_param"], overrides["process_count_param"]) == ("1", 1)
    assert isinstance(overrides["mnist_param"], FileDataset)
    digest = listing_digest(*listing("data/mnist/0.png"))
    assert dataset_path(overrides["mnist_param"]).count(
        f"paths/runner/predict-digits-mnist/single_image/{digest}/0.png") == 1
    assert ("upload", "workspaceblobstore", "data/mnist", ["0.png"],
            f"runner/predict-digits-mnist/single_image/{digest}") in session.calls


def test_tabular_reads_delimited_files(project: Path) -> None:
    built, session = built_for("specs/tabular.azure.yaml")
    # The MLTable file (for v2) is not uploaded: v1 would read it as rows.
    [rows] = [c for c in session.calls if c[0] == "upload" and c[2] == "data/tabular/"]
    assert rows[3] == ["part-0.csv"]
    [step] = built.steps
    config = step._parallel_run_config
    assert isinstance(built.datasets["rows"], TabularDataset)
    assert config.mini_batch_size == 256 * 1024 and config.error_threshold == 0  # the SDK reads "256KB"
    assert config.append_row_file_name == "scores.txt" and config.process_count_per_node == 2
    assert config.environment.name == "tabular_scoring"
    assert list(config.environment.python.conda_dependencies.pip_packages) == [
        "pandas", "scikit-learn", "joblib", "azureml-core", "azureml-dataset-runtime[pandas,fuse]"]
    assert step._inputs[0].name == "rows_param"


EVERYTHING = """
name: every-field
parameters:
  level: DEBUG
  tries: 5
  threshold: "0.5"
datasets:
  remote: {kind: tabular, path: "azureml://datastores/lake/paths/sales/", format: parquet,
           partition_format: "/{store}/{name}.parquet"}
  labels: {kind: file, path: labels/}
azure:
  workspace: {subscription_id: 00000000-0000-0000-0000-000000000000, resource_group: rg, name: ws}
  compute: {name: big, vm_size: STANDARD_D4_V2, max_nodes: 8, vm_priority: lowpriority}
  datastores:
    lake: {container_name: sales, account_name: lakeacct, account_key: "{{ env.LAKE_KEY }}"}
  environment: {name: env, pip: [pandas, azureml-core==1.61.0]}
steps:
  - name: score
    inputs: ["${{ datasets.remote }}"]
    side_inputs: ["${{ datasets.labels }}"]
    output: {name: scored, datastore: lake}
    arguments: ["--threshold", "${{ parameters.threshold }}", "--labels", "${{ datasets.labels }}", "--fast"]
    allow_reuse: false
    parallel_run:
      entry_script: entry_scripts/tabular_scoring.py
      partition_keys: [store]
      error_threshold: 7
      allowed_failed_count: 3
      allowed_failed_percent: 12.5
      run_invocation_timeout: 300
      run_max_try: "${{ parameters.tries }}"
      logging_level: "${{ parameters.level }}"
      node_count: 4
      process_count_per_node: 3
      output_action: summary_only
      environment_variables: {MODE: batch}
"""


def test_every_field_maps(project: Path) -> None:
    (project / "labels").mkdir()
    (project / "labels" / "l.txt").write_text("a\n")
    (project / "every.yaml").write_text(EVERYTHING)
    built, session = built_for("every.yaml", environ={"LAKE_KEY": "secret-lake-key"})
    assert session.calls[0] == ("workspace", {"subscription_id": "00000000-0000-0000-0000-000000000000",
                                              "resource_group": "rg", "name": "ws"})
    assert ("register_datastore", "lake", {"container_name": "sales", "account_name": "lakeacct",
                                           "account_key": "secret-lake-key"}) in session.calls
    [step] = built.steps
    config = step._parallel_run_config
    assert (config.partition_keys, config.error_threshold, config.allowed_failed_count,
            config.allowed_failed_percent) == (["store"], 7, 3, 12.5)
    assert (config.run_invocation_timeout, config.node_count, config.process_count_per_node) == (300, 4, 3)
    parameter(config.run_max_try, "tries", 5)
    parameter(config.logging_level, "level", "DEBUG")
    assert config.output_action == "summary_only" and config.append_row_file_name is None
    assert config._environment_variables == {"MODE": "batch"}
    assert config.mini_batch_size is None
    assert list(config.environment.python.conda_dependencies.pip_packages) == [
        "pandas", "azureml-core==1.61.0", "azureml-dataset-runtime[pandas,fuse]"]
    remote = built.datasets["remote"]
    assert isinstance(remote, TabularDataset)
    assert "datastores/lake/paths/sales/" in dataset_path(remote)
    assert step._allow_reuse is False
    assert step._output[0].datastore.name == "lake"
    arguments = step._arguments
    threshold = arguments[arguments.index("--threshold") + 1]
    parameter(threshold, "threshold", "0.5")
    assert arguments[arguments.index("--labels") + 1] == "DatasetConsumptionConfig:labels"
    assert "--fast" in arguments
    assert [s.name for s in step._side_inputs] == ["labels"]  # named once, though also an argument


def test_plan_shows_no_secret_but_the_sdk_gets_it(project: Path) -> None:
    (project / "labels").mkdir()
    (project / "every.yaml").write_text(EVERYTHING)
    _, compiled = api.plan_compiled("every.yaml", target="azureml", environ={"LAKE_KEY": "secret-lake-key"},
                                    files=False)
    assert compiled is not None
    assert "secret-lake-key" not in compiled.text + "\n".join(compiled.description)
    assert "account_key: '***'" in compiled.text


TWO_STEPS = """
name: two-steps
datasets:
  images: {kind: file, path: data/mnist/}
azure:
  compute: {name: cpu-cluster}
  environment: {name: env, pip: [pillow]}
steps:
  - name: first
    inputs: ["${{ datasets.images }}"]
    output: {name: first_out}
    parallel_run: {entry_script: entry_scripts/digit_identification.py}
  - name: second
    inputs: ["${{ steps.first.outputs.first_out }}"]
    output: {name: second_out}
    parallel_run: {entry_script: entry_scripts/digit_identification.py}
"""


def test_a_step_reads_the_output_of_the_step_before(project: Path) -> None:
    from azureml.pipeline.core.pipeline_output_dataset import PipelineOutputFileDataset

    (project / "two.yaml").write_text(TWO_STEPS)
    built, _ = built_for("two.yaml")
    first, second = built.steps
    [consumed] = second._inputs
    assert isinstance(consumed, PipelineOutputFileDataset) and consumed.name == "first_out"
    assert consumed._pipeline_data is first._output[0]._pipeline_data  # promoted: the SDK needs it so
    assert second._output[0].name == "second_out"
