"""What an Azure target cannot express is a spec error at plan time (exit 2, file:line:col),
not a surprise after submission. These run without any Azure SDK installed."""

from __future__ import annotations

import pytest

from runner import api
from runner.plan.mltable import mltable_text
from runner.spec.diagnostics import SpecError

SPEC = """
name: score-images
parameters:
  images: {dataset: images}
datasets:
  images: {kind: file, path: data/images/}
  rows: {kind: tabular, path: data/rows/}
  globbed: {kind: file, path: "data/images/*.png"}
  failed: {kind: file, path: failed_items.jsonl, manifest: true}
  more: {kind: file, path: data/more/}
models:
  clf: {path: models/clf}
azure:
  compute: {name: cpu-cluster}
  environment: {name: env, pip: [pillow]}
steps:
  - name: score-images
    inputs: ["${{ parameters.images }}"]
    output: {name: scores}
    parallel_run:
      entry_script: score.py
"""


def errors(write, text: str, target: str) -> list[str]:
    write("s.yaml", text)
    with pytest.raises(SpecError) as caught:
        api.plan("s.yaml", target=target)
    return [d.headline() for d in caught.value.diagnostics]


@pytest.mark.parametrize("target", ["azureml", "azureml-v2"])
def test_the_local_engines_own_output_formats_are_refused(write, target: str) -> None:
    text = SPEC + "      append_row_format: csv\n"
    assert errors(write, text, target) == [
        f"s.yaml:21:26 steps[0].parallel_run.append_row_format: append_row_format 'csv' is the local engine's own; "
        f"Azure ML appends text rows (target {target})"]
    api.plan("s.yaml", target="local")  # the same spec is fine locally


@pytest.mark.parametrize("target", ["azureml", "azureml-v2"])
def test_a_manifest_and_a_local_glob_cannot_be_uploaded(write, target: str) -> None:
    text = SPEC.replace('inputs: ["${{ parameters.images }}"]',
                        'inputs: ["${{ datasets.globbed }}"]\n    side_inputs: ["${{ datasets.failed }}"]')
    found = errors(write, text, target)
    assert len(found) == 2
    assert found[0].startswith("s.yaml:7:31 datasets.globbed.path: a local glob cannot be uploaded as a dataset")
    assert found[1].startswith("s.yaml:8:60 datasets.failed.manifest: a failed-items manifest is a local run's file")


@pytest.mark.parametrize("target", ["azureml", "azureml-v2"])
def test_object_storage_the_local_engine_reads_is_refused_for_azure(write, target: str) -> None:
    text = SPEC.replace("path: data/images/}", "path: 's3://bucket/images/'}", 1)
    [found] = errors(write, text, target)
    assert found.startswith("s.yaml:5:30 datasets.images.path: Azure ML reads datastore URIs")
    assert "s3://, gs:// and az:// are read by the local engine" in found
    api.plan("s.yaml", target="local")  # listed when the step runs, not at plan time


@pytest.mark.parametrize("target", ["azureml", "azureml-v2"])
def test_partition_keys_need_a_partitioned_tabular_dataset(write, target: str) -> None:
    text = SPEC.replace("parameters.images", "datasets.rows") + "      partition_keys: [clinic]\n"
    [found] = errors(write, text, target)
    assert found.startswith("s.yaml:21:23 steps[0].parallel_run.partition_keys: Azure ML partitions only a tabular "
                            "dataset with a partition_format; input '${{ datasets.rows }}' has none")
    fixed = text.replace("path: data/rows/}", "path: data/rows/, partition_format: '/{clinic}/{name}.csv'}")
    write("s.yaml", fixed)
    api.plan("s.yaml", target="azureml")


def test_an_azure_target_needs_a_compute_and_an_environment(write) -> None:
    text = SPEC.replace("  compute: {name: cpu-cluster}\n  environment: {name: env, pip: [pillow]}\n",
                        "  workspace: {config: config.json}\n")
    assert [e.split(": ", 1)[1] for e in errors(write, text, "azureml")] == [
        "an Azure target needs azure.compute: the cluster the steps run on (target azureml)",
        "an Azure target needs azure.environment: the Python packages the entry script imports (target azureml)"]


