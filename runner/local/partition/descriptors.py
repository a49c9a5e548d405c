"""The mini-batch descriptor: what one mini-batch is, as one line of a step's
`minibatches.jsonl`. This module is the only one that knows the line format: the
Partitioner writes lines with `encode`, workers, reports and the driver read them with
`decode` (or, on the driver's hot path, `task_fields`).

One JSON object per line, keys in this order (`in` is the step input's index, `id`
counts from 0, `n` is the number of files):

  files       {"in", "files": [path, ...], "reuse"?, "sig"?, "n", "id"}         file datasets
  byte range  {"in", "path", "fmt": "csv"|"jsonl"|"json", "start", "end", "head", "rows",
              "digest"?, "sig"?, "reuse"?, "id"}: one file's records that start in [start, end), cut at record
              boundaries by runner/local/partition/rowscan.py; `head` the header record's [start,
              end) or null; `rows` how many rows the range holds (null: not counted)
  row groups  {"in", "path", "fmt": "parquet", "row_groups": [...], "unreadable"?, "sig"?, "id"}
  partition   {"in", "keys": {k: v}, "files": [...], "by_path"?, "sig"?, "n", "id"}
              partition_keys; by_path: the values come from the paths (partition_format)

`reuse` (incremental steps only, runner/local/reuse/items.py): the mini-batch is not run
but copied from an earlier run, {"run", "range": [start, end] of that run's output,
"pick"?: which of the rows there (by position; all when absent), "items", "rows"}; a
file dataset's lines then (and whenever the step is incremental) carry `sig`, each
file's [size, mtime_ns] (or [size, "sha256 hex"]), which the next incremental run compares.

`sig` is each input file's identity when the job was planned, [size, mtime_ns, inode] (a
list of them for a partition's tables): a worker reading a table refuses one that
changed since, and `runner resume` checks every unfinished line's tables
(runner/local/partition/identity.py). A file dataset's lines carry none: a changed file in a list
cannot duplicate or lose a row, and recording them cost a sixth of the planning time. A byte range without "rows" was written before ranges were
cut at record boundaries: its reader aligns to line ends, as it did then.

A line that names files ends `,"n":<files>,"id":<id>}`; `task_fields` reads both there
without a JSON parse. Runs partitioned before "n" was written (the id elsewhere, no "n")
still decode: the reader goes by key, never by position, and ignores keys it does not
know.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from runner.runs.errors import RunError

# Not frozen: a frozen dataclass's __init__ costs 0.39 us to 0.15 us here, and a worker
# builds one descriptor per mini-batch (tens of thousands a second with a no-op run()).


class DescriptorError(RunError, ValueError):
    """A line (or a failed-items manifest entry) that is not a mini-batch descriptor: a
    damaged run file, as a RecordError (exit 2); still a ValueError for the readers that
    treat any bad line alike."""


@dataclass(slots=True)
class FilesBatch:
    """Some files of a file dataset."""

    id: int
    input: int
    files: list[str]
    sig: list[list[Any]] | None = None  # incremental steps: each file's identity
    reuse: dict[str, Any] | None = None


@dataclass(slots=True)
class ByteRange:
    """The rows of one CSV or JSON Lines file whose record starts in [start, end)."""

    id: int
    input: int
    path: str
    fmt: str  # csv | jsonl | json (one JSON array: the whole file)
    start: int
    end: int
    head: list[int] | None = None
    rows: int | None = None
    sig: list[int] | None = None
    exact: bool = True  # cut at record boundaries (False: a line written before they were)
    reuse: dict[str, Any] | None = None
    digest: str | None = None  # incremental steps: the file's SHA-256 when cut (a grown file's start is checked)


@dataclass(slots=True)
class RowGroups:
    """Row groups of one Parquet file; `unreadable` (the reason) when its footer could not
    be read, so the worker fails the mini-batch and it counts against error_threshold."""

    id: int
    input: int
    path: str
    row_groups: list[int]
    unreadable: str | None = None
    sig: list[int] | None = None
    reuse: dict[str, Any] | None = None


@dataclass(slots=True)
class Partition:
    """Every file holding one combination of partition key values (text)."""

    id: int
    input: int
    keys: dict[str, str]
    files: list[str]
    # The values come from the paths (partition_format) and become columns; otherwise a
    # table's rows are filtered on its key columns.
    by_path: bool = False
    sigs: list[list[int] | None] | None = None  # None where a file is missing


Descriptor = FilesBatch | ByteRange | RowGroups | Partition


def files_of(descriptor: Descriptor) -> list[str] | None:
    """The files a descriptor names (None for a byte range or row groups)."""
    if isinstance(descriptor, (FilesBatch, Partition)):
        return descriptor.files
    return None


def to_fields(descriptor: Descriptor) -> dict[str, Any]:
    """The line's JSON object, in the line's key order (what the failed-items manifest
    shows as an entry's "mini_batch")."""
    if isinstance(descriptor, FilesBatch):
        fields: dict[str, Any] = {"in": descriptor.input, "files": descriptor.files}
        if descriptor.reuse is not None:
            fields["reuse"] = descriptor.reuse
        return _files_tail(fields, descriptor.sig, descriptor.files, descriptor.id)
    if isinstance(descriptor, ByteRange):
        fields = {"in": descriptor.input, "path": descriptor.path, "fmt": descriptor.fmt,
                  "start": descriptor.start, "end": descriptor.end}
        if descriptor.exact:
            fields["head"], fields["rows"] = descriptor.head, descriptor.rows
        if descriptor.digest is not None:
            fields["digest"] = descriptor.digest
        return _tail(fields, descriptor.sig, descriptor.id, descriptor.reuse)
    if isinstance(descriptor, RowGroups):
        fields = {"in": descriptor.input, "path": descriptor.path, "fmt": "parquet",
                  "row_groups": descriptor.row_groups}
        if descriptor.unreadable is not None:
            fields["unreadable"] = descriptor.unreadable
        return _tail(fields, descriptor.sig, descriptor.id, descriptor.reuse)
    fields = {"in": descriptor.input, "keys": descriptor.keys, "files": descriptor.files}
    if descriptor.by_path:
        fields["by_path"] = True
    return _files_tail(fields, descriptor.sigs, descriptor.files, descriptor.id)


def _tail(fields: dict[str, Any], sig: Any, mb: int, reuse: dict[str, Any] | None = None) -> dict[str, Any]:
    if sig is not None:
        fields["sig"] = sig
    if reuse is not None:
        fields["reuse"] = reuse
    fields["id"] = mb
    return fields


def _files_tail(fields: dict[str, Any], sigs: list[list[Any]] | list[list[int] | None] | None, files: list[str], mb: int) -> dict[str, Any]:
    if sigs is not None:
        fields["sig"] = sigs
    fields["n"], fields["id"] = len(files), mb  # last: what task_fields reads
    return fields


def from_fields(fields: Mapping[str, Any]) -> Descriptor:
    """A descriptor from a line's JSON object (or a manifest entry's "mini_batch")."""
    try:
        sig, reuse = fields.get("sig"), fields.get("reuse")
        if "keys" in fields:
            return Partition(fields["id"], fields["in"], dict(fields["keys"]), list(fields["files"]),
                             bool(fields.get("by_path", False)), sig)
        if "files" in fields:
            return FilesBatch(fields["id"], fields["in"], fields["files"], sig, reuse)
        if "row_groups" in fields or fields.get("fmt") == "parquet":
            return RowGroups(fields["id"], fields["in"], fields["path"], fields["row_groups"],
                             fields.get("unreadable"), sig, reuse)
        return ByteRange(fields["id"], fields["in"], fields["path"], fields["fmt"], fields["start"], fields["end"],
                         fields.get("head"), fields.get("rows"), sig, "rows" in fields, reuse, fields.get("digest"))
    except KeyError as exc:
        raise DescriptorError(f"not a mini-batch descriptor: no {exc.args[0]!r} in {dict(fields)!r:.200}") from exc
    except TypeError as exc:  # keys or files of the wrong shape
        raise DescriptorError(f"not a mini-batch descriptor: {exc}") from exc


# json.dumps with separators makes a new encoder each call: a third of a descriptor's cost.
_COMPACT = json.JSONEncoder(separators=(",", ":")).encode


def encode(descriptor: Descriptor) -> str:
    """The descriptor's line, newline included. Compact, ASCII only (json.dumps' default:
    non-ASCII names are escaped), byte for byte what earlier runs wrote."""
    if type(descriptor) is FilesBatch and descriptor.sig is None and descriptor.reuse is None:
        # The common line, written by hand in to_fields' key order (one per mini-batch).
        # A list of names as the encoder writes it, without its per-call set-up.
        files = descriptor.files
        try:
            names = ",".join(map(encode_basestring_ascii, files))
        except TypeError:  # not all text (a hand-made manifest's): as the encoder writes it
            return _COMPACT(to_fields(descriptor)) + "\n"
        return f'{{"in":{descriptor.input},"files":[{names}],"n":{len(files)},"id":{descriptor.id}}}\n'
    return _COMPACT(to_fields(descriptor)) + "\n"


def decode(line: bytes | str) -> Descriptor:
    """A line of minibatches.jsonl (any version) as its descriptor."""
    try:
        fields = json.loads(line)
    except ValueError as exc:
        raise DescriptorError(f"not a mini-batch descriptor line: {exc}") from exc
    if not isinstance(fields, dict):
        raise DescriptorError(f"not a mini-batch descriptor line: {line[:200]!r}")
    return from_fields(fields)


_TAIL = re.compile(rb',"n":(\d+),"id":(\d+)\}\s*')


def task_fields(line: bytes, kind: str) -> tuple[int, int | None]:
    """A line's id and, for a file dataset (`kind` "file"), its file count, without a JSON
    parse (one per mini-batch was a tenth of the driver's time with tiny ones). A line
    that names files ends `,"n":<files>,"id":<id>}`, which no file name can fake: inside a
    JSON string every `"` is escaped, so `,"n":` there never matches, and the last match is
    the line's own. Other lines (tables, runs partitioned before "n") are parsed."""
    cut = line.rfind(b',"n":')
    if cut > 0:
        match = _TAIL.fullmatch(line, cut)
        if match:
            return int(match[2]), int(match[1]) if kind == "file" else None
    descriptor = decode(line)
    if kind != "file":
        return descriptor.id, None
    files = files_of(descriptor)
    if files is None:
        raise DescriptorError(f"mini-batch {descriptor.id} of a file dataset names no files")
    return descriptor.id, len(files)
