from __future__ import annotations

import pytest

from runner.spec.diagnostics import Mark, SpecError
from runner.spec.load import load_spec
from runner.spec.tree import Mapping, Scalar, lookup, to_plain
from runner.spec.yaml_loader import load_yaml
from tests.conftest import BASE


def test_positions_of_keys_and_values() -> None:
    tree = load_yaml("a:\n  b: [1, two]\n", "f.yaml")
    node, key_mark, matched = lookup(tree, ("a", "b", 1))
    assert matched == ("a", "b", 1)
    assert isinstance(node, Scalar) and node.value == "two"
    assert node.mark == Mark("f.yaml", 2, 10)
    _, key_mark, _ = lookup(tree, ("a", "b"))
    assert key_mark == Mark("f.yaml", 2, 3)


def test_scalars_keep_yaml_types_but_dates_and_keys_stay_text() -> None:
    tree = load_yaml("n: 3\nf: 1.5\nb: true\nz: null\nd: 2024-01-02\non: x\n1: y\n", "f.yaml")
    assert to_plain(tree) == {"n": 3, "f": 1.5, "b": True, "z": None, "d": "2024-01-02", "on": "x", "1": "y"}


def test_yaml_1_1_surprises_are_read_as_yaml_1_2_does() -> None:
    tree = load_yaml("a: 010\nb: 0x1F\nc: on\nd: 1_000\ne: yes\n", "f.yaml")
    assert to_plain(tree) == {"a": 10, "b": "0x1F", "c": "on", "d": 1000, "e": "yes"}


def test_set_values_follow_the_file_rules(write) -> None:
    spec = write("spec.yaml", BASE)
    for value in ("&a [*a]", "{a: 1, a: 2}", "!!python/name:os.system"):
        with pytest.raises(SpecError):
            load_spec(spec, sets=[f"description={value}"])
    assert load_spec(spec, sets=["description=2024-01-01"]).spec.description == "2024-01-01"


def test_default_source_directory_is_the_spec_folder(write) -> None:
    from runner.inputs.checks import plan_here

    write("jobs/spec.yaml", BASE)
    plan = plan_here(load_spec("jobs/spec.yaml"))
    assert plan.steps[0].entry_script == "jobs/score.py"
    assert plan.resolved["datasets"]["images"]["path"] == "jobs/data/images/"


def test_merge_keys_are_resolved_and_not_reported_as_duplicates() -> None:
    tree = load_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n", "f.yaml")
    assert to_plain(tree)["other"] == {"x": 1, "y": 3}


def test_duplicate_keys_are_all_reported() -> None:
    with pytest.raises(SpecError) as info:
        load_yaml("a: 1\nb: 2\na: 3\nb: 4\n", "f.yaml")
    assert [d.mark.line for d in info.value.diagnostics] == [3, 4]


def test_python_tags_never_construct_objects(tmp_path) -> None:
    marker = tmp_path / "pwned"
    text = f'a: !!python/object/apply:os.system ["touch {marker}"]\n'
    with pytest.raises(SpecError):
        load_yaml(text, "f.yaml")
    assert not marker.exists()


def test_valid_spec_loads_with_bindings(write) -> None:
    loaded = load_spec(write("spec.yaml", BASE))
    run = loaded.spec.steps[0].parallel_run
    assert run.mini_batch_size == 4
    assert loaded.spec.steps[0].inputs == ["${{ datasets.images }}"]
    assert {(b.path, b.parameter) for b in loaded.bindings} == {
        (("steps", 0, "inputs", 0), "images"),
        (("steps", 0, "parallel_run", "mini_batch_size"), "batch"),
    }
    # Defaults are Azure's.
    assert (run.run_max_try, run.run_invocation_timeout, run.append_row_file_name, run.logging_level) == (
        3, 60, "parallel_run_step.txt", "INFO")