def test_v2_reads_one_input_and_tabular_data_as_an_mltable(write, tmp_path) -> None:
    two = SPEC.replace('inputs: ["${{ parameters.images }}"]', 'inputs: ["${{ parameters.images }}", '
                                                              '"${{ datasets.more }}"]')
    [found] = errors(write, two, "azureml-v2")
    assert found.startswith("s.yaml:17:42 steps[0].inputs[1]: a v2 parallel job splits one input_data")
    api.plan("s.yaml", target="azureml")  # v1 takes a list of inputs
    (tmp_path / "data" / "rows").mkdir(parents=True)
    (tmp_path / "data" / "rows" / "a.csv").write_text("x\n1\n")
    one = SPEC.replace("parameters.images", "datasets.rows")
    [found] = errors(write, one, "azureml-v2")
    assert found.startswith("s.yaml:6:31 datasets.rows.path: a v2 parallel job reads tabular data as an MLTable")
    (tmp_path / "data" / "rows" / "MLTable").write_text("paths: [{pattern: ./*.csv}]\n")
    api.plan("s.yaml", target="azureml-v2")


def test_two_steps_cannot_share_an_output_name(write) -> None:
    text = SPEC + """  - name: again
    inputs: ["${{ datasets.images }}"]
    output: {name: scores}
    parallel_run:
      entry_script: score.py
"""
    [found] = errors(write, text, "azureml-v2")
    assert found == ("s.yaml:23:20 steps[1].output.name: output 'scores' is already the output of steps[0]; "
                     "a pipeline's outputs need names of their own (target azureml-v2)")


def test_a_secret_in_a_package_index_or_a_url_is_not_shown(write) -> None:
    text = SPEC.replace("pip: [pillow]", 'pip: [pillow, "--extra-index-url https://u:{{ env.PIP_TOKEN }}@pkgs/simple"]')
    text = text.replace("path: data/more/}", 'path: "https://acct.blob.core.windows.net/c/more?{{ env.SAS_TOKEN }}"}')
    text = text.replace('inputs: ["${{ parameters.images }}"]', 'inputs: ["${{ datasets.more }}"]')
    write("s.yaml", text)
    environ = {"PIP_TOKEN": "pip-secret-123", "SAS_TOKEN": "sv=sas-secret-456"}
    for target in ("azureml", "azureml-v2"):
        _, compiled = api.plan_compiled("s.yaml", target=target, environ=environ, files=False)
        assert compiled is not None
        shown = compiled.text + "\n".join(compiled.description)
        assert "pip-secret-123" not in shown and "sas-secret-456" not in shown
        assert "'***'" in compiled.text


@pytest.mark.parametrize("target", ["azureml"])  # v2 reads an MLTable: the format belongs in it (issue 13)
def test_azure_date_partition_placeholders_reach_azure_unchanged(write, target: str) -> None:
    fmt = "/{Department}/{PartitionDate:yyyy/MM/dd}/data.csv"
    text = SPEC.replace("parameters.images", "datasets.rows").replace(
        "path: data/rows/}", f"path: data/rows/, partition_format: '{fmt}'}}") + "      partition_keys: [PartitionDate]\n"
    write("s.yaml", text)
    _, compiled = api.plan_compiled("s.yaml", target=target, environ={}, base_dir=".", files=False)
    assert compiled is not None and fmt in compiled.text


TWO_STEPS = SPEC + """  - name: again
    inputs: ["${{ steps.score-images.outputs.scores }}"]
    output: {name: again_out}
    parallel_run:
      entry_script: score.py
"""


