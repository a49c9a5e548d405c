"""Tabular datasets: byte ranges of CSV and JSON Lines, Parquet row groups, partition
keys; every row exactly once whatever the cuts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.local.partition.sources import Partitioner
from runner.local.partition.tables import read_descriptor
from runner.plan.references import InputPlan
from tests.local.helpers import cli, output_rows, run_folder, write_spec


def _frame(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"id": range(start, start + n), "x": [i % 97 for i in range(start, start + n)],
                         "region": [["north", "south", "east"][i % 3] for i in range(start, start + n)],
                         "note": [f"row {i}, quoted" for i in range(start, start + n)]})


def _apply(root: Path, **kwargs) -> tuple[int, str, str]:
    write_spec(root, script="tabular.py", **kwargs)
    result = cli("apply", "spec.yaml", cwd=root)
    return result.returncode, result.stdout.strip(), result.stderr


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_every_row_once_across_byte_ranges_and_row_groups(tmp_path, fmt):
    data = tmp_path / "data"
    data.mkdir()
    for part in range(3):
        frame = _frame(2000, start=part * 2000)
        path = data / f"part{part}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        elif fmt == "jsonl":
            frame.to_json(path, orient="records", lines=True)
        else:
            frame.to_parquet(path, row_group_size=300)
    code, run_id, err = _apply(tmp_path, dataset={"kind": "tabular", "path": "data/"}, mini_batch_size="8KB")
    assert code == 0, err
    rows = output_rows(tmp_path, run_id)
    ids = sorted(int(row.split()[0]) for row in rows)
    assert ids == list(range(6000))
    assert all(int(row.split()[1]) == 2 * ((int(row.split()[0])) % 97) for row in rows)
    total = json.loads((run_folder(tmp_path, run_id) / "score" / "step.json").read_text())["mini_batches"]
    assert total > 6  # large files were cut, and no mini-batch crosses a file


def test_csv_output_with_a_header_and_parquet_output(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _frame(500).to_csv(data / "rows.csv", index=False)
    code, run_id, err = _apply(tmp_path, dataset={"kind": "tabular", "path": "data/rows.csv"},
                               mini_batch_size="4KB", append_row_format="csv", append_row_file_name="scores.csv")
    assert code == 0, err
    out = pd.read_csv(run_folder(tmp_path, run_id) / "score/outputs/out/scores.csv")
    assert list(out.columns) == ["id", "double"] and sorted(out["id"]) == list(range(500))
    code, run_id, err = _apply(tmp_path, dataset={"kind": "tabular", "path": "data/rows.csv"},
                               mini_batch_size="4KB", append_row_format="parquet",
                               append_row_file_name="scores.parquet")
    assert code == 0, err
    out = pd.read_parquet(run_folder(tmp_path, run_id) / "score/outputs/out/scores.parquet")
    assert sorted(out["id"]) == list(range(500)) and str(out["double"].dtype) == "int64"
    shown = cli("results", run_id, "--head", "3", cwd=tmp_path)
    assert shown.stdout.startswith("scores.parquet has 500 rows")


def test_partition_keys_from_columns_pass_the_context(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _frame(300).to_csv(data / "a.csv", index=False)
    _frame(300, start=300).to_parquet(data / "b.parquet")
    code, run_id, err = _apply(tmp_path, dataset={"kind": "tabular", "path": "data/"}, mini_batch_size=None,
                               partition_keys=["region"])
    assert code == 0, err
    rows = [row.split() for row in output_rows(tmp_path, run_id)]
    assert sorted(int(r[0]) for r in rows) == list(range(600))
    assert all(r[2] == ["north", "south", "east"][int(r[0]) % 3] for r in rows)
    assert json.loads((run_folder(tmp_path, run_id) / "score/step.json").read_text())["mini_batches"] == 3


def test_partition_format_keys_come_from_paths(tmp_path):
    for region in ("east", "west"):
        folder = tmp_path / "data" / region
        folder.mkdir(parents=True)
        frame = _frame(50, start=0 if region == "east" else 50).drop(columns=["region"])
        frame.to_csv(folder / "rows.csv", index=False)
    code, run_id, err = _apply(tmp_path, dataset={"kind": "tabular", "path": "data/",
                                                  "partition_format": "/{region}/rows.csv"},
                               mini_batch_size=None, partition_keys=["region"])
    assert code == 0, err
    rows = [row.split() for row in output_rows(tmp_path, run_id)]
    assert {r[2] for r in rows if int(r[0]) < 50} == {"east"} and len(rows) == 100


def test_azure_date_partition_format_groups_by_date(tmp_path):
    # {PartitionDate:yyyy/MM/dd} spans three folders; the key's value is the ISO date.
    for day, start in (("2019/01/30", 0), ("2019/01/31", 50)):
        folder = tmp_path / "data" / "Accounts" / day
        folder.mkdir(parents=True)
        _frame(50, start=start).drop(columns=["region"]).to_csv(folder / "data.csv", index=False)
    code, run_id, err = _apply(tmp_path, dataset={"kind": "tabular", "path": "data/", "partition_format":
                                                  "/{Department}/{PartitionDate:yyyy/MM/dd}/data.csv"},
                               mini_batch_size=None, partition_keys=["PartitionDate"])
    assert code == 0, err
    assert json.loads((run_folder(tmp_path, run_id) / "score/step.json").read_text())["mini_batches"] == 2
    rows = output_rows(tmp_path, run_id)
    assert len(rows) == 100 and sum("2019-01-31" in row for row in rows) == 50, rows[:3]


def test_an_unreadable_table_fails_its_mini_batch(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _frame(100).to_csv(data / "good.csv", index=False)
    (data / "bad.parquet").write_bytes(b"not parquet at all")
    code, run_id, err = _apply(tmp_path, dataset={"kind": "tabular", "path": "data/"}, run_max_try=1)
    assert code == 0, err
    [entry] = [json.loads(line) for line in
               (run_folder(tmp_path, run_id) / "score/failed_items.jsonl").read_text().splitlines()]
    assert entry["mini_batch"]["path"].endswith("bad.parquet") and "cannot read" in entry["error"]
    assert len(output_rows(tmp_path, run_id)) == 100


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(0, 40), min_size=1, max_size=60), size=st.integers(1, 200),
       header=st.booleans(), trailing_newline=st.booleans())
def test_byte_ranges_cover_each_line_exactly_once(tmp_path_factory, lengths, size, header, trailing_newline):
    folder = tmp_path_factory.mktemp("ranges")
    lines = [f"{i}{'x' * n}" for i, n in enumerate(lengths)]
    text = ("id\n" if header else "") + "\n".join(lines) + ("\n" if trailing_newline else "")
    path = folder / "t.csv"
    path.write_text(text)
    spec = InputPlan("datasets.t", "tabular", str(path), header=header)
    seen: list[str] = []
    for descriptor in Partitioner(size, None).descriptors([spec]):
        frame = read_descriptor(spec, descriptor)
        if len(frame):
            seen += [str(v) for v in frame.iloc[:, 0]]
    assert seen == lines


def test_a_worker_that_dies_in_run_fails_the_rows_it_had_read(tmp_path):
    """Parquet row groups are counted only when read: the worker publishes the count in
    its InFlight page as it reads them, so a crash in run() fails that many items (not
    one, "unknown"), though no message said so before the worker died."""
    data = tmp_path / "data"
    data.mkdir()
    _frame(900).to_parquet(data / "rows.parquet", row_group_size=300)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "dies.py").write_text(
        "import os\n\n\ndef run(frame):\n    if 600 in set(frame['id']):\n        os._exit(9)\n"
        "    return [str(i) for i in frame['id']]\n")
    write_spec(tmp_path, script="dies.py", dataset={"kind": "tabular", "path": "data/"}, mini_batch_size="1KB",
               run_max_try=1, process_count_per_node=1)
    result = cli("apply", "spec.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    lines = [json.loads(line) for line in (run_folder(tmp_path, run_id) / "score/ledger.jsonl").read_text().splitlines()]
    [failed] = [line for line in lines if line["status"] == "failed"]
    assert (failed["items"], failed["failed"], failed.get("items_unknown", False)) == (300, 300, False)
    assert "exit code 9" in failed["error"]
    assert len(output_rows(tmp_path, run_id)) == 600