def test_reference_errors_come_with_field_errors_in_one_round(write) -> None:
    # The step's bad error_threshold is set aside (its default stands in) so its inputs
    # are still checked: both problems in one run, not one per round.
    spec = BASE.replace("error_threshold: 5", "error_threshold: -9")
    spec = spec.replace('inputs: ["${{ parameters.images }}"]', 'inputs: ["${{ datasets.nope }}"]')
    with pytest.raises(SpecError) as info:
        load_spec(write("spec.yaml", spec))
    assert [d.path[-1] for d in info.value.diagnostics] == [0, "error_threshold"]


def test_a_broken_dataset_still_exists_for_references(write) -> None:
    # A dataset that fails validation is reported where it is defined, not again at
    # every input that names it.
    spec = BASE.replace("images: {kind: file, path: data/images/}", "images: {kind: file, path: ''}")
    with pytest.raises(SpecError) as info:
        load_spec(write("spec.yaml", spec))
    assert [d.path for d in info.value.diagnostics] == [("datasets", "images", "path")]


def test_tree_is_a_mapping(write) -> None:
    loaded = load_spec(write("spec.yaml", BASE))
    assert isinstance(loaded.tree, Mapping)


AZURE_SECTION = """
azure:
  compute: {name: "{{ env.CLUSTER }}", vm_size: STANDARD_D2_V2, max_nodes: 2}
"""


def test_the_azure_section_is_not_held_against_a_local_run(write) -> None:
    """Read only by the Azure targets: its compute's max_nodes does not cap a local
    node_count, and a variable its templates read need not be set to run locally."""
    spec = write("s.yaml", BASE + AZURE_SECTION)
    local = load_spec(spec, sets=["steps[0].parallel_run.node_count=3"], environ={})
    assert local.spec.steps[0].parallel_run.node_count == 3
    assert local.spec.azure is None  # not rendered: nothing of it reaches a local run


def test_the_azure_section_is_checked_for_an_azure_target(write) -> None:
    spec = write("s.yaml", BASE + AZURE_SECTION + "target: azureml\n")
    with pytest.raises(SpecError) as info:
        load_spec(spec, sets=["steps[0].parallel_run.node_count=3"], environ={"CLUSTER": "cpu-cluster"})
    [diag] = info.value.diagnostics
    assert diag.path == ("steps", 0, "parallel_run", "node_count")
    assert diag.message == "node_count 3 is more than the compute's max_nodes (2)"
    with pytest.raises(SpecError) as info:
        load_spec(spec, environ={})
    [diag] = info.value.diagnostics
    assert diag.path == ("azure", "compute", "name") and "'CLUSTER' is not set" in diag.message
    # --target decides as the spec's own target does.
    local = write("l.yaml", BASE + AZURE_SECTION)
    for sets, environ in (([], {}), (["steps[0].parallel_run.node_count=3"], {"CLUSTER": "cpu-cluster"})):
        with pytest.raises(SpecError):
            load_spec(local, sets=sets, environ=environ, target="azureml-v2")
    # Rendered where it can be: a local plan shows it as an Azure one would.
    assert load_spec(local, environ={"CLUSTER": "cpu-cluster"}).spec.azure.compute.name == "cpu-cluster"


def test_a_spec_that_extends_nothing_is_read_and_rendered_once(write) -> None:
    spec = write("spec.yaml", BASE.replace("  batch: 4", "  batch: \"{{ env.BATCH }}\"\n  key: \"{{ env.API_KEY }}\""))
    reads: list[str] = []

    def reader(path: str) -> str:
        reads.append(path)
        with open(path, encoding="utf-8") as handle:
            return handle.read()

    environ = {"BATCH": "4", "API_KEY": "s3cret-value"}
    loaded = load_spec(spec, environ=environ, reader=reader)
    assert reads == [spec]
    # its base parameters are its own, rendered, with the secret one known as secret
    assert loaded.base_parameters == {"images": {"dataset": "images"}, "batch": "4", "key": "s3cret-value"}
    assert loaded.base_secrets == {"key"}
    # an override changes the loaded value, not the base one
    overridden = load_spec(spec, set_params=["batch=8"], environ=environ, reader=reader)
    assert overridden.base_parameters["batch"] == "4"
    node = lookup(overridden.tree, ("parameters", "batch"))[0]
    assert isinstance(node, Scalar) and node.value == 8
