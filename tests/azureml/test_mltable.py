"""The MLTable shape runner asks for (runner/plan/mltable.py), loaded by the `mltable`
library itself: the partitions it gives are the local engine's, and the check
`validate --target azureml-v2` makes agrees with what the library loads (issue 23.2)."""

from __future__ import annotations

import csv
from pathlib import Path

import mltable
import pytest

from runner.local.partition.descriptors import Partition
from runner.local.partition.sources import Partitioner
from runner.plan.mltable import mltable_text, partition_problem
from runner.plan.references import InputPlan

FORMAT = "/{clinic}/{name}.csv"
FILES = {"north/part-0.csv": [(0, 1.5), (1, 2.5)], "south/part-0.csv": [(2, 3.5)],
         "east/part-0.csv": [(3, 4.5)], "east/part-1.csv": [(4, 5.5)]}
EXPECTED = {"north": [0, 1], "south": [2], "east": [3, 4]}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Rows in files under one folder per clinic, two files for one of them."""
    root = tmp_path / "rows"
    for name, rows in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        with open(root / name, "w", newline="") as handle:
            csv.writer(handle).writerows([("id", "x"), *rows])
    return root


def loaded(root: Path, columns: list[str] | None = None) -> dict[str | None, list[int]]:
    """The library's rows, grouped by their clinic column."""
    frame = mltable.load(str(root)).to_pandas_dataframe()
    if columns is not None:
        assert list(frame.columns) == columns
    groups: dict[str | None, list[int]] = {}
    for clinic, row_id in zip(frame["clinic"], frame["id"]):
        groups.setdefault(clinic, []).append(int(row_id))
    return {k: sorted(v) for k, v in groups.items()}


def local(root: Path) -> dict[str | None, list[int]]:
    """The local engine's partitions (one mini-batch per clinic), rows read from their files."""
    spec = InputPlan("datasets.rows", "tabular", str(root), format="csv", partition_format=FORMAT)
    groups: dict[str | None, list[int]] = {}
    for descriptor in Partitioner(1, ["clinic"]).descriptors([spec]):
        assert isinstance(descriptor, Partition)
        ids = [int(r["id"]) for path in descriptor.files for r in csv.DictReader(open(path, newline=""))]
        groups[descriptor.keys["clinic"]] = sorted(ids)
    return groups


def test_the_mltable_runner_asks_for_gives_the_local_partitions(folder: Path) -> None:
    text = mltable_text(FORMAT)
    assert partition_problem(text, FORMAT) is None
    (folder / "MLTable").write_text(text)
    # The path column dropped; every placeholder of the format becomes a column, as on v1.
    assert loaded(folder, columns=["id", "x", "clinic", "name"]) == EXPECTED
    assert local(folder) == EXPECTED


SHAPES = {
    # what validate used to recommend: the library's schema refuses it
    "string": "  - read_delimited: {delimiter: ',', header: all_files_same_headers, include_path_column: true}\n"
              "  - extract_columns_from_partition_format: '{clinic}/{name}.csv'\n",
    # loads, but without the path column every clinic is empty: one partition
    "no_path": "  - read_delimited: {delimiter: ',', header: all_files_same_headers}\n"
               "  - extract_columns_from_partition_format: {partition_format: '/{clinic}/{name}.csv'}\n",
    # as azureml-examples' 1a_oj_sales_prediction writes it: no leading slash
    "no_slash": "  - read_delimited: {delimiter: ',', header: all_files_same_headers, include_path_column: true}\n"
                "  - extract_columns_from_partition_format: {partition_format: '{clinic}/{name}.csv'}\n",
    "good": "  - read_delimited: {delimiter: ',', header: all_files_same_headers, include_path_column: true}\n"
            "  - extract_columns_from_partition_format: {partition_format: '/{clinic}/{name}.csv'}\n",
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_check_agrees_with_the_library(folder: Path, shape: str) -> None:
    text = "paths:\n  - pattern: ./**/*.csv\ntransformations:\n" + SHAPES[shape]
    (folder / "MLTable").write_text(text)
    try:
        partitions = loaded(folder)
    except Exception:  # the library's own refusal (a schema error), whatever its class
        partitions = None
    gives_partitions = partitions == EXPECTED
    assert (partition_problem(text, FORMAT) is None) == gives_partitions
    assert gives_partitions == (shape in ("good", "no_slash"))
    if shape == "no_path":
        assert partitions == {None: [0, 1, 2, 3, 4]}
