"""Progress: a live bar on a terminal, a plain line now and then elsewhere, and the same
numbers in progress.json (what `runner status` shows) and the overview file.

The bar is two lines drawn for the terminal's width (runner/local/progress/view.py):
the bar itself with the mini-batches done, then items, the rates and the time left.
Rates are those of the last RATE_WINDOW seconds, so the time left follows a run that
speeds up after its workers started; the record written at the end holds the averages."""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from runner.local.output.ledger_line import Totals
from runner.local.partition.weights import Weights
from runner.local.progress.view import BarView, plain_line
from runner.runs.folder import StepFolder, no_links
from runner.runs.records import ProgressRecord, write_record
from runner.runs.status import Status

if TYPE_CHECKING:
    from runner.local.driver.supervisor import Supervisor

BAR_SECONDS = 0.2
FILE_SECONDS = 1.0
PLAIN_SECONDS = 15.0
RATE_WINDOW = 10.0  # seconds of samples behind the rates shown while running


class Progress:
    def __init__(self, folder: StepFolder, step: str, total: int, total_items: int | None,
                 stream: IO[str] | None = None) -> None:
        self.folder = folder
        self.step = step
        self.total = total
        self.total_items = total_items  # None: rows, known only as workers read them
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.start_done: tuple[int, int] | None = None  # mini-batches and items done before this driver
        self._samples: deque[tuple[float, int, int]] = deque()  # (time, mini-batches, items) done
        # Rows of a table whose total is not known: estimated from the bytes of the
        # finished mini-batches (None: a file dataset, or the rows were counted).
        self._weights = Weights(folder.minibatches, total) if total_items is None else None
        self._live: Any = None
        self._view: BarView | None = None
        self._last_bar = self._last_file = 0.0
        self._last_plain = time.monotonic()
        if self.stream.isatty():
            from rich.console import Console
            from rich.live import Live

            self._view = BarView()
            self._live = Live(self._view, console=Console(file=self.stream), auto_refresh=False,
                              transient=False)
            self._live.start()

    def snapshot(self, sup: Supervisor | None, status: Status = Status.RUNNING) -> ProgressRecord:
        t = sup.ledger.totals if sup else Totals()
        done, items = t.mini_batches.succeeded + t.mini_batches.failed, t.items.succeeded + t.items.failed
        now = time.monotonic()
        if self.start_done is None:
            self.start_done = (done, items)
            self._samples.append((self.started, done, items))
        elapsed = now - self.started
        if status == Status.RUNNING:
            mb_rate, item_rate = self._window_rates(now, done, items)
        else:  # the record kept after the run: the average over this driver's run
            mb_rate = (done - self.start_done[0]) / elapsed if elapsed > 0 else 0.0
            item_rate = (items - self.start_done[1]) / elapsed if elapsed > 0 else 0.0
        estimate, total_items = None, self.total_items
        if self._weights is not None and sup is not None:
            estimate = self._weights.estimate(sup.ledger.state, items)
            if done >= self.total:  # every mini-batch was read: the rows are known
                estimate, total_items = None, items
        eta = (self.total - done) / mb_rate if mb_rate > 0 and status == Status.RUNNING else None
        return ProgressRecord(
            step=self.step, status=status,
            mini_batches=replace(t.mini_batches, total=self.total,
                                 in_flight=sum(len(s.queue) for s in sup.slots) if sup else 0,
                                 retrying=len(sup.retries) if sup else 0),
            items=replace(t.items, total=total_items, estimate=estimate),
            rows_written=t.rows_written, retries=t.retries, worker_restarts=sup.restarts if sup else 0,
            mini_batches_per_second=round(mb_rate, 2), items_per_second=round(item_rate, 2),
            eta_seconds=round(eta, 1) if eta is not None else None,
            elapsed_seconds=round(elapsed, 2), updated=time.time())

    def _window_rates(self, now: float, done: int, items: int) -> tuple[float, float]:
        """Mini-batches and items a second over the last RATE_WINDOW seconds (since this
        driver started, until that long has passed)."""
        samples = self._samples
        if now - samples[-1][0] >= BAR_SECONDS / 2:
            samples.append((now, done, items))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW:
            samples.popleft()
        then, done_then, items_then = samples[0]
        span = now - then
        if span <= 0:
            return 0.0, 0.0
        return (done - done_then) / span, (items - items_then) / span

    def tick(self, sup: Supervisor) -> None:
        now = time.monotonic()
        if now - self._last_bar < BAR_SECONDS:
            return
        self._last_bar = now
        snap = self.snapshot(sup)
        if self._live is not None:
            self._draw(snap)
        elif now - self._last_plain >= PLAIN_SECONDS:
            self._last_plain = now
            print(plain_line(snap), file=self.stream, flush=True)
        if now - self._last_file >= FILE_SECONDS:
            self._last_file = now
            self.write(snap)

    def _draw(self, snap: ProgressRecord) -> None:
        assert self._view is not None
        self._view.snap = snap
        self._live.refresh()

    def write(self, snap: ProgressRecord) -> None:
        # Not fsynced: rewritten every second, and a stopped step's numbers come from its ledger.
        write_record(Path(self.folder.progress), snap, durable=False)
        overview = Path(self.folder.overview)
        overview.parent.mkdir(parents=True, exist_ok=True)
        with open(overview, "w", encoding="utf-8", opener=no_links) as handle:
            handle.write(plain_line(snap) + "\n")

    def close(self, sup: Supervisor | None, status: Status) -> ProgressRecord:
        snap = self.snapshot(sup, status)
        if self._live is not None:
            self._draw(snap)
            self._live.stop()
            self._live = None
        self.write(snap)
        return snap
