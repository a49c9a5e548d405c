"""`runner status` text (what `status --watch` redraws): both rates labelled, the time
left while running, a reason said once; progress.json files of earlier runs still read."""

from __future__ import annotations

import json
from pathlib import Path

from runner.runs.display import clock, outcome_text, rate, status_lines, status_text
from runner.runs.records import ItemCounts, MiniBatchCounts, ProgressRecord, read_record
from runner.runs.status import Status
from runner.runs.views import ProgressView, RunView, StepView


def _info(status: str, reason: str = "", step_reason: str = "", eta: float | None = 42.0,
          items: ItemCounts | None = None) -> RunView:
    progress = ProgressRecord("score", Status(status), MiniBatchCounts(100, 40, 2), items or ItemCounts(300, 118, 6),
                              retries=1, mini_batches_per_second=12.6, items_per_second=37.9, eta_seconds=eta,
                              elapsed_seconds=65)
    step = StepView("score", Status(status), step_reason, progress=ProgressView.of(progress))
    return RunView("job-1", "job", "spec.yaml", status=Status(status), reason=reason, steps=(step,))


def test_a_running_step_shows_both_rates_and_the_time_left() -> None:
    assert status_lines(_info("running")) == [
        "run job-1: running",
        "  step score: running",
        "    mini-batches: 40 succeeded, 2 failed, 58 left of 100; 12.6 mini-batches/s",
        "    items: 118 succeeded, 6 failed, 176 left of 300; 37.9 items/s",
        "    ETA 0:42; running for 1:05",
        "    retries: 1; worker restarts: 0",
    ]


def test_before_the_first_mini_batch_the_time_left_is_not_known_yet() -> None:
    assert "    ETA (not known yet); running for 1:05" in status_lines(_info("running", eta=None))


def test_a_stopped_step_has_no_eta() -> None:
    assert not any("ETA" in line for line in status_lines(_info("succeeded")))


def test_a_tables_total_unknown_or_estimated() -> None:
    assert "    items: 118 succeeded, 6 failed, of ?; 37.9 items/s" in \
        status_lines(_info("running", items=ItemCounts(None, 118, 6)))
    assert "    items: 118 succeeded, 6 failed, of ~310 (estimated from the bytes read so far); 37.9 items/s" in \
        status_lines(_info("running", items=ItemCounts(None, 118, 6, 310)))


def test_a_one_line_reason_is_said_once_in_the_header() -> None:
    lines = status_lines(_info("interrupted", "interrupted (Ctrl-C)", "interrupted (Ctrl-C)"))
    assert lines[:2] == ["run job-1: interrupted (Ctrl-C)", "  step score: interrupted"]
    assert sum("Ctrl-C" in line for line in lines) == 1


def test_a_multi_line_reason_is_said_once_under_its_step() -> None:
    reason = "allowed_failed_count exceeded: 2 mini-batches failed\n58 mini-batches never ran; see failed_items.jsonl"
    lines = status_lines(_info("failed", reason, reason))
    assert lines[0] == "run job-1: failed"
    assert lines[-2:] == ["    allowed_failed_count exceeded: 2 mini-batches failed",
                          "    58 mini-batches never ran; see failed_items.jsonl"]


def test_a_runs_own_reason_shows_when_no_step_gives_it() -> None:
    lines = status_lines(_info("interrupted", "the driver stopped without finishing (killed?)"))
    assert lines[0] == "run job-1: interrupted (the driver stopped without finishing (killed?))"


def test_words_and_numbers() -> None:
    assert status_text("interrupted", "interrupted (Ctrl-C)") == "interrupted (Ctrl-C)"
    assert status_text("failed", "a threshold\nmore") == "failed (a threshold)"
    assert outcome_text("interrupted", "interrupted (Ctrl-C twice)") == "interrupted (Ctrl-C twice)"
    assert outcome_text("failed", "a\nb") == "failed: a\nb"
    assert outcome_text("succeeded") == "succeeded"
    assert [clock(s) for s in (0, 7.4, 65, 3725)] == ["0:00", "0:07", "1:05", "1:02:05"]
    assert [rate(r) for r in (0.123, 4.24, 42.4, 4210.5)] == ["0.12", "4.2", "42.4", "4,210"]


def test_progress_written_before_the_rates_and_estimate_were_added_still_reads(tmp_path: Path) -> None:
    old = {"step": "score", "status": "succeeded",
           "mini_batches": {"total": 4, "succeeded": 4, "failed": 0, "in_flight": 0, "retrying": 0},
           "items": {"total": None, "succeeded": 40, "failed": 0}, "rows_written": 40, "retries": 0,
           "worker_restarts": 0, "mini_batches_per_second": 3.5, "eta_seconds": None, "elapsed_seconds": 1.2,
           "updated": 1.0, "version": 1}
    path = tmp_path / "progress.json"
    path.write_text(json.dumps(old))
    record = read_record(path, ProgressRecord)
    assert record.items_per_second == 0.0 and record.items.estimate is None
    info = RunView("old", "old", "spec.yaml", status=Status.SUCCEEDED,
                   steps=(StepView("score", Status.SUCCEEDED, progress=ProgressView.of(record)),))
    assert "    items: 40 succeeded, 0 failed, of ?; 0.00 items/s" in status_lines(info)


def test_large_counts_have_thousands_separators() -> None:
    progress = ProgressRecord("score", Status.SUCCEEDED, MiniBatchCounts(3000, 2700, 300),
                              ItemCounts(30000, 27000, 3000))
    lines = status_lines(RunView("job-1", "job", "spec.yaml", status=Status.SUCCEEDED,
                                 steps=(StepView("score", Status.SUCCEEDED, progress=ProgressView.of(progress)),)))
    assert "    mini-batches: 2,700 succeeded, 300 failed, 0 left of 3,000; 0.00 mini-batches/s" in lines, lines
    assert "    items: 27,000 succeeded, 3,000 failed, 0 left of 30,000; 0.00 items/s" in lines, lines
