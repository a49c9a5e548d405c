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
decreases. Recovery checks that chain and every line's keys: a line deleted from the
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

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from runner.runs.records import RecordError

FLUSH_SECONDS = 0.2
MAX_ERROR_CHARS = 8000
OK, FAILED = 1, 2


@dataclass
class Totals:
    """What the ledger holds so far (carried across a resume, so thresholds continue)."""

    mini_batches_ok: int = 0
    mini_batches_failed: int = 0
    items_ok: int = 0
    items_failed: int = 0
    rows_out: int = 0
    retries: int = 0
    first_errors: list[str] = field(default_factory=list)
    first_error_mbs: list[int] = field(default_factory=list)  # whose errors first_errors holds

    def add(self, record: dict[str, Any]) -> None:
        if record["status"] == "ok":
            self.mini_batches_ok += 1
        else:
            self.mini_batches_failed += 1
            if len(self.first_errors) < 3 and record.get("error"):
                self.first_errors.append(record["error"])
                self.first_error_mbs.append(record["mb"])
        self.items_ok += record["ok"]
        self.items_failed += record["failed"]
        self.rows_out += record.get("rows", 0)
        self.retries += max(0, record["tries"] - 1)

    def remove(self, record: dict[str, Any]) -> None:
        """Take back a failed line that a retry runs again (it has no rows)."""
        self.mini_batches_failed -= 1
        self.items_ok -= record["ok"]
        self.items_failed -= record["failed"]
        self.retries -= max(0, record["tries"] - 1)
        if record["mb"] in self.first_error_mbs:
            index = self.first_error_mbs.index(record["mb"])
            del self.first_errors[index], self.first_error_mbs[index]


class Ledger:
    def __init__(self, path: str, output: str | None, total: int, attempt: int = 0) -> None:
        """`attempt`: the step's attempt that runs now (0: the run itself, n: its n-th
        `runner retry`); mini-batches that failed in an earlier attempt run again."""
        self.path = path
        self.output_path = output
        self.attempt = attempt
        self.state = bytearray(total)  # per mini-batch: 0 to do, OK, FAILED
        self.totals = Totals()
        self.recovered = 0
        # Failed mini-batches: the attempt of their line and the line's counts (a retry
        # replaces them). Only failures are kept, without their error text.
        self._failed: dict[int, tuple[int, dict[str, Any]]] = {}
        out_end = self._recover(os.path.getsize(output) if output and os.path.exists(output) else 0)
        self.reopened = self._reopen()
        self._failed = {}
        self._ledger: IO[bytes] = open(path, "ab", buffering=0)
        self._pending: list[bytes] = []  # ledger lines whose rows may still be in the output buffer
        self._out: IO[bytes] | None = None
        if output is not None:
            os.makedirs(os.path.dirname(output), exist_ok=True)
            self._out = open(output, "ab")
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
        with open(self.path, "rb") as handle:
            line = handle.readline()
            while line:
                number += 1
                following = handle.readline()
                record = _parse(line)
                if record is None:
                    if following:
                        raise self._damaged(number, "it is not a ledger line (not a JSON object)")
                    break  # a torn last line: its mini-batch runs again
                problem = _problem(record, len(self.state)) or _chain_problem(record, out_end)
                if problem:
                    raise self._damaged(number, problem)
                if record["out"] > out_size:
                    break  # its rows are not all on disk: it and what follows run again
                problem = self._attempt_problem(record)
                if problem:
                    raise self._damaged(number, problem)
                if self.state[record["mb"]] and not self._replaces(record):
                    if "at" in record:  # this runner never commits a mini-batch twice
                        raise self._damaged(number, f"mini-batch {record['mb']} was committed by an earlier line")
                    out_end, good, line = record["out"], good + len(line), following
                    continue  # written twice by an older driver: count it once
                self._count(record)
                out_end, good, line = record["out"], good + len(line), following
                self.recovered += 1
        with open(self.path, "r+b") as handle:
            handle.truncate(good)
        return out_end

    def _attempt_problem(self, record: dict[str, Any]) -> str | None:
        gen = record.get("gen", 0)
        if gen > self.attempt:
            return (f"it was written by retry {gen} of the step, but its step.json counts "
                    f"{self.attempt} retries")
        if self.state[record["mb"]] == OK and gen and "at" in record:
            return f"mini-batch {record['mb']} succeeded in an earlier attempt, and a retry never runs it again"
        return None

    def _replaces(self, record: dict[str, Any]) -> bool:
        """Whether a line is a retry's of a mini-batch that failed in an earlier attempt:
        then the failure is taken back, and the line counts in its place."""
        earlier = self._failed.get(record["mb"])
        if earlier is None or earlier[0] >= record.get("gen", 0):
            return False
        self.totals.remove(earlier[1])
        self.recovered -= 1
        return True

    def _count(self, record: dict[str, Any]) -> None:
        mb = record["mb"]
        if record["status"] == "ok":
            self.state[mb] = OK
            self._failed.pop(mb, None)
        else:
            self.state[mb] = FAILED
            self._failed[mb] = (record.get("gen", 0), {key: record[key] for key in ("mb", "ok", "failed", "tries")})
        self.totals.add(record)

    def _reopen(self) -> int:
        """The mini-batches this attempt runs again: those that failed in an earlier one."""
        reopened = 0
        for mb, (gen, counts) in self._failed.items():
            if gen < self.attempt:
                self.state[mb] = 0
                self.totals.remove(counts)
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

    def commit(self, record: dict[str, Any], rows: bytes = b"", header: bytes | None = None) -> None:
        at = self.out_pos
        if rows and self._out is not None:
            if header and self.out_pos == 0:
                self._out.write(header)
                self.out_pos += len(header)
            self._out.write(rows)
            self.out_pos += len(rows)
        if record.get("error") and len(record["error"]) > MAX_ERROR_CHARS:
            record["error"] = record["error"][:MAX_ERROR_CHARS] + "\n[... cut]"
        if self.attempt:
            record["gen"] = self.attempt
        record["at"], record["out"] = at, self.out_pos
        self._pending.append(_line(record))
        self.state[record["mb"]] = OK if record["status"] == "ok" else FAILED
        self.totals.add(record)
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