def test_v2_refuses_a_step_that_reads_an_earlier_steps_appended_rows(write) -> None:
    """On v2 an append_row output is one file (a uri_file, so its name is kept): a later
    parallel step cannot split it as v1 and the local engine split its folder (issue 13)."""
    [found] = errors(write, TWO_STEPS, "azureml-v2")
    assert found.startswith("s.yaml:22:14 steps[1].inputs[0]: on azureml-v2 the append_row output 'scores' of step "
                            "'score-images' is one file (a uri_file output named by append_row_file_name)")
    api.plan("s.yaml", target="azureml")
    write("s.yaml", TWO_STEPS.replace("      entry_script: score.py\n  - name",
                                      "      entry_script: score.py\n      output_action: summary_only\n  - name"))
    api.plan("s.yaml", target="azureml-v2")  # a folder the script writes: a folder the next step reads


def test_v2_carries_partition_format_only_through_the_mltable(write, tmp_path) -> None:
    """v2 reads partition columns from the MLTable's extract_columns_from_partition_format;
    a spec's partition_format that the MLTable lacks would be silently dropped (issue 13)."""
    (tmp_path / "data" / "rows").mkdir(parents=True)
    (tmp_path / "data" / "rows" / "MLTable").write_text("paths: [{pattern: ./**/*.csv}]\n")
    text = SPEC.replace("parameters.images", "datasets.rows").replace(
        "path: data/rows/}", "path: data/rows/, partition_format: '/{clinic}/{name}.csv'}") + \
        "      partition_keys: [clinic]\n"
    [found] = errors(write, text, "azureml-v2")
    assert found.startswith("s.yaml:6:61 datasets.rows.partition_format: azureml-v2 reads partition columns from "
                            "data/rows/MLTable, which has no transformations: its transformations need "
                            "`include_path_column: true` on its read step and `- extract_columns_from_partition_"
                            "format: {partition_format: '/{clinic}/{name}.csv'}`")
    api.plan("s.yaml", target="azureml")
    # The string form validate used to recommend: the mltable library refuses it (issue 23.2).
    (tmp_path / "data" / "rows" / "MLTable").write_text(
        "paths: [{pattern: ./**/*.csv}]\ntransformations:\n"
        "  - read_delimited: {delimiter: ',', include_path_column: true}\n"
        "  - extract_columns_from_partition_format: '{clinic}/{name}.csv'\n")
    [found] = errors(write, text, "azureml-v2")
    assert "a value the mltable library refuses" in found
    # The mapping without the path column: it loads, every clinic empty.
    (tmp_path / "data" / "rows" / "MLTable").write_text(
        "paths: [{pattern: ./**/*.csv}]\ntransformations:\n"
        "  - read_delimited: {delimiter: ','}\n"
        "  - extract_columns_from_partition_format: {partition_format: '/{clinic}/{name}.csv'}\n")
    [found] = errors(write, text, "azureml-v2")
    assert "reads no path column (include_path_column: true)" in found
    (tmp_path / "data" / "rows" / "MLTable").write_text(mltable_text("/{clinic}/{name}.csv"))
    api.plan("s.yaml", target="azureml-v2")
    remote = text.replace("path: data/rows/,", "path: 'azureml:rows:1',")
    [found] = errors(write, remote, "azureml-v2")
    assert "on azureml-v2 a remote table's MLTable decides its partition columns" in found
    files = SPEC.replace("path: data/images/}", "path: data/images/, partition_format: '/{day}/{name}.png'}")
    [found] = errors(write, files, "azureml-v2")
    assert "a v2 parallel job reads files as a uri_folder, which has no partition columns" in found


