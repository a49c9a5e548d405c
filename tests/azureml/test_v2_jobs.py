"""Target azureml-v2: every emitted job YAML loads back with azure.ai.ml.load_job (as
`az ml job create -f` reads it), and every field of the loaded entities matches the spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from azure.ai.ml import load_job
from azure.ai.ml.entities import PipelineJob
from azure.ai.ml.entities._builders.parallel import Parallel

from runner import api
from tests.conftest import ROOT
from tests.plan.test_compiled_golden import golden_path


def loaded_job(spec: str, folder: Path, environ: dict[str, str] | None = None) -> tuple[PipelineJob, api.Compiled]:
    """Compile as `runner plan --out` does (paths relative to the file), then load it."""
    _, compiled = api.plan_compiled(spec, target="azureml-v2", environ=environ or {}, base_dir=str(folder),
                                    stage=True, files=False)
    assert compiled is not None
    path = folder / "job.yaml"
    path.write_text(compiled.text, encoding="utf-8")
    job = load_job(path)
    assert isinstance(job, PipelineJob)
    return job, compiled


def test_mnist_job(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    job, _ = loaded_job("specs/mnist.yaml", out)
    assert (job.display_name, job.experiment_name) == ("predict-digits-mnist", "digit_identification")
    assert job.settings.default_compute == "cpu-cluster"
    data = job.inputs["mnist_param"]._data
    assert (data.type, data.mode) == ("uri_folder", "ro_mount")
    assert (out / data.path).resolve() == project / "data" / "mnist"
    assert (job.inputs["batch_size_param"]._data, job.inputs["process_count_param"]._data) == ("5", 2)
    node = job.jobs["predict_digits_mnist"]
    assert isinstance(node, Parallel)
    assert node.compute == "cpu-cluster"
    assert node.resources.instance_count == 2  # node_count
    assert node.max_concurrency_per_instance == 2  # process_count_per_node
    assert node.mini_batch_size == "${{parent.inputs.batch_size_param}}"  # stays a pipeline input
    component = node.component
    assert component.is_deterministic is True  # allow_reuse
    assert component.mini_batch_size == 5
    assert (component.error_threshold, component.mini_batch_error_threshold, component.logging_level) == \
        (10, None, "INFO")  # one threshold attribute per job
    assert (component.retry_settings.max_retries, component.retry_settings.timeout) == (2, 60)  # 3 tries
    assert component.input_data == "${{inputs.mnist_param}}"
    task = component.task
    assert (task.type, task.entry_script) == ("run_function", "entry_scripts/digit_identification.py")
    assert (out / task.code).resolve() == project
    assert task.program_arguments == "--model ${{inputs.model_mnist_prs}}"
    assert task.append_row_to == "${{outputs.inferences}}"
    env = task.environment
    assert env.image == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
    assert env.conda_file["dependencies"] == [
        "python=3.11", "pip", {"pip": ["tensorflow-cpu~=2.21.0", "pillow", "azureml-core",
                                       "azureml-dataset-runtime[fuse,pandas]"]}]
    model = node.inputs["model_mnist_prs"]._data
    assert model.type == "custom_model" and (out / model.path).resolve() == project / "models" / "mnist"
    assert str(node.outputs["inferences"]._data) == "${{parent.outputs.inferences}}"
    assert job.outputs["inferences"].type == "uri_file"


def test_the_single_image_variant_reads_a_folder_of_one(project: Path, tmp_path: Path) -> None:
    job, compiled = loaded_job("specs/mnist.single-image.yaml", tmp_path)
    folder = project / ".runner" / "stage" / "predict-digits-mnist" / "single_image"
    assert compiled.stage == {".runner/stage/predict-digits-mnist/single_image": "data/mnist/0.png"}
    assert [p.name for p in folder.iterdir()] == ["0.png"]
    assert (folder / "0.png").samefile(project / "data" / "mnist" / "0.png")  # linked, not copied
    assert (tmp_path / job.inputs["mnist_param"]._data.path).resolve() == folder
    node = job.jobs["predict_digits_mnist"]
    assert node.component.mini_batch_size == 1 and node.max_concurrency_per_instance == 1
    assert node.resources.instance_count == 2


def test_staging_again_keeps_only_the_current_file(project: Path, tmp_path: Path) -> None:
    loaded_job("specs/mnist.single-image.yaml", tmp_path)
    _, compiled = api.plan_compiled("specs/mnist.single-image.yaml", target="azureml-v2", environ={},
                                    sets=["datasets.single_image.path=data/mnist/1.png"], base_dir=str(tmp_path),
                                    stage=True, files=False)
    assert compiled is not None
    folder = project / ".runner" / "stage" / "predict-digits-mnist" / "single_image"
    assert [p.name for p in folder.iterdir()] == ["1.png"]


def test_a_step_reads_the_output_of_the_step_before(project: Path, tmp_path: Path) -> None:
    from tests.azureml.test_v1_objects import TWO_STEPS

    # On v2 an append_row output is one file, which a later step cannot split (refused at
    # plan time, tests/plan/test_targets.py): the first step writes a folder of its own.
    (project / "two.yaml").write_text(TWO_STEPS.replace(
        "    output: {name: first_out}\n    parallel_run: {entry_script: entry_scripts/digit_identification.py}",
        "    output: {name: first_out}\n    parallel_run: {entry_script: entry_scripts/digit_identification.py, "
        "output_action: summary_only}"))
    job, _ = loaded_job("two.yaml", tmp_path)
    first, second = job.jobs["first"], job.jobs["second"]
    assert str(second.inputs["first_out"]._data) == "${{parent.jobs.first.outputs.first_out}}"
    assert second.component.input_data == "${{inputs.first_out}}"
    assert str(first.outputs["first_out"]._data) == "${{parent.outputs.first_out}}"
    assert set(job.outputs) == {"first_out", "second_out"}
    assert (job.outputs["first_out"].type, job.outputs["second_out"].type) == ("uri_folder", "uri_file")


def test_tabular_reads_an_mltable(project: Path, tmp_path: Path) -> None:
    job, _ = loaded_job("specs/tabular.azure.yaml", tmp_path)
    rows = job.inputs["rows_param"]._data
    assert (rows.type, rows.mode) == ("mltable", "direct")
    node = job.jobs["score_rows"]
    assert node.component.mini_batch_size == 256 * 1024  # the SDK reads "256KB"
    assert node.component.task.append_row_to == "${{outputs.scores}}"
    assert node.component.task.environment.conda_file["dependencies"][-1]["pip"][-1] == "mltable"


EVERYTHING = """
name: every-field
parameters:
  timeout: 300
  threshold: "0.5"
