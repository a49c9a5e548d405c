"""Item reuse for incremental steps (`incremental: true`): which input items an earlier
run's rows stand for, and which must run.

An earlier run is reusable when its step succeeded with the same incremental
fingerprint (definition, code snapshot, models: everything but the input listing,
runner/local/reuse/fingerprint.py). Its `minibatches.jsonl` names each item with its
identity (a file dataset's `sig`: [size, mtime_ns] or [size, digest]; a table's
[size, mtime_ns, inode]) and its ledger says which rows each mini-batch wrote, at which
bytes of its output. An item is keyed by its input's index and its path under the
input's folder (an upstream step's output lives in a new folder each run).

Which rows are an item's: a mini-batch that succeeded with one row per item and no
failure (ParallelRunStep's convention), in a line-based output (text, or CSV whose rows
are one line each), maps its rows to its items in order, so each unchanged item keeps
its own line. Otherwise the mini-batch is the unit: reused only when every item of it
is present and unchanged. Failed items always run again. Tables: a file whose size and
modification time are unchanged keeps every mini-batch that succeeded whole; its
others run again over the same byte ranges or row groups.

A file dataset's items are matched in one pass beside the listing, holding nothing per
item (runner/local/reuse/files.py); tables (far fewer) by a dict of the earlier files.

The decision is made where the step is partitioned (the engine writes it into
`minibatches.jsonl` as `reuse` descriptors: runner/local/reuse/commit.py copies their
rows) and again, counting only, by `runner plan` (runner/local/reuse/explain.py).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from runner.local.output.ledger_line import LedgerLine, current_lines
from runner.local.partition.descriptors import ByteRange, Descriptor, FilesBatch, RowGroups, decode
from runner.local.partition.sources import Known, listing_root
from runner.local.reuse.earlier import Batches, IncrementalError, relative
from runner.local.reuse.files import FileMatch
from runner.plan.plan import StepPlan
from runner.runs.folder import RunFolder, no_links
from runner.runs.records import ItemReuse, RecordError, StepRecord


NO_EARLIER = "none of this step with the same code, model and definition"


def earlier_run(runs: list[RunFolder], step: str, incremental: str, exclude: str) -> RunFolder | None:
    """The newest other run whose `step` succeeded with this incremental fingerprint."""
    for run in reversed(runs):
        if run.id == exclude or not (run.path / step).is_dir():
            continue
        try:
            record = run.step(step).read()
        except RecordError:
            continue  # another version's run, or damaged: never reused
        # A retry with --update-code made some rows with other code than the fingerprint's.
        if record.incremental == incremental and record.status == "succeeded" and \
                not any(retry.code for retry in record.retried) and os.path.exists(run.step(step).ledger):
            return run
    return None


def item_key(index: int, path: str, root: str) -> str:
    return f"{index}\0{relative(path, root)}"


@dataclass(slots=True)
class _Batch:
    """One earlier mini-batch: its line's counts and where its rows are."""

    start: int  # its rows' first byte (after a CSV header the line wrote)
    end: int
    items: int
    rows: int
    ok: bool  # succeeded with no failed item


@dataclass(slots=True)
class _Table:
    """One earlier table: its identity as the last of its descriptors has it, its
    mini-batches, and what a grown file's check needs (a CSV or JSON Lines file cut at
    record boundaries: its format, header span and content digest)."""

    sig: list[Any]
    mbs: list[int]
    fmt: str = ""
    head: list[int] | None = None
    digest: str | None = None


@dataclass
class EarlierIndex:
    """What an earlier run's step holds, by item key."""

    run: RunFolder
    step: str
    output: str  # the earlier run's output file (Parquet: its staged frames)
    header: int  # a CSV output's header length (0: none)
    batches: dict[int, _Batch]
    roots: list[str]  # the folders its inputs were listed under
    files: FileMatch | None = None  # a file dataset's: nothing held per item
    tables: dict[str, _Table] = field(default_factory=dict)


def load_index(run: RunFolder, job: StepPlan, output: str) -> EarlierIndex:
    """The earlier run's step, read from its descriptors and its ledger's current lines."""
    folder = run.step(job.name)
    record: StepRecord = folder.read()
    header = _csv_header(output) if job.row_format == "csv" else 0
    roots = _roots(run, job)
    index = EarlierIndex(run, job.name, output, header, {}, roots)
    if job.kind == "file":  # matched in one pass, not held: runner/local/reuse/files.py
        now = [os.path.abspath(listing_root(item.location)) for item in job.inputs]
        index.files = FileMatch(run.id, str(folder.minibatches), Batches(
            folder, record.mini_batches or 0, bool(record.retried), job.row_format in ("text", "csv"), header),
            roots, now, output, header, ItemReuse(run.id),
            # A run that reused no item wrote its mini-batches as it listed them: in order.
            ordered=record.item_reuse is None or record.item_reuse.run is None)
        return index
    lines: dict[int, LedgerLine] = {line.mb: line for line in current_lines(folder.ledger, bool(record.retried))}
    with open(folder.minibatches, "rb", opener=no_links) as handle:
        for raw in handle:
            descriptor = decode(raw)
            line = lines.get(descriptor.id)
            if line is None or line.at is None:
                continue  # never committed (or by a runner before `at`): its items run
            batch = _batch(line, job, header)
            index.batches[descriptor.id] = batch
            _index_items(index, descriptor, batch, roots)
    return index


def _batch(line: LedgerLine, job: StepPlan, header: int) -> _Batch:
    assert line.at is not None
    start = line.at + header if header and line.at == 0 and line.out > 0 else line.at
    ok = line.status == "ok" and line.failed == 0 and not line.items_unknown
    return _Batch(start, line.out, line.items, line.rows, ok)


