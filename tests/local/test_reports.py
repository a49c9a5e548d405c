"""The processed-mini-batches report and the failed-items manifest, in-process, from a
ledger and descriptors written by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from runner.local.descriptors import FilesBatch, encode
from runner.local.ledger import Ledger
from runner.local.reports import write_reports
from runner.runs.folder import StepFolder


def _step(tmp_path: Path, count: int) -> StepFolder:
    folder = StepFolder(tmp_path / "step")
    folder.path.mkdir()
    Path(folder.minibatches).write_text("".join(encode(FilesBatch(i, 0, [f"f{i}a", f"f{i}b"])) for i in range(count)))
    return folder


def test_the_report_has_a_row_per_finished_mini_batch_and_the_manifest_its_failures(tmp_path: Path) -> None:
    folder = _step(tmp_path, 4)
    ledger = Ledger(folder.ledger, str(tmp_path / "out.txt"), 4)
    ledger.commit({"mb": 0, "status": "ok", "items": 2, "ok": 2, "failed": 0, "rows": 2, "tries": 1, "worker": 0,
                   "secs": 0.1}, b"a\nb\n")
    ledger.commit({"mb": 2, "status": "failed", "items": 2, "ok": 0, "failed": 2, "rows": 0, "tries": 3, "worker": 1,
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
