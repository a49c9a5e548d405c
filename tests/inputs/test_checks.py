"""What runner.inputs.checks finds on disk for the target checks: each dataset's path seen
from the working directory it is given, its MLTable read only where a partition_format
makes the check read it, a datastore URI never looked for."""

from __future__ import annotations

from pathlib import Path

from runner.inputs.checks import datasets_on_disk, missing_files
from runner.plan.targets import DatasetOnDisk
from runner.spec.load import load_spec
from tests.conftest import BASE

SPEC = """
name: score-rows
datasets:
  folder: {kind: tabular, path: data/rows/}
  parts: {kind: tabular, path: data/parts/, partition_format: "{region}/*.csv"}
  one: {kind: tabular, path: data/one.csv}
  gone: {kind: file, path: data/gone/}
  remote: {kind: tabular, path: "azureml:my-table:1"}
steps:
  - name: score
    inputs: ["${{ datasets.folder }}"]
    output: {name: o}
    parallel_run: {entry_script: score.py}
"""


def test_what_is_at_each_dataset_path_is_seen_from_the_given_directory(write, tmp_path: Path) -> None:
    loaded = load_spec(write("specs/s.yaml", SPEC), environ={})
    data = tmp_path / "elsewhere" / "specs" / "data"  # the spec's folder, under another working directory
    (data / "rows").mkdir(parents=True)
    (data / "parts").mkdir()
    (data / "rows" / "MLTable").write_text("paths: []\n")
    (data / "parts" / "MLTable").write_bytes(b"paths: [] # \xff\n")
    (data / "one.csv").write_text("a\n1\n")
    found = datasets_on_disk(loaded, str(tmp_path / "elsewhere"))
    assert found == {
        "folder": DatasetOnDisk("specs/data/rows/", exists=True, is_folder=True, has_mltable=True),
        "parts": DatasetOnDisk("specs/data/parts/", True, True, True, b"paths: [] # \xff\n"),
        "one": DatasetOnDisk("specs/data/one.csv", exists=True),
        "gone": DatasetOnDisk("specs/data/gone/"),
        "remote": DatasetOnDisk("azureml:my-table:1"),
    }
    assert datasets_on_disk(loaded, str(tmp_path))["folder"] == DatasetOnDisk("specs/data/rows/")


def _project(write, tmp_path: Path) -> None:
    """BASE's files, where its paths say: what `apply` needs to run it."""
    write("specs/base.yaml", "extends: ../base.yaml\n")  # a variant in another folder: its own paths
    write("base.yaml", BASE)
    write("score.py", "def init():\n    pass\n")
    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "data" / "images" / "0.png").write_bytes(b"")
    (tmp_path / "models" / "clf").mkdir(parents=True)


def test_a_spec_whose_files_are_there_has_nothing_missing(write, tmp_path: Path) -> None:
    _project(write, tmp_path)
    for target in ("local", "azureml", "azureml-v2"):
        assert missing_files(load_spec("specs/base.yaml", environ={}), target) == []


def test_each_missing_file_is_an_error_at_the_field_that_names_it(write, tmp_path: Path) -> None:
    _project(write, tmp_path)
    spec = BASE.replace("entry_script: score.py", "entry_script: scor.py") \
        .replace("path: data/images/}", "path: data/imagse/}").replace("models/clf", "models/clf2")
    write("base.yaml", spec)
    found = {d.path: d for d in missing_files(load_spec("base.yaml", environ={}), "local")}
    assert set(found) == {("steps", 0, "parallel_run", "entry_script"), ("datasets", "images", "path"),
                          ("models", "clf", "path")}
    script = found["steps", 0, "parallel_run", "entry_script"]
    assert (script.mark.file, script.mark.line) == ("base.yaml", 16)
    assert script.message == "scor.py does not exist; did you mean 'score.py'?"
    assert found["datasets", "images", "path"].message == "data/imagse/ does not exist; did you mean 'images'?"
    assert found["models", "clf", "path"].message == "models/clf2 does not exist; did you mean 'clf'?"


def test_a_missing_source_directory_and_a_broken_script(write, tmp_path: Path) -> None:
    _project(write, tmp_path)
    write("score.py", "def init(:\n")
    write("elsewhere.yaml", BASE.replace("entry_script: score.py",
                                         "entry_script: score.py\n      source_directory: src"))
    [syntax] = missing_files(load_spec("base.yaml", environ={}), "local")
    assert syntax.message.startswith("score.py has a syntax error at line 1")
    [folder] = missing_files(load_spec("elsewhere.yaml", environ={}), "azureml")
    assert folder.path == ("steps", 0, "parallel_run", "source_directory")
    assert folder.message == "src is not a folder"


def test_remote_datasets_and_globs_are_not_looked_for_and_azure_checks_the_base_dataset(write,
                                                                                       tmp_path: Path) -> None:
    _project(write, tmp_path)
    write("v.yaml", """
        extends: base.yaml
        datasets:
          images: {kind: file, path: "azureml:my-images:1"}
          single: {kind: file, path: "data/*.png"}
          gone: {kind: file, path: data/gone/}
        parameters: {images: {dataset: gone}}
    """)
    loaded = load_spec("v.yaml", environ={})
    assert [d.path for d in missing_files(loaded, "local")] == [("datasets", "gone", "path")]
    write("w.yaml", "extends: base.yaml\ndatasets:\n  gone: {kind: file, path: data/gone/}\n"
                    "parameters: {images: {dataset: gone}}\n")
    write("base.yaml", BASE.replace("data/images/", "data/old/"))
    loaded = load_spec("w.yaml", environ={})
    assert [d.path for d in missing_files(loaded, "local")] == [("datasets", "gone", "path")]
    assert [d.path for d in missing_files(loaded, "azureml")] == [("datasets", "gone", "path"),
                                                                  ("datasets", "images", "path")]
