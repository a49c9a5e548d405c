"""Committing an incremental step's `reuse` descriptors: each one's rows are copied from
the earlier run's output into this run's, then an ordinary ledger line is appended
(its items, ok and rows as the earlier run counted them; no worker, no tries), in
the ledger's usual order: rows first, then the line. So a reused mini-batch is
committed exactly once like any other: a driver killed while copying resumes after
the last line on disk, the next incremental run attributes these rows as it would a
worker's, and status, results and reports read them as they read any line.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any

from runner.local.output.ledger import Ledger
from runner.local.output.ledger_line import LedgerLine
from runner.local.output.reports import staged_output
from runner.local.partition.descriptors import DescriptorError, Partition, decode, task_fields
from runner.local.reuse.earlier import BUFFER, IncrementalError
from runner.plan.plan import StepPlan
from runner.runs.folder import RunFolder, StepFolder, no_links

_FIELD = json.JSONDecoder()


def commit_reused(folder: StepFolder, ledger: Ledger, runs_root: Path, job: StepPlan) -> int:
    """Copy every reuse descriptor's rows not yet committed; returns how many were."""
    sources: dict[str, _Source] = {}
    pending = _Pending(ledger)
    path = folder.minibatches
    try:
        with open(path, "rb", buffering=BUFFER, opener=no_links) as handle:
            for number, raw in enumerate(handle, 1):
                at = raw.rfind(b',"reuse":{')  # after the names: nearer the end
                if at < 0:
                    continue
                mb, reuse = _reuse_field(raw, at, path, number)
                if reuse is None or ledger.done(mb):
                    continue
                pending.add(sources.get(reuse["run"]) or _open_source(runs_root, reuse["run"], job, sources), mb,
                            reuse)
        pending.commit()
        ledger.flush()
    finally:
        for source in sources.values():
            source.close()
    return pending.committed


class _Pending:
    """Reused mini-batches whose rows lie one after another in one earlier output, each
    whole: their rows are copied in one read and one write, then each gets its own
    ledger line (rows before lines, as always). A mini-batch of picked rows, or one
    whose CSV header comes first, is copied alone."""

    LIMIT = 4 << 20  # bytes of rows held at most

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.source: _Source | None = None
        self.lines: list[tuple[int, dict[str, Any]]] = []
        self.start = self.end = 0
        self.committed = 0

    def add(self, source: _Source, mb: int, reuse: dict[str, Any]) -> None:
        start, end = int(reuse["range"][0]), int(reuse["range"][1])
        if "pick" in reuse or reuse.get("head") and self.ledger.out_pos == 0 and not self.lines:
            self.commit()
            rows, header = _rows(source, reuse)
            at, out = self.ledger.append(rows, header)
            self._line(mb, reuse, at, out)
            return
        if self.lines and (source is not self.source or start != self.end or end - self.start > self.LIMIT):
            self.commit()
        if not self.lines:
            self.source, self.start = source, start
        self.lines.append((mb, reuse))
        self.end = end

    def commit(self) -> None:
        if self.source is None or not self.lines:
            return
        at, _ = self.ledger.append(self.source.read(self.start, self.end))
        for mb, reuse in self.lines:
            start, end = int(reuse["range"][0]), int(reuse["range"][1])
            self._line(mb, reuse, at + start - self.start, at + end - self.start)
        self.lines = []

    def _line(self, mb: int, reuse: dict[str, Any], at: int, out: int) -> None:
        self.ledger.commit(LedgerLine(mb, "ok", reuse["items"], reuse["items"], 0, 0, out, reuse["rows"], None, 0.0,
                                      gen=self.ledger.attempt, at=at, t=int(time.time() * 1000)))
        self.committed += 1


def _reuse_field(raw: bytes, at: int, path: Path, number: int) -> tuple[int, dict[str, Any] | None]:
    """A line's id and `reuse` field (None: it has none). A file mini-batch's line is not
    decoded whole (its names and identities are most of it): the field is decoded where
    it starts (a `,"reuse":{` outside a JSON string is the key: inside one a quote is
    escaped), the id read from the line's end. Any other line is decoded."""
    if raw.startswith(b'{"in":') and raw.find(b',"files":', 6, 32) > 0:
        try:
            reuse, _ = _FIELD.raw_decode(raw[at + 9:].decode("utf-8", "surrogateescape"))
            mb, _ = task_fields(raw, "file")
            if isinstance(reuse, dict):
                return mb, reuse
        except ValueError:  # DescriptorError too: decoded whole below, to say what is wrong
            pass
    try:
        descriptor = decode(raw)
    except DescriptorError as exc:
        raise IncrementalError(f"{path} line {number}: {exc}; the run folder is damaged. Apply the spec again for "
                               "a new run") from exc
    return descriptor.id, None if isinstance(descriptor, Partition) else descriptor.reuse


class _Source:
    """An earlier run's output, read a window at a time: the rows reused come nearly in
    the order they were written (listing order; workers finishing side by side swap
    neighbours), so most ranges are in the window the one before read (one read of a
    megabyte, not a seek and a read per mini-batch)."""

    WINDOW = 1 << 20
    BEHIND = 1 << 16  # kept before a range read: a neighbour written just before it

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.at = 0
        self.data = b""
        self._header: dict[int, bytes] = {}

    def read(self, start: int, end: int) -> bytes:
        if end < start:
            raise IncrementalError(f"rows reused from {self.handle.name} end (byte {end}) before they start "
                                   f"({start}): the run folder is damaged. `runner apply --no-reuse` runs every item")
        if not self.at <= start <= end <= self.at + len(self.data):
            self.at = max(0, start - self.BEHIND)
            self.handle.seek(self.at)
            self.data = self.handle.read(max(end - self.at, self.WINDOW))
            if end > self.at + len(self.data):
                raise IncrementalError(
                    f"{self.handle.name} is {os.fstat(self.handle.fileno()).st_size} bytes, but the rows reused "
                    f"from it end at byte {end}: the earlier run's output was changed. "
                    "`runner apply --no-reuse` runs every item")
        return self.data[start - self.at:end - self.at]

    def header(self, length: int) -> bytes:
        if length not in self._header:
            self.handle.seek(0)
            self._header[length] = self.handle.read(length)
        return self._header[length]

    def close(self) -> None:
        self.handle.close()


def _open_source(runs_root: Path, run_id: str, job: StepPlan, sources: dict[str, _Source]) -> _Source:
    earlier = RunFolder(runs_root / run_id)
    final = earlier.output_file(job)
    path = staged_output(str(final), job.row_format) if final is not None else None
    try:
        if path is None:
            raise FileNotFoundError(run_id)
        sources[run_id] = _Source(open(path, "rb", opener=no_links))  # noqa: SIM115 - closed by commit_reused
    except OSError as exc:
        raise IncrementalError(f"step {job.name} reuses rows of run {run_id}, but its output {path or run_id} "
                               f"cannot be read ({exc.strerror or exc}): was the run removed? "
                               "`runner apply --no-reuse` runs every item") from exc
    return sources[run_id]


def _rows(source: _Source, reuse: dict[str, Any]) -> tuple[bytes, bytes | None]:
    """The reused rows (only the picked ones), and the CSV header to write before them
    when they are the output's first."""
    data = source.read(int(reuse["range"][0]), int(reuse["range"][1]))
    pick = reuse.get("pick")
    if isinstance(pick, list):
        lines = data.split(b"\n")  # one row a line (items.py checked a CSV's): the last piece is empty
        data = b"".join([lines[i] + b"\n" for i in pick])
    head = reuse.get("head")
    return data, source.header(head) if isinstance(head, int) and head else None