_PLAIN = ("mb", "status", "items", "ok", "failed", "rows", "tries", "worker", "secs", "at", "out")


def _line(record: dict[str, Any]) -> bytes:
    """A ledger line. The common record (numbers and an "ok") is written by hand: json.dumps
    per mini-batch was a tenth of the driver's time with tiny mini-batches."""
    if record["status"] == "ok" and tuple(record) == _PLAIN:
        return (f'{{"mb":{record["mb"]},"status":"ok","items":{record["items"]},"ok":{record["ok"]},'
                f'"failed":{record["failed"]},"rows":{record["rows"]},"tries":{record["tries"]},'
                f'"worker":{record["worker"]},"secs":{float(record["secs"])!r},"at":{record["at"]},'
                f'"out":{record["out"]}}}\n').encode()
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def _parse(line: bytes) -> Any:
    """A complete line's JSON value; None for a torn line or one that is not JSON."""
    if not line.endswith(b"\n"):
        return None
    try:
        return json.loads(line)
    except ValueError:
        return None


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0  # not a bool, not a float


_REQUIRED = ("mb", "status", "items", "ok", "failed", "tries", "out")
_REQUIRED_SET = frozenset(_REQUIRED)
_COUNTS = ("items", "ok", "failed", "tries", "out", "at", "rows", "worker", "gen")


def _problem(record: Any, total: int | None) -> str | None:
    """What is wrong with a parsed line, if anything (`total`: the step's mini-batches)."""
    if not isinstance(record, dict):
        return "it is not a ledger line (not a JSON object)"
    missing = [key for key in _REQUIRED if key not in record]
    if missing:
        return f"it has no {', '.join(repr(k) for k in missing)}"
    mb = record["mb"]
    if not _count(mb) or total is not None and mb >= total:
        return (f'"mb" is {json.dumps(mb)}, not a mini-batch of this step'
                + (f" (0 to {total - 1})" if total else ""))
    if record["status"] not in ("ok", "failed"):
        return f'"status" is {json.dumps(record["status"])}, not "ok" or "failed"'
    for key in _COUNTS:
        if key in record and not _count(record[key]):
            return f'"{key}" is {json.dumps(record[key])}, not a count'
    if "secs" in record and (type(record["secs"]) not in (int, float)):
        return f'"secs" is {json.dumps(record["secs"])}, not a number'
    if "error" in record and not isinstance(record["error"], str):
        return f'"error" is {json.dumps(record["error"])}, not text'
    return None


def _readable(record: Any) -> bool:
    """The keys reports and status read, of the types they need: _problem's cheap part
    (read_records runs over every line at each step's end)."""
    return (type(record) is dict and _REQUIRED_SET <= record.keys() and type(record["mb"]) is type(record["items"])
            is type(record["ok"]) is type(record["failed"]) is type(record["tries"]) is type(record["out"]) is int
            and isinstance(record.get("error", ""), str))


def _chain_problem(record: dict[str, Any], out_end: int) -> str | None:
    """Whether a line follows the one before it: `out` never decreases, and a line with
    `at` starts its rows where the line before ended them (0 for the first)."""
    at, out = record.get("at"), record["out"]
    if at is not None and at != out_end:
        if not out_end:
            return f'its rows start at byte {at} of the output ("at"), not 0: a line before it is missing (deleted?)'
        return (f'its rows start at byte {at} of the output ("at"), but the line before ends its rows at {out_end}: '
                + ("a line between them is missing (deleted?)" if at > out_end else "a line is repeated or edited"))
    if out < out_end:
        return f'its rows end at byte {out} of the output ("out"), before the line before\'s end ({out_end})'
    return None


def read_records(path: str) -> Iterator[dict[str, Any]]:
    """The complete lines of a ledger (for reports and status). A torn last line, and
    anything from a damaged line on, is left out: resuming says what is wrong."""
    if not os.path.exists(path):
        return
    with open(path, "rb") as handle:
        for line in handle:  # _parse inlined: this runs once per mini-batch at each step's end
            if not line.endswith(b"\n"):
                return
            try:
                record = json.loads(line)
            except ValueError:
                return
            if not _readable(record):
                return
            yield record


def current_records(path: str, retried: bool = True) -> Iterator[dict[str, Any]]:
    """Each mini-batch's current line: a retry's line in place of the earlier failure it
    replaces (for reports and status). `retried`: whether the step was ever retried
    (step.json knows); if not, every line is current and the ledger is read once."""
    latest: dict[int, int] = {}
    if retried and os.path.exists(path):
        with open(path, "rb") as handle:
            for line in handle:
                if b'"gen":' in line:  # a retry's line: few of them, parsed
                    record = _parse(line)
                    if type(record) is dict and type(record.get("mb")) is int and type(record["gen"]) is int:
                        latest[record["mb"]] = max(latest.get(record["mb"], 0), record["gen"])
    for record in read_records(path):
        if latest and latest.get(record["mb"], 0) != record.get("gen", 0):
            continue  # replaced by a later attempt's line
        yield record
