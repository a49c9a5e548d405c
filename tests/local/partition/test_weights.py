"""A table's total rows: counted at planning where the footer or the cuts say (CSV and
JSON Lines ranges, Parquet), else estimated from the bytes of the finished mini-batches
until every one is read."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd

from runner.local.output.ledger import Ledger
from runner.local.partition.descriptors import encode
from tests.local.helpers import commit
from runner.local.partition.sources import Partitioner
from runner.local.partition.weights import Weights
from runner.plan.references import InputPlan


def _frame(rows: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"id": range(start, start + rows), "text": [f"row {i} " + "y" * 30 for i in range(rows)]})


def _plan(tmp_path: Path, size: int) -> tuple[Partitioner, str]:
    parts = Partitioner(size, None)
    path = tmp_path / "minibatches.jsonl"
    path.write_text("".join(encode(d) for d in parts.descriptors([InputPlan("datasets.t", "tabular",
                                                                            str(tmp_path / "data"))])))
    return parts, str(path)


def _commit(ledger: Ledger, mb: int, rows: int) -> None:
    commit(ledger, {"mb": mb, "status": "ok", "items": rows, "ok": rows, "failed": 0, "rows": rows, "tries": 1,
                   "worker": 0, "secs": 0.1})


def test_rows_of_files_read_whole_are_estimated_from_bytes_then_known(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    sizes = [100, 200, 300, 400]
    for n, rows in enumerate(sizes):  # compressed: read whole, their rows not counted at planning
        with gzip.open(data / f"part{n}.csv.gz", "wt") as handle:
            _frame(rows, n * 1000).to_csv(handle, index=False)
    parts, minibatches = _plan(tmp_path, 1 << 20)
    assert parts.count == 4 and not parts.rows_known
    ledger = Ledger(str(tmp_path / "ledger.jsonl"), None, 4)
    weights = Weights(minibatches, 4)
    assert weights.estimate(ledger.state, 0) is None  # nothing read yet
    _commit(ledger, 3, 400)
    estimate = weights.estimate(ledger.state, 400)
    assert estimate is not None and 850 <= estimate <= 1150, estimate  # 1000, within the bytes' noise
    for mb in (0, 1, 2):
        _commit(ledger, mb, sizes[mb])
    assert weights.estimate(ledger.state, 1000) == 1000  # every byte read: exact
    ledger.close()


def test_parquet_rows_are_counted_at_planning(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _frame(700).to_parquet(data / "a.parquet", row_group_size=100)
    _frame(300).to_parquet(data / "b.parquet", row_group_size=100)
    parts, _ = _plan(tmp_path, 2000)
    assert parts.count > 2 and parts.rows_known and parts.items == 1000


def test_an_unreadable_parquet_file_leaves_the_total_unknown(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _frame(700).to_parquet(data / "a.parquet", row_group_size=100)
    (data / "b.parquet").write_bytes(b"not parquet at all")
    parts, minibatches = _plan(tmp_path, 2000)
    assert not parts.rows_known
    ledger = Ledger(str(tmp_path / "ledger.jsonl"), None, parts.count)
    _commit(ledger, 0, 100)
    assert Weights(minibatches, parts.count).estimate(ledger.state, 100) is not None
    ledger.close()
