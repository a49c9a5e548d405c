from __future__ import annotations

import pytest

from runner.spec.diagnostics import SpecError
from runner.spec.load import load_spec
from tests.conftest import BASE


def test_variant_overrides_parameters_and_reports_base_values(write) -> None:
    write("specs/base.yaml", BASE)
    variant = write("specs/one.yaml", """
        extends: base.yaml
        parameters: {images: {dataset: single}, batch: 1}
    """)
    loaded = load_spec(variant)
    assert loaded.chain == ["specs/base.yaml", "specs/one.yaml"]
    assert loaded.spec.steps[0].inputs == ["${{ datasets.single }}"]
    assert loaded.spec.steps[0].parallel_run.mini_batch_size == 1
    assert loaded.base_parameters == {"images": {"dataset": "images"}, "batch": 4}


def test_steps_merge_by_name_and_null_removes_a_key(write) -> None:
    write("base.yaml", BASE)
    loaded = load_spec(write("v.yaml", """
        extends: base.yaml
        steps:
          - name: score-images
            arguments: null
            parallel_run: {node_count: 3}
          - name: score-again
            inputs: ["${{ steps.score-images.outputs.scores }}"]
            parallel_run: {entry_script: again.py, output_action: summary_only}
    """))
    first, second = loaded.spec.steps
    assert first.parallel_run.node_count == 3
    assert first.parallel_run.error_threshold == 5  # kept from the base
    assert first.arguments == []  # removed by null, back to the default
    assert second.name == "score-again"


def test_error_in_variant_points_at_the_variant_file(write) -> None:
    write("base.yaml", BASE)
    with pytest.raises(SpecError) as info:
        load_spec(write("bad.yaml", "extends: base.yaml\nparameters:\n  batch: -1\n"))
    (diag,) = info.value.diagnostics
    assert (diag.mark.file, diag.mark.line) == ("bad.yaml", 3)
    assert diag.path == ("steps", 0, "parallel_run", "mini_batch_size")


def test_set_and_set_param_apply_last(write) -> None:
    spec = write("base.yaml", BASE)
    loaded = load_spec(spec, sets=["steps.score-images.parallel_run.node_count=2", "description=from cli"],
                       set_params=["images=single", "batch=7"])
    assert loaded.spec.steps[0].parallel_run.node_count == 2
    assert loaded.spec.description == "from cli"
    assert loaded.spec.steps[0].inputs == ["${{ datasets.single }}"]
    assert loaded.spec.steps[0].parallel_run.mini_batch_size == 7


@pytest.mark.parametrize("assignment", ["no-equals", "steps[x=1", "steps[5].name=a", "name.inner=1"])
def test_malformed_set_is_a_spec_error(write, assignment: str) -> None:
    spec = write("base.yaml", BASE)
    with pytest.raises(SpecError) as info:
        load_spec(spec, sets=[assignment])
    assert info.value.diagnostics[0].mark.file == f"--set {assignment}"


def test_extends_resolves_relative_to_the_variant(write) -> None:
    write("a/base.yaml", BASE)
    loaded = load_spec(write("b/c/v.yaml", "extends: ../../a/base.yaml\n"))
    assert loaded.chain == ["a/base.yaml", "b/c/v.yaml"]


# The base renamed parameter batch to batch_size.
RENAMED = BASE.replace("  batch: 4", "  batch_size: 4").replace("parameters.batch }}", "parameters.batch_size }}")


def test_a_variant_setting_a_parameter_its_base_renamed_is_an_error(write) -> None:
    write("specs/base.yaml", RENAMED)
    variant = write("specs/one.yaml", "extends: base.yaml\nparameters:\n  batch: 1\n")
    with pytest.raises(SpecError) as info:
        load_spec(variant)
    (diag,) = info.value.diagnostics
    assert (diag.mark.file, diag.mark.line, diag.mark.col) == ("specs/one.yaml", 3, 3)
    assert diag.path == ("parameters", "batch")
    assert "no parameter named 'batch' in the base" in diag.message
    assert "did you mean 'batch_size'?" in diag.message


def test_a_variant_may_add_a_parameter_it_uses(write) -> None:
    write("base.yaml", BASE)
    loaded = load_spec(write("v.yaml", """
        extends: base.yaml
        parameters: {nodes: 3}
        steps:
          - name: score-images
            parallel_run: {node_count: "${{ parameters.nodes }}"}
    """))
    assert loaded.spec.steps[0].parallel_run.node_count == 3


def test_a_variant_setting_a_dataset_its_base_renamed_is_an_error(write) -> None:
    write("base.yaml", BASE.replace("images: {kind", "image_files: {kind").replace("{dataset: images}",
                                                                               "{dataset: image_files}"))
    with pytest.raises(SpecError) as info:
        load_spec(write("v.yaml", "extends: base.yaml\ndatasets:\n  images: {kind: file, path: other/}\n"))
    (diag,) = info.value.diagnostics
    assert (diag.mark.file, diag.mark.line, diag.path) == ("v.yaml", 3, ("datasets", "images"))
    assert "did you mean 'image_files'?" in diag.message


def test_a_variant_naming_a_step_its_base_renamed_is_an_error(write) -> None:
    write("base.yaml", BASE)
    with pytest.raises(SpecError) as info:
        load_spec(write("v.yaml", "extends: base.yaml\nsteps:\n  - name: score-image\n"
                                  "    parallel_run: {node_count: 3}\n"))
    (diag,) = info.value.diagnostics
    assert (diag.mark.file, diag.mark.line) == ("v.yaml", 3)
    assert "did you mean 'score-images'?" in diag.message


@pytest.mark.parametrize(("assignment", "message"), [
    ("parameters.batchh=2", "no parameter named 'batchh' to set; did you mean 'batch'?"),
    ("models.clff.path=models/other", "no model named 'clff' to set; did you mean 'clf'?"),
    ("datasets.image.path=data/other/", "no dataset named 'image' to set; did you mean 'images'?"),
])
def test_set_into_an_entry_the_spec_does_not_declare_is_an_error(write, assignment: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(write("base.yaml", BASE), sets=[assignment])
    [diag] = info.value.diagnostics
    assert (diag.mark.file, diag.message) == (f"--set {assignment}", message)


def test_set_may_add_a_whole_dataset_or_model(write) -> None:
    loaded = load_spec(write("base.yaml", BASE), sets=["datasets.more={kind: file, path: data/more/}",
                                                       "models.other.path=models/other"])
    assert set(loaded.spec.datasets) == {"images", "single", "more"}
    assert set(loaded.spec.models) == {"clf", "other"}
