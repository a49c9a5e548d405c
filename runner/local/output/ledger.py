"""The ledger: exactly-once output across crashes, timeouts, retries and driver kills.

Only the driver writes the output file and the ledger, in this order for each finished
mini-batch: append its rows to the output and flush them to the OS, then append one
ledger line `{"mb": id, ..., "out": <output size after the rows>}`. So a ledger line is
never on disk without its rows before it. On resume, the ledger is cut after its last
complete line and the output is truncated to that line's `out`: rows of a mini-batch
whose ledger line was lost are removed and the mini-batch runs again. Nothing committed
is lost; nothing is written twice.

Writes are grouped: rows go to the output file's buffer, ledger lines to a list, and
every FLUSH_SECONDS the output is flushed and fsynced first, then the ledger lines are
written in one call. So the order on disk is the same (rows before the lines naming
them) even after a machine crash; a kill costs at most that much redone work, never
correctness. Should the output still be shorter than the ledger says, recovery keeps
only the lines whose rows are there. `close()` fsyncs both.

Each line also says where its rows start (`at`, before any CSV header it wrote), so the
lines chain: a line's `at` is the `out` of the line before it, and `out` never
decreases. Recovery checks that chain and every line against its type (LedgerLine,
runner/local/output/ledger_line.py, the one codec every reader uses too): a line deleted from the
middle, an offset edited by hand or a line that is not JSON before the last would
otherwise repeat or lose rows, so they stop the resume with the file, the line and what
to do (RecordError). Lines written before `at` existed are checked for order only.

`runner retry` extends the same ledger: each retry is an attempt of the step (step.json
counts them), and its lines carry `"gen": <attempt>`. A mini-batch is committed once per
attempt at most; a retry's line replaces the line of a mini-batch that failed in an
earlier attempt (a failed line has no rows: `at` == `out`), so the output still holds
each row once and the counts are those of each mini-batch's current line. A line that
would replace a success, or one of an attempt step.json does not know, is damage.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO

from runner.local.output.ledger_line import LedgerLine, LineError, NotALine, Totals, decode, encode, encode_ok
from runner.local.protocol import Done
from runner.runs.folder import no_links
from runner.runs.records import DamagedFolder, RecordError

FLUSH_SECONDS = 0.2
MAX_ERROR_CHARS = 8000
OK, FAILED = 1, 2


class Ledger:
    def __init__(self, path: str | Path, output: str | None, total: int, attempt: int = 0) -> None:
        """`attempt`: the step's attempt that runs now (0: the run itself, n: its n-th
        `runner retry`); mini-batches that failed in an earlier attempt run again."""
        self.path = path
        self.output_path = output
        self.attempt = attempt
        self.state = bytearray(total)  # per mini-batch: 0 to do, OK, FAILED
        self.totals = Totals()
        self.totals.mini_batches.total = total
        self.recovered = 0
        # Failed mini-batches' lines (a retry replaces them), without their error text:
        # only failures are kept.
        self._failed: dict[int, LedgerLine] = {}
        self._out: IO[bytes] | None = None
        if output is not None:  # opened first: a link planted in its place stops it before the ledger is cut
            _no_linked_folders(Path(output))
            os.makedirs(os.path.dirname(output), exist_ok=True)
            self._out = open(output, "ab", opener=no_links)  # noqa: SIM115 - kept open while the step runs
        try:
            out_end = self._recover(os.fstat(self._out.fileno()).st_size if self._out is not None else 0)
            self._ledger: IO[bytes] = open(path, "ab", buffering=0, opener=no_links)  # noqa: SIM115
        except BaseException:
            if self._out is not None:
                self._out.close()
            raise
        self.reopened = self._reopen()
        self._failed = {}
        self._pending: list[bytes] = []  # ledger lines whose rows may still be in the output buffer
        if self._out is not None:
            self._out.truncate(out_end)
            self._out.seek(out_end)
        self.out_pos = out_end
        self._last_flush = time.monotonic()

    def _recover(self, out_size: int) -> int:
        """Read what a previous driver committed; cut a torn last line, and any line whose
        rows are not all in the output (a machine crash can lose the file's tail): those
        mini-batches run again. A damaged line before the end stops here (RecordError).
        Returns the output offset of the last commit kept."""
        if not os.path.exists(self.path):
            return 0
        out_end, good, number = 0, 0, 0
        with open(self.path, "rb", opener=no_links) as handle:
            raw = handle.readline()
            while raw:
                number += 1
                following = handle.readline()
                try:
                    line = decode(raw, len(self.state)) if raw.endswith(b"\n") else None
                except LineError as exc:
                    if following or not isinstance(exc, NotALine):
                        raise self._damaged(number, str(exc)) from exc
                    line = None
                if line is None:
                    break  # a torn last line: its mini-batch runs again
                problem = _chain_problem(line, out_end)
                if problem:
                    raise self._damaged(number, problem)
                if line.out > out_size:
                    break  # its rows are not all on disk: it and what follows run again
                problem = self._attempt_problem(line)
                if problem:
                    raise self._damaged(number, problem)
                if self.state[line.mb] and not self._replaces(line):
                    if line.at is not None:  # this runner never commits a mini-batch twice
                        raise self._damaged(number, f"mini-batch {line.mb} was committed by an earlier line")
                    out_end, good, raw = line.out, good + len(raw), following
                    continue  # written twice by a driver before `at` was written: count it once
                self._count(line)
                out_end, good, raw = line.out, good + len(raw), following
                self.recovered += 1
        with open(self.path, "r+b", opener=no_links) as handle:
            handle.truncate(good)
        return out_end

    def _attempt_problem(self, line: LedgerLine) -> str | None:
        if line.gen > self.attempt:
            return (f"it was written by retry {line.gen} of the step, but its step.json counts "
                    f"{self.attempt} retries")
        if self.state[line.mb] == OK and line.gen and line.at is not None:
            return f"mini-batch {line.mb} succeeded in an earlier attempt, and a retry never runs it again"
        return None

    def _replaces(self, line: LedgerLine) -> bool:
        """Whether a line is a retry's of a mini-batch that failed in an earlier attempt:
        then the failure is taken back, and the line counts in its place."""
        earlier = self._failed.get(line.mb)
        if earlier is None or earlier.gen >= line.gen:
            return False
        self.totals.remove(earlier)
        self.recovered -= 1
        return True

    def _count(self, line: LedgerLine) -> None:
        if line.status == "ok":
            self.state[line.mb] = OK
            self._failed.pop(line.mb, None)
        else:
            self.state[line.mb] = FAILED
            self._failed[line.mb] = line._replace(error=None)
        self.totals.add(line)

    def _reopen(self) -> int:
        """The mini-batches this attempt runs again: those that failed in an earlier one."""
        reopened = 0
        for mb, line in self._failed.items():
            if line.gen < self.attempt:
                self.state[mb] = 0
                self.totals.remove(line)
                self.recovered -= 1
                reopened += 1
        return reopened

    def _damaged(self, number: int, problem: str) -> RecordError:
        return RecordError(
            f"{self.path} line {number}: {problem}. The ledger was edited or damaged, and going on could "
            f"repeat or lose rows, so nothing was run. Restore the file; or cut it before line {number} "
            "(the mini-batches of the lines cut run again on resume, and their rows are cut from the output); "
            "or apply the spec again for a new run")

    def done(self, mb: int) -> bool:
        return self.state[mb] != 0

    def append(self, rows: bytes, header: bytes | None = None) -> tuple[int, int]:
        """A mini-batch's rows (and a CSV header before the first rows of the output), to
        the output's buffer; returns where they start and end: its line's `at` and `out`.
        A failed mini-batch appends nothing: `at` == `out`."""
        at = self.out_pos
        if rows and self._out is not None:
            if header and self.out_pos == 0:
                self._out.write(header)
                self.out_pos += len(header)
            self._out.write(rows)
            self.out_pos += len(rows)
        return at, self.out_pos

    def commit_done(self, done: Done, tries: int, worker: int) -> bool:
        """A mini-batch's result: its rows, then its line. Returns whether some items
        gave no result (run() returned fewer rows than items)."""
        items, elements = done.items, done.elements
        if elements >= items and not self.attempt:  # nearly every line: no LedgerLine made, no check
            at = self.out_pos
            if done.payload and self._out is not None:
                if done.header and not at:
                    self._out.write(done.header)
                    self.out_pos += len(done.header)
                self._out.write(done.payload)
                self.out_pos += len(done.payload)
            self._pending.append(encode_ok(done.mb, items, elements, tries, worker, round(done.seconds, 4), at,
                                           int(time.time() * 1000), self.out_pos))
            self.state[done.mb] = OK
            totals = self.totals
            totals.mini_batches.succeeded += 1
            totals.items.succeeded += items
            totals.rows_written += elements
            totals.retries += tries - 1
            return False  # flushed by the supervisor's loop, which calls maybe_flush once per message
        succeeded = min(elements, items)
        partial = items > succeeded
        at, out = self.append(done.payload, done.header)
        # Every field by position, in LedgerLine's order: keywords cost more than half the
        # line's making, once per mini-batch.
        self.commit(LedgerLine(
            done.mb, "ok", items, succeeded, items - succeeded, tries, out, done.elements, worker,
            round(done.seconds, 4), f"run() returned {succeeded} results for {items} items" if partial else None,
            done.failed_files if partial else None, False, self.attempt, at, int(time.time() * 1000)))
        return partial

    def commit_failed(self, mb: int, items: int | None, tries: int, worker: int, error: str) -> None:
        """A mini-batch out of tries. `items` None: never read (unreadable input, or the
        worker died first), an unknown number: at least one, so error_threshold still sees
        the failure. `secs` 0, an int: written as the drivers before LedgerLine wrote it."""
        at, out = self.append(b"")
        count = 1 if items is None else items
        self.commit(LedgerLine(mb, "failed", count, 0, count, tries, out, rows=0, worker=worker, secs=0, error=error,
                               items_unknown=items is None, gen=self.attempt, at=at, t=int(time.time() * 1000)))

    def commit(self, line: LedgerLine) -> None:
        """A mini-batch's line, after its rows (`append`), with this attempt's `gen`."""
        if line.error is not None and len(line.error) > MAX_ERROR_CHARS:
            line = line._replace(error=line.error[:MAX_ERROR_CHARS] + "\n[... cut]")
        self._pending.append(encode(line))
        self.state[line.mb] = OK if line.status == "ok" else FAILED
        self.totals.add(line)
        self.maybe_flush()

    def maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._out is not None and self._pending:
            self._out.flush()
            # On disk before the ledger lines that name them, even if the machine crashes.
            os.fsync(self._out.fileno())
        if self._pending:
            # Taken before writing: an interrupt mid-write must not write these lines twice.
            data, self._pending = memoryview(b"".join(self._pending)), []
            while data:  # a raw write may be partial
                data = data[self._ledger.write(data) or 0:]
        self._last_flush = time.monotonic()

    def output_problem(self) -> str | None:
        """Whether the output file holds other than what was committed to it, once the
        step ends (one lstat per step). The driver is its only writer, so another size
        means another writer: run() truncating or writing it, whose rows cannot be trusted."""
        if self.output_path is None:
            return None
        try:
            size: int | None = os.lstat(self.output_path).st_size
        except FileNotFoundError:
            size = None
        if size == self.out_pos:
            return None
        found = "is missing" if size is None else f"is {size} bytes"
        return (f"{self.output_path} {found}, but the ledger committed {self.out_pos} bytes of rows to it: something "
                "other than the driver changed it while the step ran (the entry script writing or truncating it?), "
                "so its rows cannot be trusted. Leave the output file to the runner (run() returns rows; "
                "append_row writes them) and apply the spec again for a new run")

    def close(self) -> None:
        try:
            self.flush()
        finally:  # the files are closed even when a write fails (a full disk)
            for handle in (self._out, self._ledger):
                if handle is not None and not handle.closed:
                    try:
                        handle.flush()
                        os.fsync(handle.fileno())
                    finally:
                        handle.close()


def _no_linked_folders(output: Path) -> None:
    """The output's folder and the one above it (outputs/<output>/, or staging/<output>/)
    must be folders of the run's, not links out of it: rows would be written wherever a
    planted link points (two lstats per step; the file itself is opened with no_links)."""
    for folder in (output.parent, output.parent.parent):
        if folder.is_symlink():
            raise DamagedFolder(folder, f"is a link (to {os.readlink(folder)}), expected a folder; nothing was "
                                        "written through it: remove the link")


def _chain_problem(line: LedgerLine, out_end: int) -> str | None:
    """Whether a line follows the one before it: `out` never decreases, and a line with
    `at` starts its rows where the line before ended them (0 for the first)."""
    if line.at is not None and line.at != out_end:
        if not out_end:
            return (f'its rows start at byte {line.at} of the output ("at"), not 0: a line before it is missing '
                    "(deleted?)")
        return (f'its rows start at byte {line.at} of the output ("at"), but the line before ends its rows at '
                f"{out_end}: " + ("a line between them is missing (deleted?)" if line.at > out_end
                                  else "a line is repeated or edited"))
    if line.out < out_end:
        return f'its rows end at byte {line.out} of the output ("out"), before the line before\'s end ({out_end})'
    return None