def _index_items(index: EarlierIndex, descriptor: Descriptor, batch: _Batch, roots: list[str]) -> None:
    if isinstance(descriptor, (ByteRange, RowGroups)) and descriptor.sig is not None:
        if descriptor.input >= len(roots):
            return
        key = item_key(descriptor.input, descriptor.path, roots[descriptor.input])
        table = index.tables.setdefault(key, _Table(descriptor.sig[:2], []))
        table.mbs.append(descriptor.id)
        table.sig = descriptor.sig[:2]  # the last descriptor's: a grown file's new ranges come last
        growable = isinstance(descriptor, ByteRange) and descriptor.fmt in ("csv", "jsonl") and descriptor.exact \
            and descriptor.rows is not None
        table.fmt, table.head = (descriptor.fmt, descriptor.head) if isinstance(descriptor, ByteRange) else ("", None)
        table.digest = descriptor.digest if growable and isinstance(descriptor, ByteRange) else None


def _roots(run: RunFolder, job: StepPlan) -> list[str]:
    """The folders the earlier run listed its inputs under (its job.json's)."""
    earlier = run.job().step(job.name)
    if earlier is None:
        raise IncrementalError(f"run {run.id} has no step {job.name} in its job record: the run folder is damaged")
    return [os.path.abspath(listing_root(item.location)) for item in earlier.inputs]


def _csv_header(output: str) -> int:
    """The header's length: the output's first record (a column name holding a line break
    is quoted, so the record ends at the first line break with its quotes closed)."""
    length, quotes = 0, 0
    try:
        with open(output, "rb", opener=no_links) as handle:
            for line in iter(lambda: handle.readline(1 << 20), b""):
                length += len(line)
                quotes += line.count(b'"')
                if quotes % 2 == 0 and line.endswith(b"\n"):
                    return length
    except FileNotFoundError:
        return 0
    return 0


@dataclass
class Matching:
    """The items of the input as they are now against an earlier run's."""

    index: EarlierIndex
    reuse: ItemReuse
    found: int = 0  # earlier tables listed again (a listing names each once: no set of them is kept)
    tables: dict[str, list[int]] = field(default_factory=dict)  # reused table key -> its sig now

    def __post_init__(self) -> None:
        if self.index.files is not None:
            self.index.files.reuse = self.reuse

    def table(self, key: str, path: str, st: os.stat_result) -> Known | None:
        """Whether a table keeps its earlier rows (those of its mini-batches that
        succeeded): all of them (Known's start is its size), those before the rows
        appended since (a CSV or JSON Lines file that only grew), or none (None)."""
        found = self.index.tables.get(key)
        if found is None:
            self.reuse.new += 1
            return None
        self.found += 1
        if found.sig == [st.st_size, st.st_mtime_ns]:
            self.tables[key] = [st.st_size, st.st_mtime_ns, st.st_ino]
            self.reuse.reused += 1
            return Known(st.st_size)
        if found.digest is not None and st.st_size > found.sig[0] and _starts_with(path, found.sig[0], found.digest):
            self.tables[key] = [st.st_size, st.st_mtime_ns, st.st_ino]
            self.reuse.grown += 1
            return Known(found.sig[0], found.fmt, found.head)
        self.reuse.changed += 1
        return None

    def finish(self) -> None:
        """Count the tables gone (a file dataset's items are counted as they pass)."""
        if self.index.files is None:
            self.reuse.gone = len(self.index.tables) - self.found


def _starts_with(path: str, size: int, digest: str) -> bool:
    """Whether the file's first `size` bytes are those an earlier run cut (their SHA-256
    is `digest`) and end a record (a line): then its ranges still name the same rows."""
    sha = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            left = size
            last = b""
            while left:
                chunk = handle.read(min(left, 1 << 20))
                if not chunk:
                    return False
                sha.update(chunk)
                left -= len(chunk)
                last = chunk[-1:]
    except OSError:
        return False
    return last == b"\n" and sha.hexdigest() == digest


def reused_descriptors(matching: Matching, first_id: int) -> Iterator[Descriptor]:
    """The `reuse` descriptors of a matching, numbered from `first_id`, in the earlier
    run's order; then the descriptors of the earlier mini-batches of reused tables that
    did not succeed (they run again, over the same rows)."""
    index = matching.index
    rerun: list[Descriptor] = []
    number = first_id
    with open(index.run.step(index.step).minibatches, "rb", opener=no_links) as handle:
        for raw in handle:
            descriptor = decode(raw)
            batch = index.batches.get(descriptor.id)
            if isinstance(descriptor, (ByteRange, RowGroups)):
                sig = matching.tables.get(item_key(descriptor.input, descriptor.path, index.roots[descriptor.input]))
                if sig is None:
                    continue
                descriptor.sig = sig
                if batch is not None and batch.ok:
                    descriptor.reuse = _reuse(index, batch, None)
                    descriptor.id = number
                    number += 1
                    yield descriptor
                else:
                    rerun.append(descriptor)
    for descriptor in rerun:
        descriptor.id = number
        number += 1
        yield descriptor


def _reuse(index: EarlierIndex, batch: _Batch, picked: list[int] | None) -> dict[str, Any]:
    """A descriptor's `reuse`: where its rows are, which of them (all unless `picked`),
    their counts, and a CSV output's header (written before them when they come first)."""
    reuse: dict[str, Any] = {"run": index.run.id, "range": [batch.start, batch.end],
                             "items": batch.items if picked is None else len(picked),
                             "rows": batch.rows if picked is None else len(picked)}
    if picked is not None:
        reuse["pick"] = picked
    if index.header:
        reuse["head"] = index.header
    return reuse
