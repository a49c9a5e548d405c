"""Progress: a live bar on a terminal, a plain line now and then elsewhere, and the same
numbers in progress.json (what `runner status` shows) and the overview file."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from runner.local.ledger import Totals
from runner.runs.folder import StepFolder
from runner.runs.records import ItemCounts, MiniBatchCounts, ProgressRecord, write_record
from runner.runs.status import Status

if TYPE_CHECKING:
    from runner.local.supervisor import Supervisor

BAR_SECONDS = 0.2
FILE_SECONDS = 1.0
PLAIN_SECONDS = 15.0


class Progress:
    def __init__(self, folder: StepFolder, step: str, total: int, total_items: int | None,
                 stream: IO[str] | None = None) -> None:
        self.folder = folder
        self.step = step
        self.total = total
        self.total_items = total_items  # None: rows, known only as workers read them
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.start_done: int | None = None
        self._bar: Any = None
        self._task: Any = None
        self._last_bar = self._last_file = 0.0
        self._last_plain = time.monotonic()
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("mini-batches {task.fields[detail]}"), TimeRemainingColumn(),
                            console=Console(file=self.stream), transient=False)
            self._task = self._bar.add_task(step, total=total, detail="")
            self._bar.start()

    def snapshot(self, sup: Supervisor | None, status: Status = Status.RUNNING) -> ProgressRecord:
        t = sup.ledger.totals if sup else Totals()
        done = t.mini_batches_ok + t.mini_batches_failed
        if self.start_done is None:
            self.start_done = done
        elapsed = time.monotonic() - self.started
        rate = (done - self.start_done) / elapsed if elapsed > 0 else 0.0
        return ProgressRecord(
            step=self.step, status=status,
            mini_batches=MiniBatchCounts(self.total, t.mini_batches_ok, t.mini_batches_failed,
                                         in_flight=sum(len(s.queue) for s in sup.slots) if sup else 0,
                                         retrying=len(sup.retries) if sup else 0),
            items=ItemCounts(self.total_items, t.items_ok, t.items_failed),
            rows_written=t.rows_out, retries=t.retries, worker_restarts=sup.restarts if sup else 0,
            mini_batches_per_second=round(rate, 2),
            eta_seconds=round((self.total - done) / rate, 1) if rate > 0 else None,
            elapsed_seconds=round(elapsed, 2), updated=time.time())

    def tick(self, sup: Supervisor) -> None:
        now = time.monotonic()
        if now - self._last_bar < BAR_SECONDS:
            return
        self._last_bar = now
        snap = self.snapshot(sup)
        if self._bar is not None:
            self._draw(snap)
        elif now - self._last_plain >= PLAIN_SECONDS:
            self._last_plain = now
            print(_line(snap), file=self.stream, flush=True)
        if now - self._last_file >= FILE_SECONDS:
            self._last_file = now
            self.write(snap)

    def _draw(self, snap: ProgressRecord) -> None:
        mb = snap.mini_batches
        self._bar.update(self._task, completed=mb.succeeded + mb.failed,
                         detail=f"failed {mb.failed}  items ok {snap.items.succeeded} "
                                f"failed {snap.items.failed}  {snap.mini_batches_per_second:.0f}/s")

    def write(self, snap: ProgressRecord) -> None:
        # Not fsynced: rewritten every second, and a stopped step's numbers come from its ledger.
        write_record(Path(self.folder.progress), snap, durable=False)
        overview = Path(self.folder.overview)
        overview.parent.mkdir(parents=True, exist_ok=True)
        overview.write_text(_line(snap) + "\n", encoding="utf-8")

    def close(self, sup: Supervisor | None, status: Status) -> ProgressRecord:
        snap = self.snapshot(sup, status)
        if self._bar is not None:
            self._draw(snap)
            self._bar.stop()
        self.write(snap)
        return snap


def _line(snap: ProgressRecord) -> str:
    mb, items = snap.mini_batches, snap.items
    total_items = f"/{items.total}" if items.total is not None else ""
    eta = f", ETA {snap.eta_seconds:.0f} s" if snap.eta_seconds is not None else ""
    return (f"{snap.step}: {snap.status}; mini-batches {mb.succeeded + mb.failed}/{mb.total} "
            f"({mb.failed} failed); items {items.succeeded + items.failed}{total_items} "
            f"({items.failed} failed); {snap.mini_batches_per_second:.1f} mini-batches/s{eta}")
