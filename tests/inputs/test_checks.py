"""What runner.inputs.checks finds on disk for the target checks: each dataset's path seen
from the working directory it is given, its MLTable read only where a partition_format
makes the check read it, a datastore URI never looked for."""

from __future__ import annotations

from pathlib import Path

from runner.inputs.checks import datasets_on_disk
from runner.plan.targets import DatasetOnDisk
from runner.spec.load import load_spec

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
