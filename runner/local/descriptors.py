"""The mini-batch descriptor: what one mini-batch is, as one line of a step's
`minibatches.jsonl`. This module is the only one that knows the line format: the
Partitioner writes lines with `encode`, workers, reports and the driver read them with
`decode` (or, on the driver's hot path, `task_fields`).

One JSON object per line, keys in this order (`in` is the step input's index, `id`
counts from 0, `n` is the number of files):

  files       {"in", "files": [path, ...], "n", "id"}                    file datasets
  byte range  {"in", "path", "fmt": "csv"|"jsonl", "start", "end", "id"}  one file's rows
              whose line starts in [start, end) (the reader aligns to lines)
  row groups  {"in", "path", "fmt": "parquet", "row_groups": [...], "unreadable"?, "id"}
  partition   {"in", "keys": {k: v}, "files": [...], "by_path"?, "n", "id"}
              partition_keys; by_path: the values come from the paths (partition_format)

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
from typing import Any

# Not frozen: a frozen dataclass's __init__ costs 0.39 us to 0.15 us here, and a worker
# builds one descriptor per mini-batch (tens of thousands a second with a no-op run()).


class DescriptorError(ValueError):
    """A line (or a failed-items manifest entry) that is not a mini-batch descriptor."""


@dataclass(slots=True)
class FilesBatch:
    """Some files of a file dataset."""

    id: int
    input: int
    files: list[str]


@dataclass(slots=True)
class ByteRange:
    """The rows of one CSV or JSON Lines file whose line starts in [start, end)."""

    id: int
    input: int
    path: str
    fmt: str  # csv | jsonl
    start: int
    end: int


@dataclass(slots=True)
class RowGroups:
    """Row groups of one Parquet file; `unreadable` (the reason) when its footer could not
    be read, so the worker fails the mini-batch and it counts against error_threshold."""

    id: int
    input: int
    path: str
    row_groups: list[int]
    unreadable: str | None = None


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
        return {"in": descriptor.input, "files": descriptor.files, "n": len(descriptor.files), "id": descriptor.id}
    if isinstance(descriptor, ByteRange):
        return {"in": descriptor.input, "path": descriptor.path, "fmt": descriptor.fmt, "start": descriptor.start,
                "end": descriptor.end, "id": descriptor.id}
    if isinstance(descriptor, RowGroups):
        groups: dict[str, Any] = {"in": descriptor.input, "path": descriptor.path, "fmt": "parquet",
                                  "row_groups": descriptor.row_groups}
        if descriptor.unreadable is not None:
            groups["unreadable"] = descriptor.unreadable
        groups["id"] = descriptor.id
        return groups
    part: dict[str, Any] = {"in": descriptor.input, "keys": descriptor.keys, "files": descriptor.files}
    if descriptor.by_path:
        part["by_path"] = True
    part["n"], part["id"] = len(descriptor.files), descriptor.id  # last: what task_fields reads
    return part


def from_fields(fields: Mapping[str, Any]) -> Descriptor:
    """A descriptor from a line's JSON object (or a manifest entry's "mini_batch")."""
    try:
        if "keys" in fields:
            return Partition(fields["id"], fields["in"], dict(fields["keys"]), list(fields["files"]),
                             bool(fields.get("by_path", False)))
        if "files" in fields:
            return FilesBatch(fields["id"], fields["in"], fields["files"])
        if "row_groups" in fields or fields.get("fmt") == "parquet":
            return RowGroups(fields["id"], fields["in"], fields["path"], fields["row_groups"],
                             fields.get("unreadable"))
        return ByteRange(fields["id"], fields["in"], fields["path"], fields["fmt"], fields["start"], fields["end"])
    except KeyError as exc:
        raise DescriptorError(f"not a mini-batch descriptor: no {exc.args[0]!r} in {dict(fields)!r:.200}") from exc
    except TypeError as exc:  # keys or files of the wrong shape
        raise DescriptorError(f"not a mini-batch descriptor: {exc}") from exc


def encode(descriptor: Descriptor) -> str:
    """The descriptor's line, newline included. Compact, ASCII only (json.dumps' default:
    non-ASCII names are escaped), byte for byte what earlier runs wrote."""
    return json.dumps(to_fields(descriptor), separators=(",", ":")) + "\n"


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