datasets:
  images: {kind: file, path: "azureml://datastores/lake/paths/images/"}
  labels: {kind: file, path: labels/}
azure:
  compute: {name: big}
  datastores:
    lake: {container_name: images, account_name: lakeacct}
  environment: {name: env, pip: [pillow]}
steps:
  - name: score
    inputs: ["${{ datasets.images }}"]
    side_inputs: ["${{ datasets.labels }}"]
    output: {name: scored, datastore: workspaceblobstore}
    arguments: ["--threshold", "${{ parameters.threshold }}", "--labels", "${{ datasets.labels }}", "--note", "a b"]
    allow_reuse: false
    parallel_run:
      entry_script: entry_scripts/tabular_scoring.py
      mini_batch_size: 3
      error_threshold: 7
      allowed_failed_count: 3
      allowed_failed_percent: 12.5
      run_invocation_timeout: "${{ parameters.timeout }}"
      run_max_try: 1
      logging_level: DEBUG
      node_count: 4
      environment_variables: {MODE: batch}
"""


def test_every_field_maps(project: Path, tmp_path: Path) -> None:
    (project / "labels").mkdir()
    (project / "every.yaml").write_text(EVERYTHING)
    job, compiled = loaded_job("every.yaml", tmp_path)
    node = job.jobs["score"]
    component = node.component
    assert component.is_deterministic is False
    # One threshold attribute per job (v2's schema): the item threshold as a program argument.
    assert (component.error_threshold, component.mini_batch_error_threshold, component.logging_level) == \
        (None, 3, "DEBUG")
    assert component.retry_settings.max_retries == 0  # run_max_try 1: one try, no retry
    assert node.retry_settings.timeout == "${{parent.inputs.timeout}}"  # bound: stays an input
    assert node.resources.instance_count == 4 and node.max_concurrency_per_instance is None
    assert node.environment_variables == {"MODE": "batch"}
    assert component.task.program_arguments == (
        "--threshold ${{inputs.threshold}} --labels ${{inputs.labels}} --note 'a b' --error_threshold 7 "
        "--allowed_failed_percent 12.5")
    assert node.inputs["images"]._data.path == "azureml://datastores/lake/paths/images/"
    assert str(node.inputs["threshold"]._data) == "${{parent.inputs.threshold}}"
    assert component.inputs["threshold"].type == "string"
    assert job.outputs["scored"].path == \
        "azureml://datastores/workspaceblobstore/paths/runner/every-field/${{name}}/scored/parallel_run_step.txt"
    assert compiled.data["jobs"]["score"]["component"]["task"]["program_arguments"].endswith("12.5")


@pytest.mark.parametrize("path", sorted((ROOT / "tests" / "plan" / "golden").glob("*.azureml-v2.yaml")),
                         ids=lambda p: p.name)
def test_golden_v2_files_load(path: Path, project: Path) -> None:
    """The files in git, placed at the repository root where their relative paths point."""
    assert path == golden_path(path.name.split(".azureml-v2")[0], "azureml-v2")
    copy = project / path.name
    copy.write_text(path.read_text())
    job = load_job(copy)
    assert isinstance(job, PipelineJob)
    assert yaml.safe_load(path.read_text())["jobs"].keys() == job.jobs.keys()


def test_append_row_to_names_its_file(project: Path, tmp_path: Path) -> None:
    """append_row_to points at a uri_file output whose path names append_row_file_name, as
    azureml-examples cli/jobs/parallel/3a_mnist_batch_identification does; a uri_folder
    output would get a file name of Azure's choosing (issue 13)."""
    job, _ = loaded_job("specs/mnist.yaml", tmp_path)
    output = job.outputs["inferences"]
    assert (output.type, output.mode) == ("uri_file", "rw_mount")
    assert output.path == ("azureml://datastores/${{default_datastore}}/paths/runner/predict-digits-mnist/${{name}}/"
                           "inferences/mnist_outputs.txt")
    component = job.jobs["predict_digits_mnist"].component
    assert component.outputs["inferences"].type == "uri_file"
    assert component.task.append_row_to == "${{outputs.inferences}}"


