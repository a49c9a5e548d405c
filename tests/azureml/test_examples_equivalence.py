"""Specs equivalent to azureml-examples' parallel samples compile to the same parallel
node, field by field, as azure-ai-ml loads both (the node with its inline component's
settings, as the SDK sends it). The samples' values are written out below from
`cli/jobs/parallel/{1a_oj_sales_prediction,2a_iris_batch_prediction,
3a_mnist_batch_identification}/pipeline.yml` (Azure/azureml-examples, commit 085cd6ea,
2026-07-31); where runner's node differs, `DIFFERENCES` says how and why, and any other
difference fails. The samples' data comes from command jobs (1a's partitioned MLTable, 3a's
PNG folder), a spec's from local folders: the parallel nodes are what is compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from azure.ai.ml import load_job

from runner import api
from runner.plan.mltable import mltable_text

COMMON = """
azure:
  compute: {name: cpu-cluster}
  environment:
    name: prs-env
    conda: [pip]
    pip: [pandas]
    docker_base_image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
"""
SPECS = {
    "1a": """
name: oj-sales-prediction
experiment: hello-world-parallel-job
datasets:
  data_source: {kind: tabular, path: oj/, partition_format: "/{Store}/{Brand}/{file_name}.csv"}
steps:
  - name: parallel-train
    inputs: ["${{ datasets.data_source }}"]
    output: {name: model_folder}
    arguments: ["--drop_cols", "Revenue,Advert,Store,Brand", "--target_col", "Quantity", "--date_col",
                "WeekStarting", "--lagging_orders", "1,2,3,4,5,6"]
    parallel_run:
      source_directory: script
      entry_script: parallel_train.py
      partition_keys: [Store, Brand]
      node_count: 2
      process_count_per_node: 2
      error_threshold: -1
      allowed_failed_count: 5
      output_action: summary_only
      environment_variables: {AZUREML_PARALLEL_EXAMPLE: 1a_yaml}
""",
    "2a": """
name: iris-batch-prediction
experiment: hello-world-parallel-job
datasets:
  input_data: {kind: tabular, path: neural-iris-mltable/}
  score_model: {kind: file, path: iris-model/}
steps:
  - name: batch-prediction
    inputs: ["${{ datasets.input_data }}"]
    output: {name: job_output_file}
    arguments: ["--model", "${{ datasets.score_model }}", "--task_overhead_timeout", "1200",
                "--progress_update_timeout", "600", "--first_task_creation_timeout", "600",
                "--resource_monitor_interval", "20"]
    parallel_run:
      source_directory: script
      entry_script: iris_prediction.py
      mini_batch_size: 10kb
      node_count: 2
      process_count_per_node: 2
      logging_level: DEBUG
      error_threshold: 5
      allowed_failed_count: 5
      allowed_failed_percent: 30
      output_action: append_row
      append_row_file_name: aggregated_returns.csv
      environment_variables: {AZUREML_PARALLEL_EXAMPLE: 2a_yaml}
""",
    "3a": """
name: mnist-batch-identification
experiment: hello-world-parallel-job
datasets:
  job_data_path: {kind: file, path: mnist-png/}
  score_model: {kind: file, path: mnist_models/}
steps:
  - name: predict-digits-mnist
    inputs: ["${{ datasets.job_data_path }}"]
    output: {name: job_output_file}
    arguments: ["--model", "${{ datasets.score_model }}"]
    parallel_run:
      source_directory: script
      entry_script: digit_identification.py
      mini_batch_size: "5"
      node_count: 2
      process_count_per_node: 2
      logging_level: DEBUG
      allowed_failed_count: 5
      output_action: append_row
      append_row_file_name: aggregated_returns.csv
      environment_variables: {AZUREML_PARALLEL_EXAMPLE: 3a_yaml}
