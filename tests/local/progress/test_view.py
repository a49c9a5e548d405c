"""The live bar's layout at the widths people use: a real bar at 80 columns, labelled
rates, the time left, what is dropped first when it does not fit, and red only when
something failed. (tests/cli/test_progress_tmux.py looks at it in a real terminal.)"""

from __future__ import annotations

import pytest

from runner.local.progress.view import MIN_BAR, bar_lines, plain, plain_line
from runner.runs.records import ItemCounts, MiniBatchCounts, ProgressRecord
from runner.runs.status import Status


def _snap(status: Status = Status.RUNNING, failed: int = 0, items_failed: int = 0, total_items: int | None = 300,
          estimate: int | None = None, retries: int = 0) -> ProgressRecord:
    return ProgressRecord("score", status, MiniBatchCounts(100, 47 - failed, failed),
                          ItemCounts(total_items, 141 - items_failed, items_failed, estimate), retries=retries,
                          mini_batches_per_second=12.6, items_per_second=37.9, eta_seconds=4.2, elapsed_seconds=3.7)


def _text(snap: ProgressRecord, width: int) -> list[str]:
    return [plain(line) for line in bar_lines(snap, width)]


def test_at_80_columns_a_real_bar_and_every_number_labelled() -> None:
    assert _text(_snap(), 80) == [
        "score ━━━━━━━━━━━━━━━━━━━━━━╸─────────────────────────  47%  47/100 mini-batches",
        "  141/300 items, 0 failed  37.9 items/s  12.6 mini-batches/s  ETA 0:04",
    ]


def test_at_120_columns_the_elapsed_time_fits_too() -> None:
    lines = _text(_snap(), 120)
    assert lines[0].startswith("score ━") and lines[0].endswith("  47%  47/100 mini-batches") and len(lines[0]) == 120
    assert lines[1] == "  141/300 items, 0 failed  37.9 items/s  12.6 mini-batches/s  ETA 0:04  elapsed 0:04"


@pytest.mark.parametrize("width", [30, 40, 60, 80, 100, 200])
def test_lines_fit_the_width_and_the_bar_never_shrinks_below_its_minimum(width: int) -> None:
    snap = ProgressRecord("a-rather-long-step-name", Status.RUNNING, MiniBatchCounts(100000, 35611, 12),
                          ItemCounts(None, 356112, 120, 1000321), retries=14, worker_restarts=2,
                          mini_batches_per_second=1403.2, items_per_second=4210.5, eta_seconds=9000)
    bar, numbers = _text(snap, width)
    assert len(bar) <= width and len(numbers) <= width
    assert bar.count("━") + bar.count("─") + bar.count("╸") >= MIN_BAR
    assert "356,232/~1,000,321 items" in numbers  # never dropped; thousands separated
    if width >= 80:
        assert "ETA 2:30:00" in numbers and "4,210 items/s" in numbers


def test_what_is_dropped_first_when_it_does_not_fit() -> None:
    snap = _snap(retries=3)
    assert _text(snap, 120)[1].endswith("ETA 0:04  elapsed 0:04  3 retries")
    assert _text(snap, 80)[1] == "  141/300 items, 0 failed  37.9 items/s  12.6 mini-batches/s  ETA 0:04"
    assert _text(snap, 50)[1] == "  141/300 items, 0 failed  37.9 items/s  ETA 0:04"
    assert _text(snap, 36)[1] == "  141/300 items, 0 failed  ETA 0:04"


def _fill_style(snap: ProgressRecord) -> str:
    [fill] = [style for text, style in bar_lines(snap, 80)[0] if text.startswith("━")]
    return fill


def test_the_fill_is_red_only_when_something_failed() -> None:
    assert _fill_style(_snap()) == "cyan"
    assert _fill_style(_snap(Status.SUCCEEDED)) == "green"
    assert _fill_style(_snap(items_failed=2)) == "red"
    assert _fill_style(_snap(failed=1)) == "red"
    assert _fill_style(_snap(Status.INTERRUPTED)) == "yellow"
    assert "47/100 mini-batches, 1 failed" in _text(_snap(failed=1), 80)[0]


def test_a_finished_step_shows_its_elapsed_time_not_an_eta() -> None:
    done = _snap(Status.SUCCEEDED)
    assert "ETA" not in _text(done, 80)[1] and "elapsed 0:04" in _text(done, 80)[1]


def test_totals_unknown_estimated_or_counted() -> None:
    assert "  141 items, 0 failed" in _text(_snap(total_items=None), 80)[1]
    assert "  141/~320 items, 0 failed" in _text(_snap(total_items=None, estimate=320), 80)[1]
    assert "items 141/~320 (0 failed)" in plain_line(_snap(total_items=None, estimate=320))


def test_the_plain_line_labels_its_rates() -> None:
    assert plain_line(_snap()) == ("score: running; mini-batches 47/100 (0 failed); items 141/300 (0 failed); "
                                   "37.9 items/s, 12.6 mini-batches/s; ETA 0:04")