UNSET = """
name: unset
datasets:
  images: {kind: file, path: data/mnist/}
  rows: {kind: tabular, path: data/tabular/}
models:
  clf: {path: models/tabular}
azure:
  compute: {name: cpu-cluster}
  environment: {name: env, pip: [pillow]}
steps:
  - name: files
    inputs: ["${{ datasets.images }}"]
    output: {name: files_out}
    parallel_run: {entry_script: entry_scripts/digit_identification.py, run_max_try: 5}
  - name: rows
    inputs: ["${{ datasets.rows }}"]
    output: {name: rows_out}
    parallel_run: {entry_script: entry_scripts/tabular_scoring.py, error_threshold: 4}
"""


def test_an_unset_mini_batch_size_is_azures_documented_default(project: Path, tmp_path: Path) -> None:
    """Left unset, the SDK sends mini_batch_size 0; Azure's default is 10 files or 1MB of
    rows, written out (issue 13)."""
    (project / "unset.yaml").write_text(UNSET)
    job, _ = loaded_job("unset.yaml", tmp_path)
    files, rows = job.jobs["files"], job.jobs["rows"]
    assert (files.component.mini_batch_size, files.mini_batch_size) == (10, 10)
    assert (rows.component.mini_batch_size, rows.mini_batch_size) == (1024 * 1024, 1024 * 1024)
    # What the SDK sends (0 when unset)
    assert [n._to_rest_object()["mini_batch_size"] for n in (files, rows)] == [10, 1024 * 1024]