""",
}
# The samples' parallel nodes, as azure-ai-ml 1.35.2's load_job reads them (checked by
# loading the samples themselves at that commit).
SAMPLES: dict[str, dict[str, Any]] = {
    # mini_batch_size left unset, which azure-ai-ml loads as 0 (partition_keys decide)
    "1a": {"input_data": ("mltable", "direct"), "mini_batch_size": "0", "partition_keys": ["Store", "Brand"],
           "instance_count": 2, "max_concurrency_per_instance": 2, "logging_level": "INFO", "error_threshold": -1,
           "mini_batch_error_threshold": 5, "retry_settings": (2, 60),
           "environment_variables": {"AZUREML_PARALLEL_EXAMPLE": "1a_yaml"}, "task.type": "run_function",
           "entry_script": "parallel_train.py", "image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04",
           "program_arguments": ["--drop_cols", "${{inputs.drop_cols}}", "--target_col", "${{inputs.target_col}}",
                                 "--date_col", "${{inputs.date_col}}", "--lagging_orders",
                                 "${{inputs.lagging_orders}}", "--model_folder", "${{outputs.model_folder}}"],
           "append_row_to": None, "output": ("uri_folder", None)},
    # mini_batch_size "10kb", as Parallel.__init__ turns it into bytes
    "2a": {"input_data": ("mltable", "direct"), "mini_batch_size": "10240", "instance_count": 2,
           "max_concurrency_per_instance": 2, "logging_level": "DEBUG", "error_threshold": 5,
           "mini_batch_error_threshold": 5, "retry_settings": (2, 60),
           "environment_variables": {"AZUREML_PARALLEL_EXAMPLE": "2a_yaml"}, "task.type": "run_function",
           "entry_script": "iris_prediction.py", "score_model": ("uri_folder", "download"),
           "image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04",
           "program_arguments": ["--model", "${{inputs.score_model}}", "--allowed_failed_percent", "30",
                                 "--task_overhead_timeout", "1200", "--progress_update_timeout", "600",
                                 "--first_task_creation_timeout", "600", "--resource_monitor_interval", "20"],
           "append_row_to": "${{outputs.job_output_file}}", "output": ("uri_file", "aggregated_returns.csv")},
    "3a": {"input_data": ("uri_folder", "ro_mount"), "mini_batch_size": "5", "instance_count": 2,
           "max_concurrency_per_instance": 2, "logging_level": "DEBUG", "error_threshold": None,
           "mini_batch_error_threshold": 5, "retry_settings": (2, 60),
           "environment_variables": {"AZUREML_PARALLEL_EXAMPLE": "3a_yaml"}, "task.type": "run_function",
           "entry_script": "digit_identification.py", "score_model": ("uri_folder", "download"),
           "image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04",
           "program_arguments": ["--model", "${{inputs.score_model}}"],
           "append_row_to": "${{outputs.job_output_file}}", "output": ("uri_file", "aggregated_returns.csv")},
}
# How runner's node differs, and why (anything else is a failure).
DIFFERENCES: dict[str, dict[str, tuple[Any, str]]] = {
    "1a": {
        # one threshold attribute per job (as in 2a); -1 is also the service's default
        "error_threshold": (None, "left out: -1 is the default, and v2 takes one threshold attribute"),
        # a spec's literal arguments are written in, not made literal inputs; a summary_only
        # script finds its output folder as EntryScript().output_dir, not as an argument
        "program_arguments": (["--drop_cols", "Revenue,Advert,Store,Brand", "--target_col", "Quantity",
                               "--date_col", "WeekStarting", "--lagging_orders", "1,2,3,4,5,6"],
                              "literals written in; no --model_folder"),
    },
    "2a": {
        # v2's schema takes one threshold attribute per job (issue 13): the item threshold
        # goes as the --error_threshold program argument, as Azure's parallel job docs pass it.
        "error_threshold": (None, "passed as --error_threshold 5 instead"),
        "program_arguments": (["--model", "${{inputs.score_model}}", "--task_overhead_timeout", "1200",
                               "--progress_update_timeout", "600", "--first_task_creation_timeout", "600",
                               "--resource_monitor_interval", "20", "--error_threshold", "5",
                               "--allowed_failed_percent", "30"], "the same arguments, in spec order, "
                                                                   "with --error_threshold"),
        # a dataset side input is mounted, as v1 mounts it (a spec has no download mode)
        "score_model": (("uri_folder", "ro_mount"), "mounted, not downloaded"),
    },
    "3a": {
        "score_model": (("uri_folder", "ro_mount"), "mounted, not downloaded"),
    },
}


def view(job: Any, node: Any) -> dict[str, Any]:
    """The fields compared, from the node azure-ai-ml loaded (component settings copied in;
    runner's output is the pipeline's, which the node binds)."""
    data = node.inputs[node.input_data.split(".", 1)[1].rstrip("}")]._data
    [(name, output)] = node.outputs.items()
    output = output._data
    if isinstance(output, str):  # ${{parent.outputs.<name>}}
        output = job.outputs[name]
    seen = {"input_data": (data.type, data.mode), "mini_batch_size": str(node.mini_batch_size),
            "instance_count": node.resources.instance_count,
            "max_concurrency_per_instance": node.max_concurrency_per_instance,
            # the node's own, else its component's (which the service reads; the SDK does not copy it)
            "logging_level": node.logging_level or node.component.logging_level,
            "error_threshold": node.error_threshold,
            "mini_batch_error_threshold": node.mini_batch_error_threshold,
            "retry_settings": (node.retry_settings.max_retries, node.retry_settings.timeout),
            "environment_variables": dict(node.environment_variables), "task.type": node.task.type,
            "entry_script": node.task.entry_script,
            "image": node.task.environment.image, "program_arguments": node.task.program_arguments.split(),
            "append_row_to": node.task.append_row_to,
            "output": (output.type, output.path.rsplit("/", 1)[-1] if output.path else None)}
    if node.partition_keys:
        seen["partition_keys"] = list(node.partition_keys)
    if "score_model" in node.inputs:
        model = node.inputs["score_model"]._data
        seen["score_model"] = (model.type, model.mode)
    return seen


@pytest.mark.parametrize("sample", sorted(SPECS))
def test_a_spec_compiles_to_the_samples_parallel_node(project: Path, sample: str) -> None:
    for folder in ("neural-iris-mltable", "iris-model", "mnist-png", "mnist_models", "script", "oj"):
        (project / folder).mkdir()
    (project / "neural-iris-mltable" / "MLTable").write_text("paths:\n  - file: ./iris.csv\n")
    (project / "oj" / "MLTable").write_text(mltable_text("/{Store}/{Brand}/{file_name}.csv"))
    (project / "spec.yaml").write_text(SPECS[sample] + COMMON)
    _, compiled = api.plan_compiled("spec.yaml", target="azureml-v2", environ={}, base_dir=str(project),
                                    files=False)
    assert compiled is not None
    (project / "job.yaml").write_text(compiled.text)
    job = load_job(project / "job.yaml")
    [node] = job.jobs.values()
    ours = view(job, node)
    expected = {**SAMPLES[sample], **{k: v for k, (v, _) in DIFFERENCES[sample].items()}}
    assert ours == expected
    assert job.experiment_name == "hello-world-parallel-job"
