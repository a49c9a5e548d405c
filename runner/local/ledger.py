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
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

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

    def add(self, record: dict[str, Any]) -> None:
        if record["status"] == "ok":
            self.mini_batches_ok += 1
        else:
            self.mini_batches_failed += 1
            if len(self.first_errors) < 3 and record.get("error"):
                self.first_errors.append(record["error"])
        self.items_ok += record["ok"]
        self.items_failed += record["failed"]
        self.rows_out += record.get("rows", 0)
        self.retries += max(0, record["tries"] - 1)


class Ledger:
    def __init__(self, path: str, output: str | None, total: int) -> None:
        self.path = path
        self.output_path = output
        self.state = bytearray(total)  # per mini-batch: 0 to do, OK, FAILED
        self.totals = Totals()
        self.recovered = 0
        out_end = self._recover(os.path.getsize(output) if output and os.path.exists(output) else 0)
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
        mini-batches run again. Returns the output offset of the last commit kept."""
        if not os.path.exists(self.path):
            return 0
        out_end, good = 0, 0
        with open(self.path, "rb") as handle:
            for line in handle:
                try:
                    record = json.loads(line) if line.endswith(b"\n") else None
                except ValueError:
                    record = None
                if record is None or record["out"] > out_size:
                    break
                good += len(line)
                if self.state[record["mb"]]:
                    continue  # written twice by an older driver: count it once
                self.state[record["mb"]] = OK if record["status"] == "ok" else FAILED
                self.totals.add(record)
                out_end = record["out"]
                self.recovered += 1
        with open(self.path, "r+b") as handle:
            handle.truncate(good)
        return out_end

    def done(self, mb: int) -> bool:
        return self.state[mb] != 0

    def commit(self, record: dict[str, Any], rows: bytes = b"", header: bytes | None = None) -> None:
        if rows and self._out is not None:
            if header and self.out_pos == 0:
                self._out.write(header)
                self.out_pos += len(header)
            self._out.write(rows)
            self.out_pos += len(rows)
        if record.get("error") and len(record["error"]) > MAX_ERROR_CHARS:
            record["error"] = record["error"][:MAX_ERROR_CHARS] + "\n[... cut]"
        record["out"] = self.out_pos
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


_PLAIN = ("mb", "status", "items", "ok", "failed", "rows", "tries", "worker", "secs", "out")


def _line(record: dict[str, Any]) -> bytes:
    """A ledger line. The common record (numbers and an "ok") is written by hand: json.dumps
    per mini-batch was a tenth of the driver's time with tiny mini-batches."""
    if record["status"] == "ok" and tuple(record) == _PLAIN:
        return (f'{{"mb":{record["mb"]},"status":"ok","items":{record["items"]},"ok":{record["ok"]},'
                f'"failed":{record["failed"]},"rows":{record["rows"]},"tries":{record["tries"]},'
                f'"worker":{record["worker"]},"secs":{float(record["secs"])!r},"out":{record["out"]}}}\n').encode()
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def read_records(path: str) -> Iterator[dict[str, Any]]:
    """The complete lines of a ledger (for reports; a torn last line is skipped)."""
    if not os.path.exists(path):
        return
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                return
            try:
                yield json.loads(line)
            except ValueError:
                return