def test_each_target_refuses_what_its_reference_does_not_allow(write) -> None:
    """Issue 23.3: v2's retry_settings.timeout is (0, 259200] (the CLI v2 parallel job
    reference); the spec model's own range is only > 0, which local and v1 keep."""
    text = SPEC.replace("entry_script: score.py", "entry_script: score.py\n      run_invocation_timeout: 300000")
    [found] = errors(write, text, "azureml-v2")
    assert found.startswith("s.yaml:21:31 steps[0].parallel_run.run_invocation_timeout: run_invocation_timeout "
                            "300000 is more than azureml-v2 allows (retry_settings.timeout at most 259200)")
    api.plan("s.yaml", target="azureml")
    write("s.yaml", SPEC.replace("entry_script: score.py", "entry_script: score.py\n      run_invocation_timeout: 259200"))
    api.plan("s.yaml", target="azureml-v2")
    # int.max, the references' upper bound of the thresholds and tries, is the spec model's own.
    big = SPEC.replace("entry_script: score.py", "entry_script: score.py\n      error_threshold: 2147483648")
    for target in ("azureml", "azureml-v2"):
        [found] = errors(write, big, target)
        assert found.endswith("error_threshold: Input should be less than or equal to 2147483647")


# --- ray: the local engine's driver with its workers on a cluster's nodes ---------------

def ray_errors(write, text: str) -> list[str]:
    """What `validate --target ray` and `plan --target ray` refuse (planned here directly:
    the CLI's --target choices are the backends')."""
    from runner.inputs.checks import plan_here
    from runner.spec.load import load_spec

    write("s.yaml", text)
    [result] = api.validate(["s.yaml"], target="ray", files=False)
    with pytest.raises(SpecError) as caught:
        plan_here(load_spec("s.yaml", target="ray"), target="ray")
    assert result.error is not None and result.error.diagnostics == caught.value.diagnostics
    return [d.headline() for d in caught.value.diagnostics]


def ray_plans(write, text: str, target: str = "ray") -> None:
    from runner.inputs.checks import plan_here
    from runner.spec.load import load_spec

    write("s.yaml", text)
    [result] = api.validate(["s.yaml"], target=target, files=False)
    assert result.ok, result.error
    plan_here(load_spec("s.yaml", target=target, environ={}), target=target)


def test_ray_refuses_paths_only_azure_ml_resolves(write) -> None:
    text = SPEC.replace("path: data/images/}", "path: \"azureml:images:1\"}") \
        .replace("path: models/clf", "path: \"azureml:clf:3\"")
    assert ray_errors(write, text) == [
        "s.yaml:5:30 datasets.images.path: an Azure ML data asset or datastore path is read on the Azure targets "
        "only: on ray, give a path every node reads, or an object-storage URI (target ray)",
        "s.yaml:11:15 models.clf.path: an Azure ML data asset or datastore path is read on the Azure targets "
        "only: on ray, give a path every node reads, or an object-storage URI (target ray)"]
    ray_plans(write, text.replace("models:\n  clf: {path: \"azureml:clf:3\"}\n", "").replace(
        "${{ parameters.images }}", "${{ datasets.more }}"))  # an unused dataset is not read


def test_ray_plans_what_local_plans_gpus_and_globs_and_manifests_included(write) -> None:
    """Ray asks the cluster for GPUs (a node without them leaves the actors waiting, which
    `runner plan` cannot see on a cluster); the driver reads globs and manifests here."""
    text = SPEC.replace('inputs: ["${{ parameters.images }}"]',
                        'inputs: ["${{ datasets.globbed }}"]\n    side_inputs: ["${{ datasets.failed }}"]')
    ray = 'ray: {address: "ray://head:10001", gpus_per_worker: 2}\n'
    ray_plans(write, text + "      append_row_format: parquet\n" + ray)


def test_a_ray_section_is_ignored_by_other_targets_and_azure_by_ray(write) -> None:
    text = SPEC.replace("azure:\n", "azure:\n  workspace: {name: \"{{ env.WORKSPACE }}\"}\n") + \
        "ray: {address: \"{{ env.RAY_HEAD }}\", gpus_per_worker: 1}\n"
    ray_plans(write, text.replace("{{ env.RAY_HEAD }}", "auto"), target="ray")  # azure: unset variable and all
    ray_plans(write, text, target="local")  # ray: unset variable and all