def test_one_threshold_attribute_per_job(project: Path, tmp_path: Path) -> None:
    """v2's schema: "Only one error_threshold setting can be used in one job" (issue 13)."""
    (project / "unset.yaml").write_text(UNSET)
    job, compiled = loaded_job("unset.yaml", tmp_path)
    rows = compiled.data["jobs"]["rows"]["component"]
    assert rows["error_threshold"] == 4 and "mini_batch_error_threshold" not in rows
    assert job.jobs["rows"].component.mini_batch_error_threshold is None


def test_max_retries_is_forwarded_unchanged(project: Path, tmp_path: Path) -> None:
    """The SDK passes retry_settings.max_retries to the service as written (its docstring,
    copied from v1's run_max_try, says tries; the service's parallel job docs call it
    mini_batch_max_retries, retries, default 2 = v1's 3 tries): run_max_try 5 -> 4."""
    (project / "unset.yaml").write_text(UNSET)
    job, _ = loaded_job("unset.yaml", tmp_path)
    component = job.jobs["files"].component
    assert component.retry_settings.max_retries == 4
    assert component._to_rest_object().properties.component_spec["retry_settings"]["max_retries"] == 4


def test_every_model_is_a_model_input(project: Path, tmp_path: Path) -> None:
    """A model no argument names still reaches the v2 job, as a custom_model input (v1
    registers every model; issue 13)."""
    (project / "unset.yaml").write_text(UNSET)
    job, _ = loaded_job("unset.yaml", tmp_path)
    for node in job.jobs.values():
        model = node.inputs["model_clf"]._data
        assert model.type == "custom_model" and (tmp_path / model.path).resolve() == project / "models" / "tabular"
        assert node.component.inputs["model_clf"].type == "custom_model"


def test_the_job_file_says_what_apply_does_besides_and_repeats_nothing(project: Path, tmp_path: Path) -> None:
    """Issue 23.7: `plan --out job.yaml` and `apply` are one story: the file's header says what
    apply does that `az ml job create -f` does not, and the node does not repeat the parallel
    settings its inline component holds (the SDK copies them to the node, as it sends them)."""
    job, compiled = loaded_job("specs/mnist.yaml", tmp_path)
    header = [line for line in compiled.text.splitlines() if line.startswith("#")]
    assert any("registers the datastore(s) mnist_datastore first" in line for line in header)
    assert any("registers model mnist-prs (a new version each apply)" in line and
               "custom_model input model_mnist_prs (uploaded, not registered)" in line for line in header)
    node = compiled.data["jobs"]["predict_digits_mnist"]
    assert "max_concurrency_per_instance" not in node and node["component"]["max_concurrency_per_instance"] == 2
    assert node["mini_batch_size"] == "${{parent.inputs.batch_size_param}}"  # bound: the node's own
    loaded = job.jobs["predict_digits_mnist"]
    assert loaded.max_concurrency_per_instance == 2  # what the SDK sends, from the component
    unbound = loaded_job("specs/tabular.azure.yaml", tmp_path)[1].data["jobs"]
    [(name, tabular)] = unbound.items()
    assert "mini_batch_size" not in tabular and tabular["component"]["mini_batch_size"]
