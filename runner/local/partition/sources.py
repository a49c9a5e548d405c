"""Inputs, listed and cut into mini-batch descriptors, streaming.

The driver never holds the data, nor the whole listing: files are walked in a
deterministic order (sorted within each folder), cut into descriptors as they come, and
each descriptor is written to the step's `minibatches.jsonl` at once. Workers read the
data a descriptor names; the driver only moves descriptors and results. The descriptors
and their line format: runner/local/partition/descriptors.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from runner.local.partition.descriptors import (ByteRange, Descriptor, FilesBatch, Partition, RowGroups, files_of,
                                      from_fields)
from runner.inputs.listing import InputError, compression_of, glob_root, is_glob, stat_files, table_format
from runner.inputs.remote import StoreError, is_store, open_input
from runner.inputs.remote import identity as remote_identity
from runner.local.partition.identity import identity, identity_of, item_identity, of_stat, shown
from runner.local.partition.rowscan import Cut, cut_file
from runner.plan.references import MLTABLE, InputPlan
from runner.spec.partitions import partition_regex, placeholders



def input_files(spec: InputPlan, skipped: list[str] | None = None) -> Iterator[tuple[str, os.stat_result]]:
    """The files of one input as the engine reads them, with their stat."""
    if spec.kind != "tabular":
        yield from stat_files(spec.location, skipped)
        return
    for path, st in stat_files(spec.location, skipped):
        if os.path.basename(path) != MLTABLE:  # Azure's description of the folder's tables (v2), not a table
            yield path, st


def listing_line(path: str, st: os.stat_result) -> bytes:
    """One file in a listing digest; a name that is not UTF-8 keeps its bytes."""
    return _listing_text(path, st).encode("utf-8", "surrogateescape")


def _listing_text(path: str, st: os.stat_result) -> str:
    if not path.startswith("/"):  # an object's URI: its etag (in st_ino) changes with its content
        return f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n"
    return f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n"


LISTING_CHUNK = 4096  # files whose listing lines are hashed in one update


def manifest_line(spec: InputPlan) -> bytes:
    """A manifest input in the files digest: the manifest file itself."""
    try:
        return listing_line(os.path.abspath(spec.location), os.stat(spec.location))
    except OSError:
        return b"missing " + spec.location.encode("utf-8", "surrogateescape")


# --- cutting into mini-batches --------------------------------------------------------

class Known(NamedTuple):
    """What an earlier run read of a table (incremental steps): its rows up to `start`
    (the file's size: all of them), cut as `fmt` with the header at `head`."""

    start: int
    fmt: str = ""
    head: list[int] | None = None


class Partitioner:
    """Streams one step's inputs into descriptors; keeps counts and a fingerprint of
    what it listed (paths, sizes, modification times) for allow_reuse."""

    def __init__(self, mini_batch_size: int, partition_keys: list[str] | None,
                 hashed: set[int] | None = None, identities: bool | str = False,
                 reused: Callable[[int, str, os.stat_result], Known | None] | None = None) -> None:
        self.size = mini_batch_size
        # Incremental steps: a file dataset's descriptors carry each file's identity
        # (True: size and mtime; "digest": size and content), and `reused` says which
        # tables an earlier run's rows stand for, so they are not cut again
        # (runner/local/reuse/items.py).
        self.identities = identities
        self.reused = reused
        self.reused_files = 0
        # Inputs whose listing goes into the fingerprint (another step's output is
        # covered by that step's fingerprint instead).
        self.hashed = hashed
        self._hash = True
        self.keys = partition_keys
        self.count = 0  # descriptors
        self.items = 0  # files (file datasets); for tables, rows when every range was counted
        self.rows_known = True  # a Parquet file, a partition or an uncut file leaves the total unknown
        self.files = 0
        self.skipped: list[str] = []  # not regular files: never read
        self.digest = hashlib.sha256()
        # The files alone (what `runner plan` can list again cheaply), for StepRecord.parts.
        self.files_digest = hashlib.sha256()

    def descriptors(self, inputs: list[InputPlan]) -> Iterator[Descriptor]:
        """Every input's descriptors in order, numbered from 0 across inputs."""
        for index, spec in enumerate(inputs):
            self._hash = self.hashed is None or index in self.hashed
            if spec.manifest:
                self.rows_known = self.rows_known and spec.kind == "file"
                produced = self._from_manifest(index, spec)
                self.files_digest.update(manifest_line(spec) if self._hash else b"")
            elif self.keys:
                produced = self._partitioned(index, spec)
            elif spec.kind == "file":
                produced = self._file_batches(index, spec)
            else:
                produced = self._tabular_batches(index, spec)
            before, reused = self.count, self.reused_files
            yield from produced
            if self.count == before and self.reused_files == reused:
                raise InputError(f"input {spec.reference} ({spec.location}) has no files")

    def _next_id(self) -> int:
        """Ids count from 0 across inputs, in the order descriptors are made (each is
        yielded as soon as it is made)."""
        self.count += 1
        return self.count - 1

    def _listed(self, spec: InputPlan) -> Iterator[tuple[str, os.stat_result]]:
        """The files of one input; their listing lines are hashed a chunk at a time (the
        same digest as line by line: two updates per file were a tenth of planning)."""
        lines: list[str] = []
        for path, st in input_files(spec, self.skipped):
            if self._hash:
                lines.append(_listing_text(path, st))
                if len(lines) == LISTING_CHUNK:
                    self._hash_lines(lines)
            self.files += 1
            yield path, st
        self._hash_lines(lines)

    def _hash_lines(self, lines: list[str]) -> None:
        data = "".join(lines).encode("utf-8", "surrogateescape")
        self.digest.update(data)
        self.files_digest.update(data)
        lines.clear()

    def _file_batches(self, index: int, spec: InputPlan) -> Iterator[Descriptor]:
        if self.identities:
            yield from self._file_batches_with_identity(index, spec)
            return
        batch: list[str] = []
        for path, _ in self._listed(spec):
            batch.append(path)
            if len(batch) == self.size:
                self.items += len(batch)
                yield FilesBatch(self._next_id(), index, batch)
                batch = []
        if batch:
            self.items += len(batch)
            yield FilesBatch(self._next_id(), index, batch)

    def _file_batches_with_identity(self, index: int, spec: InputPlan) -> Iterator[Descriptor]:
        batch: list[str] = []
        sigs: list[list[Any]] = []
        of = identity_of(spec.location, self.identities == "digest")
        for path, st in self._listed(spec):
            batch.append(path)
            sigs.append(of(path, st))
            if len(batch) == self.size:
                self.items += len(batch)
                yield FilesBatch(self._next_id(), index, batch, sigs)
                batch, sigs = [], []
        if batch:
            self.items += len(batch)
            yield FilesBatch(self._next_id(), index, batch, sigs)

    def _tabular_batches(self, index: int, spec: InputPlan) -> Iterator[Descriptor]:
        for path, st in self._listed(spec):
            known = self.reused(index, path, st) if self.reused is not None else None
            if known is not None and known.start >= st.st_size:
                self.reused_files += 1
                continue  # an earlier run's rows stand for it: not cut again
            sig = of_stat(st)
            fmt = table_format(spec, path)
            if known is not None:  # it only grew: the earlier run's rows stand for its start
                self.reused_files += 1
                yield from self._grown(index, spec, path, sig, known)
                continue
            if fmt == "parquet":  # the footer counts the rows: a total, for free
                for groups, unreadable, rows in _parquet_batches(path, self.size):
                    self.items += rows
                    self.rows_known = self.rows_known and unreadable is None
                    yield RowGroups(self._next_id(), index, path, groups, unreadable, sig)
                continue
            # A mini-batch never crosses a file; a large file is cut into byte ranges at
            # record boundaries, found with the parser's rules (runner/local/partition/rowscan.py).
            # An incremental step's next run can reuse this file's ranges if it only grows.
            digest = item_identity(path, st, True)[1] if self.identities else None
            for fmt_, cut, cut_sig in _cuts(spec, path, fmt, sig, self.size):
                self.items += cut.rows or 0
                self.rows_known = self.rows_known and cut.rows is not None
                yield ByteRange(self._next_id(), index, path, fmt_, cut.start, cut.end,
                                list(cut.head) if cut.head else None, cut.rows, cut_sig,
                                digest=digest if cut.rows is not None else None)

    def _grown(self, index: int, spec: InputPlan, path: str, sig: list[int], known: Known) -> Iterator[Descriptor]:
        """The rows of a CSV or JSON Lines file after `known.start`, where an earlier run
        of an incremental step ended reading it (runner/local/reuse/items.py)."""
        digest = item_identity(path, _stat(path), True)[1]
        with open_input(path) as handle:
            handle.seek(known.start)
            cuts = list(cut_file(handle, sig[0] - known.start, self.size, fmt=known.fmt, header=False,
                                 delimiter=spec.delimiter, encoding=spec.encoding))
        for cut in cuts:
            self.items += cut.rows or 0
            self.rows_known = self.rows_known and cut.rows is not None
            yield ByteRange(self._next_id(), index, path, known.fmt, known.start + cut.start, known.start + cut.end,
                            known.head, cut.rows, sig, digest=digest)

    def _partitioned(self, index: int, spec: InputPlan) -> Iterator[Descriptor]:
        """One mini-batch per distinct combination of key values: from the paths when the
        dataset has a partition_format, else from the key columns of each file."""
        assert self.keys is not None
        groups: dict[tuple[str, ...], list[str]] = {}
        self.rows_known = False
        regex = partition_regex(spec.partition_format) if spec.partition_format else None
        keys = {p.name: p for p in placeholders(spec.partition_format)} if spec.partition_format else {}
        root = listing_root(spec.location)
        sigs: dict[str, list[int]] = {}
        for path, st in self._listed(spec):
            if spec.kind == "tabular":  # a table's rows are read by key: it must not change
                sigs[path] = of_stat(st)
            if regex is not None:
                match = regex.fullmatch(os.path.relpath(path, root).replace(os.sep, "/"))
                values = tuple(keys[k].value(match.group(k)) for k in self.keys) if match else None
                if values is None or None in values:
                    continue  # not part of the partitioned layout (as Azure skips it)
                combos = [tuple(str(v) for v in values)]
            else:
                combos = _key_values(spec, path, self.keys)
            for combo in combos:
                groups.setdefault(combo, []).append(path)
        for combo in sorted(groups):
            files = groups[combo]
            self.items += len(files) if spec.kind == "file" else 0
            yield Partition(self._next_id(), index, dict(zip(self.keys, combo)), files, regex is not None,
                            [sigs[path] for path in files] if sigs else None)

    def _from_manifest(self, index: int, spec: InputPlan) -> Iterator[Descriptor]:
        """Re-run what a previous run could not: its failed-items manifest, one
        descriptor per failed mini-batch (or only the items known to have failed)."""
        try:
            handle = open(spec.location, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read manifest {spec.location}: {exc.strerror or exc}") from exc
        with handle:
            for number, line in enumerate(handle, 1):
                try:
                    record = json.loads(line)
                    fields = dict(record["mini_batch"])
                    if record.get("failed_files"):
                        fields["files"] = record["failed_files"]
                    # Renumbered into this step, from this step's input; "n" is recounted.
                    descriptor = from_fields({**fields, "in": index, "id": self._next_id()})
                except (ValueError, KeyError, TypeError) as exc:  # DescriptorError is a ValueError
                    raise InputError(f"{spec.location}:{number}: not a failed-items manifest line") from exc
                files = files_of(descriptor)
                if isinstance(descriptor, FilesBatch):  # the failed files of an incremental run's batch
                    descriptor.sig, descriptor.reuse = None, None
                if isinstance(descriptor, Partition) and descriptor.sigs is not None:
                    # A partition's tables are read whole by key: the tables as they are
                    # now are what this run reads (a file fixed since is welcome). Byte
                    # ranges and row groups keep the identity of the file they were cut
                    # from: their offsets name its rows.
                    descriptor.sigs = [identity(path) for path in descriptor.files]
                self.items += len(files) if spec.kind == "file" and files is not None else 0
                self.digest.update(line.encode("utf-8", "surrogateescape"))
                yield descriptor


def _cuts(spec: InputPlan, path: str, fmt: str, sig: list[int], size: int) -> Iterator[tuple[str, Cut, list[int]]]:
    """A CSV or JSON file's ranges, with the identity of the file that was read to cut
    them. A file that cannot be opened is one range, which fails in its worker by name."""
    try:
        handle = open_input(path)
    except (OSError, StoreError):
        yield fmt if fmt != "json" else "jsonl", Cut(0, sig[0], None, None), sig
        return
    with handle:
        if not is_store(path):  # an object's is its listing's; the worker asks again after its read
            sig = of_stat(os.fstat(handle.fileno()))
        if compression_of(path):  # its bytes are not rows: read whole, as one mini-batch
            yield fmt, Cut(0, sig[0], None, None), sig
            return
        if fmt == "json":
            # A `.json` file holding one array is read whole as JSON; anything else there
            # is read as JSON Lines (one object a line), as the suffix allowed before.
            first = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
            handle.seek(0)
            if first == b"[":
                yield "json", Cut(0, sig[0], None, None), sig
                return
            fmt = "jsonl"
        try:
            for cut in cut_file(handle, sig[0], size, fmt=fmt, header=spec.header, delimiter=spec.delimiter,
                                encoding=spec.encoding):
                yield fmt, cut, sig
        except OSError as exc:  # an I/O error partway through the file
            raise InputError(f"cannot read {shown(path)}: {exc.strerror or exc}") from exc


def _stat(path: str) -> os.stat_result:
    st = remote_identity(path) if is_store(path) else os.stat(path)
    if st is None:
        raise InputError(f"{path} no longer exists")
    return st


def listing_root(location: str) -> str:
    if is_store(location):  # a prefix (a glob's fixed part): the store has no folders to ask about
        return (glob_root(location) if is_glob(location) else location).rstrip("/")
    return glob_root(location) if is_glob(location) else (
        location if os.path.isdir(location) else os.path.dirname(location) or ".")


def _key_values(spec: InputPlan, path: str, keys: list[str]) -> list[tuple[str, ...]]:
    """Distinct key combinations in one file, reading only the key columns."""
    from runner.local.partition.tables import key_text, read_columns

    frame = read_columns(spec, path, keys)
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise InputError(f"{path} has no column {', '.join(missing)} (partition_keys)")
    combos = frame[keys].apply(key_text).drop_duplicates()
    return [tuple(row) for row in combos.itertuples(index=False, name=None)]


def _parquet_batches(path: str, size: int) -> Iterator[tuple[list[int], str | None, int]]:
    """One Parquet file's row groups cut to about `size` bytes each, with the reason the
    file is unreadable (or None) and their rows."""
    import pyarrow.parquet as pq

    try:
        with open_input(path) as handle:  # a file object: pyarrow refuses names that are not UTF-8
            meta = pq.ParquetFile(handle).metadata
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        # A corrupt file is the worker's to fail on, so it counts against error_threshold.
        yield [], str(exc), 0
        return
    groups: list[int] = []
    total = rows = 0
    for group in range(meta.num_row_groups):
        groups.append(group)
        total += meta.row_group(group).total_byte_size
        rows += meta.row_group(group).num_rows
        if total >= size:
            yield groups, None, rows
            groups, total, rows = [], 0, 0
    if groups or meta.num_row_groups == 0:
        yield groups, None, rows
