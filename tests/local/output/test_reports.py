"""The processed-mini-batches report, the failed-items manifest and the Parquet output,
in-process, from a ledger and descriptors (or staged frames) written by hand."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from runner.local.output.ledger import Ledger
from runner.local.partition.descriptors import FilesBatch, encode
from tests.local.helpers import assert_report_rebuilt, commit
from runner.local.output.reports import OutputError, finish_parquet, staged_output, write_reports
from runner.local.protocol import Done, frame_to_staged
from runner.runs.folder import StepFolder


def _step(tmp_path: Path, count: int) -> StepFolder:
    folder = StepFolder(tmp_path / "step")
    folder.path.mkdir()
    Path(folder.minibatches).write_text("".join(encode(FilesBatch(i, 0, [f"f{i}a", f"f{i}b"])) for i in range(count)))
    return folder


def test_the_report_has_a_row_per_finished_mini_batch_and_the_manifest_its_failures(tmp_path: Path) -> None:
    folder = _step(tmp_path, 4)
    ledger = Ledger(folder.ledger, str(tmp_path / "out.txt"), 4)
    commit(ledger, {"mb": 0, "status": "ok", "items": 2, "ok": 2, "failed": 0, "rows": 2, "tries": 1, "worker": 0,
                   "secs": 0.1}, b"a\nb\n")
    commit(ledger, {"mb": 2, "status": "failed", "items": 2, "ok": 0, "failed": 2, "rows": 0, "tries": 3, "worker": 1,
                   "secs": 0, "error": "Traceback...\nValueError: bad image"})
    ledger.close()
    assert write_reports(folder, stopped=True) == 2  # 1 and 3 never ran
    with open(folder.report, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["mini_batch"], r["status"], r["error"]) for r in rows] == [("0", "ok", ""),
                                                                          ("2", "failed", "ValueError: bad image")]
    manifest = [json.loads(line) for line in Path(folder.failed_items).read_text().splitlines()]
    assert [(m["mini_batch"]["id"], m["status"]) for m in manifest] == [(1, "not_run"), (2, "failed"), (3, "not_run")]
    assert manifest[1]["mini_batch"]["files"] == ["f2a", "f2b"] and manifest[1]["tries"] == 3
    assert write_reports(folder, stopped=False) == 0  # not stopped: only what failed
    assert len(Path(folder.failed_items).read_text().splitlines()) == 1


def test_the_report_is_what_the_ledger_lines_make_whatever_their_shape(tmp_path: Path) -> None:
    """Lines as encode_ok writes them become rows straight from their bytes; any other
    line (partial, failed, an older runner's, edited by hand) is decoded. Either way the
    report is byte for byte the one csv.writer makes of the decoded lines, reading stops
    at a damaged line as before, and a threshold stop's never-run list knows what ran."""
    folder = _step(tmp_path, 20)
    ledger = Ledger(folder.ledger, str(tmp_path / "out.txt"), 20)
    for mb, secs in enumerate([0.0, 0.123456, 0.0001, 12345.5, 1e16, 3.0]):
        ledger.commit_done(Done(mb, 2, 2, b"r\nr\n", None, None, secs), 1 + mb % 3, mb % 2)
    ledger.commit_done(Done(6, 3, 1, b"x\n", None, ["f6a"], 0.5), 1, 0)  # partial
    ledger.commit_failed(7, 2, 3, 1, 'Traceback...\nValueError: bad, "quoted"')
    ledger.close()
    tail = b'"tries":1,"worker":0,"secs":%s,"at":9,"t":1,"out":9}\n'
    with open(folder.ledger, "ab") as handle:
        for mb, secs in [(8, b"0.10"), (9, b"2"), (10, b"1E-5"), (11, b"1e-05")]:  # only 1e-05 is its own repr
            handle.write(b'{"mb":%d,"status":"ok","items":1,"ok":1,"failed":0,"rows":1,' % mb + tail % secs)
        handle.write(b'{"mb":12,"status":"ok","items":1,"ok":1,"failed":0,"rows":1,"tries":1,"worker":0,"secs":0.5,'
                     b'"at":9,"out":9}\n')  # no "t": an older runner's
        handle.write(b'{"mb": 13, "status": "ok", "items": 1, "ok": 1, "failed": 0, "rows": 1, "tries": 1, "worker": 0, '
                     b'"secs": 0.5, "at": 9, "t": 1, "out": 9}\n')  # spaced, by hand
        handle.write(b'{"mb":14,"status":"ok","items":1,"ok":1,"failed":0,"rows":1,"note":"x",' + tail % b"0.5")
        handle.write(b'{"mb":15,"status":"ok","items":01,"ok":1,"failed":0,"rows":1,' + tail % b"0.5")  # not JSON
        handle.write(b'{"mb":16,"status":"ok","items":1,"ok":1,"failed":0,"rows":1,' + tail % b"0.5")  # after damage
    assert write_reports(folder, stopped=True) == 5  # 15 to 19: the damaged line and all after it
    assert_report_rebuilt(folder.path)
    rows = Path(folder.report).read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == [str(mb) for mb in range(15)]
    assert [row.split(",")[7] for row in rows[9:12]] == ["0.1", "2.0", "1e-05"] and rows[5].split(",")[7] == "1e+16"


def _staged(tmp_path: Path, frames: list[pd.DataFrame | None]) -> tuple[str, str]:
    """The staged Parquet output of one mini-batch per frame (None: a failed one)."""
    final, ledger_path = str(tmp_path / "out.parquet"), str(tmp_path / "ledger.jsonl")
    ledger = Ledger(ledger_path, staged_output(final, "parquet"), len(frames))
    for mb, frame in enumerate(frames):
        status = "failed" if frame is None else "ok"
        commit(ledger, {"mb": mb, "status": status, "items": 1, "ok": int(frame is not None),
                       "failed": int(frame is None), "rows": 0 if frame is None else len(frame), "tries": 1,
                       "worker": 0, "secs": 0.1}, b"" if frame is None else frame_to_staged(frame))
    ledger.close()
    return final, ledger_path


def test_parquet_promotes_numbers_and_fills_nulls_across_mini_batches(tmp_path: Path) -> None:
    final, ledger = _staged(tmp_path, [
        pd.DataFrame({"id": [0, 1], "score": [1, 2], "label": [None, None]}),      # int64, all-null
        None,                                                                       # failed: no rows
        pd.DataFrame({"id": [2, 3], "score": [0.5, np.nan], "label": ["a", "b"]}),  # float64 with NaN
        pd.DataFrame({"id": [4], "score": [7], "label": ["c"], "extra": [True]}),   # a column more
    ])
    assert finish_parquet(final, ledger)
    out = pd.read_parquet(final)
    assert out["id"].tolist() == [0, 1, 2, 3, 4] and str(out["id"].dtype) == "int64"
    assert str(out["score"].dtype) == "float64" and out["score"].tolist()[:3] == [1.0, 2.0, 0.5]
    assert np.isnan(out["score"][3]) and out["score"][4] == 7.0
    assert out["label"].tolist()[2:] == ["a", "b", "c"] and out["label"][:2].isna().all()
    assert out["extra"].tolist()[4] and out["extra"][:4].isna().all()


def test_finishing_parquet_again_gives_the_same_file_and_ignores_a_torn_temporary(tmp_path: Path) -> None:
    final, ledger = _staged(tmp_path, [pd.DataFrame({"x": [i, i + 1]}) for i in range(0, 600, 2)])
    assert finish_parquet(final, ledger)
    first = pq.read_table(final)
    assert first.column("x").to_pylist() == list(range(600))
    assert pq.ParquetFile(final).metadata.num_row_groups == 1  # 300 tiny mini-batches, one row group
    Path(final + ".tmp").write_bytes(b"PAR1 half a file")  # a driver killed while it wrote
    os.remove(final)
    assert finish_parquet(final, ledger)
    assert pq.read_table(final).equals(first) and not os.path.exists(final + ".tmp")


def test_a_real_schema_conflict_names_the_column_and_both_mini_batches(tmp_path: Path) -> None:
    final, ledger = _staged(tmp_path, [pd.DataFrame({"id": [0], "zip": [None]}),
                                       pd.DataFrame({"id": [1], "zip": [12345]}),
                                       pd.DataFrame({"id": [2], "zip": [2.5]}),
                                       pd.DataFrame({"id": [3], "zip": ["02134"]})])
    with pytest.raises(OutputError) as caught:
        finish_parquet(final, ledger)
    message = str(caught.value)
    assert "column 'zip' is double in mini-batch 2 and " in message and "string in mini-batch 3" in message
    assert staged_output(final, "parquet") in message  # what was committed is kept, and where
    assert not os.path.exists(final) and not os.path.exists(final + ".tmp")
    assert os.path.getsize(staged_output(final, "parquet")) > 0


def test_values_that_do_not_fit_the_promoted_type_are_an_error_not_a_wrap(tmp_path: Path) -> None:
    final, ledger = _staged(tmp_path, [pd.DataFrame({"n": np.array([-1], dtype="int64")}),
                                       pd.DataFrame({"n": np.array([2**64 - 1], dtype="uint64")})])
    with pytest.raises(OutputError, match=r"column 'n' of mini-batch 1 \(uint64\) does not fit the type int64"):
        finish_parquet(final, ledger)


def test_no_parquet_file_when_no_mini_batch_committed_rows(tmp_path: Path) -> None:
    final, ledger = _staged(tmp_path, [None, None])
    assert not finish_parquet(final, ledger) and not os.path.exists(final)


def _reports_peak(tmp_path: Path, count: int) -> int:
    """Peak Python allocation of write_reports over a ledger of `count` committed mini-batches."""
    import tracemalloc

    (tmp_path / str(count)).mkdir()
    folder = _step(tmp_path / str(count), count)
    Path(folder.ledger).write_text("".join(
        f'{{"mb":{mb},"status":"ok","items":2,"ok":2,"failed":0,"rows":2,"tries":1,"worker":0,"secs":0.0,'
        f'"at":{mb * 4},"t":1,"out":{mb * 4 + 4}}}\n' for mb in range(count)))
    tracemalloc.start()
    try:
        assert write_reports(folder, stopped=False) == 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_finished_step_s_reports_hold_no_per_mini_batch_state(tmp_path: Path) -> None:
    """The driver's peak RSS at 10,000,000 files (bench scale) was a set of every mini-batch
    id built for the reports (~60 MB at 1,000,000 mini-batches), needed only when a
    threshold stopped the step early."""
    _reports_peak(tmp_path, 10)  # what the first call imports and caches is not the reports' state
    small, large = _reports_peak(tmp_path, 1_000), _reports_peak(tmp_path, 50_000)
    assert large - small < 256 * 1024, (small, large)
