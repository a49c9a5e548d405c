"""What a step's progress records (progress.json, the overview file), end to end: item
and mini-batch rates, a table's total rows counted, estimated or found at the end."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

from tests.local.helpers import cli, make_files, run_folder, write_spec


def _progress(root: Path, run_id: str) -> dict:
    return json.loads(cli("status", run_id, "--json", cwd=root).stdout)["steps"][0]["progress"]


def test_a_file_dataset_records_both_rates_and_its_overview_line(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 30)
    write_spec(tmp_path, mini_batch_size=3)
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    progress = _progress(tmp_path, applied.stdout.strip())
    assert progress["items"] == {"total": 30, "succeeded": 30, "failed": 0, "estimate": None}
    assert progress["items_per_second"] > 0 and progress["mini_batches_per_second"] > 0
    assert abs(progress["items_per_second"] - 3 * progress["mini_batches_per_second"]) < 0.1
    assert progress["eta_seconds"] is None  # a stopped step has no time left
    overview = (run_folder(tmp_path, applied.stdout.strip()) / "score/logs/job_progress_overview.txt").read_text()
    assert overview.startswith("score: succeeded; mini-batches 10/10 (0 failed); items 30/30 (0 failed); ")
    assert " items/s, " in overview and overview.rstrip().endswith(" mini-batches/s")


def test_rows_of_compressed_tables_are_known_once_every_mini_batch_was_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for part, rows in enumerate([100, 200, 300]):  # read whole: not counted at planning
        with gzip.open(data / f"part{part}.csv.gz", "wt") as handle:
            pd.DataFrame({"id": range(part * 1000, part * 1000 + rows), "text": ["x"] * rows}).to_csv(handle,
                                                                                                      index=False)
    write_spec(tmp_path, script="rows.py", dataset={"kind": "tabular", "path": "data/"})
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    run_id = applied.stdout.strip()
    assert json.loads((run_folder(tmp_path, run_id) / "score/step.json").read_text())["items"] == 0  # not counted
    progress = _progress(tmp_path, run_id)
    assert progress["items"] == {"total": 600, "succeeded": 600, "failed": 0, "estimate": None}
    assert "items: 600 succeeded, 0 failed, 0 left of 600" in cli("status", run_id, cwd=tmp_path).stdout


def test_parquet_rows_are_counted_from_the_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"id": range(500), "text": ["y"] * 500}).to_parquet(data / "t.parquet", row_group_size=50)
    write_spec(tmp_path, script="rows.py", dataset={"kind": "tabular", "path": "data/"}, mini_batch_size="1KB")
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    step = json.loads((run_folder(tmp_path, applied.stdout.strip()) / "score/step.json").read_text())
    assert step["items"] == 500 and step["mini_batches"] > 1
