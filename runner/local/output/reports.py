"""What a step leaves for people and for the next run, all derived from the ledger (so
a resumed run rewrites them whole): the processed mini-batches report, the failed-items
manifest, and the final Parquet output."""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from runner.errors import ExitCode, RunnerError
from runner.local.output.ledger_line import LedgerLine, current_runs, read_lines
from runner.local.partition.descriptors import decode, to_fields
from runner.local.protocol import FRAME_SIZE
from runner.runs.folder import StepFolder, no_links
from runner.runs.records import DamagedFolder


def write_reports(folder: StepFolder, stopped: bool = False) -> int:
    """The report and the manifest; with `stopped` (a threshold ended the step early) the
    manifest also lists the mini-batches that never ran, so re-running it covers the rest.
    After `runner retry` each mini-batch's current line counts: what a retry ran again
    and now succeeded leaves the manifest. Returns how many never ran."""
    failed: dict[int, LedgerLine] = {}
    # Which mini-batches ran, only where the manifest needs it, a byte each: a set of
    # every id was the driver's peak memory at the end of a large step (~60 MB a million).
    done = bytearray() if stopped else None
    folder.report.parent.mkdir(parents=True, exist_ok=True)
    # Binary, as csv.writer's UTF-8 text would be: lines as encode_ok writes them (nearly
    # all) become rows from their own bytes, with no LedgerLine made (current_runs).
    with open(folder.report.with_name(folder.report.name + ".tmp"), "wb", opener=no_links) as handle:
        writer = csv.writer(_Utf8(handle))
        writer.writerow(["mini_batch", "status", "items", "succeeded", "failed", "tries", "worker", "seconds",
                         "error"])
        for line in current_runs(folder.ledger, bool(folder.read().retried)):
            if not isinstance(line, LedgerLine):  # whole successes: mb, items, ok, rows, tries, worker, secs, ...
                handle.write(b"".join([b"%s,ok,%s,%s,0,%s,%s,%s,\r\n" % match.group(1, 2, 3, 5, 6, 7)
                                       for match in line]))
                if done is not None:
                    for match in line:
                        _ran(done, int(match[1]))
                continue
            error = (line.error or "").strip().splitlines()
            writer.writerow([line.mb, line.status, line.items, line.ok, line.failed, line.tries,
                             "" if line.worker is None else line.worker, "" if line.secs is None else line.secs,
                             error[-1] if error else ""])
            if done is not None:
                _ran(done, line.mb)
            if line.failed or line.status != "ok":
                failed[line.mb] = line
    os.replace(folder.report.with_name(folder.report.name + ".tmp"), folder.report)
    return _write_manifest(folder, failed, done)


class _Utf8:
    """csv.writer's text to a binary file, as a UTF-8 text file with newline="" writes it."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle

    def write(self, text: str) -> int:
        return self.handle.write(text.encode("utf-8"))


def _ran(done: bytearray, mb: int) -> None:
    if mb >= len(done):
        done.extend(bytes(mb + 1 - len(done)))
    done[mb] = 1


def _write_manifest(folder: StepFolder, failed: dict[int, LedgerLine], done: bytearray | None) -> int:
    """One line per mini-batch with failed items: its descriptor (paths, or file and byte
    range / row groups), what failed, and the error. A dataset with `manifest: true`
    over this file re-runs exactly these."""
    not_run = 0
    with open(folder.failed_items.with_name(folder.failed_items.name + ".tmp"), "w", encoding="utf-8",
              opener=no_links) as out:
        if failed or done is not None:
            with open(folder.minibatches, "rb", opener=no_links) as handle:
                for raw in handle:
                    descriptor = decode(raw)
                    line = failed.get(descriptor.id)
                    if line is None:
                        if done is not None and not (descriptor.id < len(done) and done[descriptor.id]):
                            not_run += 1
                            out.write(json.dumps({"mini_batch": to_fields(descriptor), "status": "not_run",
                                                  "error": "not run: the step stopped on a threshold"}) + "\n")
                        continue
                    entry: dict[str, Any] = {"mini_batch": to_fields(descriptor), "status": line.status,
                                             "failed_items": line.failed, "tries": line.tries,
                                             "error": line.error or ""}
                    if line.failed_files is not None:
                        entry["failed_files"] = line.failed_files
                    elif line.status == "ok":
                        entry["which_failed"] = "unknown: run() returned fewer results than items"
                    out.write(json.dumps(entry) + "\n")
    os.replace(folder.failed_items.with_name(folder.failed_items.name + ".tmp"), folder.failed_items)
    return not_run


def staged_output(final: str, row_format: str) -> str:
    """Where committed rows go while the step runs. Parquet is written once at the end
    from staged frames: each mini-batch's rows as one Arrow IPC stream, length-prefixed,
    so the ledger's offsets work as for text and every column keeps its type. The staged
    file lives in the step's folder, `<step>/staging/<output>/<file>.arrows`, not in the
    output folder, where a reader of the folder (`pd.read_parquet(folder)`) would trip on
    it; it stays after the Parquet file is written, as the ledger's offsets point into it.
    (Runs begun before kept it beside the output, and are resumed with it there.)"""
    if row_format != "parquet":
        return final
    beside = final + ".staging.arrows"
    if os.path.exists(beside):
        return beside
    path = Path(final)  # <step>/outputs/<output>/<file>
    return str(StepFolder(path.parents[2]).staged(path.parent.name, path.name))


class OutputError(RunnerError):
    """The committed rows cannot make one output file: a column of two types, as the
    entry script returned them (exit 2)."""

    exit_code = ExitCode.USAGE


def finish_parquet(final: str, ledger: str | Path) -> bool:
    """Write the Parquet output from the staged frames of every committed mini-batch, in
    commit order, as one table. A column's type may differ between mini-batches: numbers
    are promoted (int64 and float64 become float64), a column all null in one mini-batch
    takes the others' type, one missing from a mini-batch is null there; anything else
    is an OutputError naming the column and both mini-batches. Idempotent and crash-safe
    (a resume finishes again): written to a temporary file, fsynced, then renamed over
    the final one. Returns whether there was anything to write."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    staged = staged_output(final, "parquet")
    if not os.path.exists(staged) or not os.path.getsize(staged):
        return False
    with pa.memory_map(staged) as source:
        data = source.read_buffer()
        schema, owners = _unified_schema(_frames(data, ledger, staged), staged)
        if schema is None:
            return False
        tmp = final + ".tmp"
        try:
            with open(tmp, "wb", opener=no_links) as handle:
                with pq.ParquetWriter(handle, schema) as writer:
                    _write_row_groups(writer, (_conform(_table(frame, mb, staged), schema, mb, owners)
                                               for mb, frame in _frames(data, ledger, staged)))
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)  # half a file: neither the output nor worth the room
            raise
    os.replace(tmp, final)
    _fsync_folder(os.path.dirname(final))
    return True


ROW_GROUP_ROWS, ROW_GROUP_BYTES = 1 << 20, 64 << 20


def _write_row_groups(writer: Any, tables: Iterator[Any]) -> None:
    """Mini-batches' tables gathered into row groups of up to ROW_GROUP_ROWS rows or
    ROW_GROUP_BYTES: tiny mini-batches make no tiny row groups, and memory stays bounded."""
    import pyarrow as pa

    batch: list[Any] = []
    rows = size = 0
    for table in tables:
        batch.append(table)
        rows, size = rows + table.num_rows, size + table.nbytes
        if rows >= ROW_GROUP_ROWS or size >= ROW_GROUP_BYTES:
            writer.write_table(pa.concat_tables(batch), row_group_size=ROW_GROUP_ROWS)
            batch, rows, size = [], 0, 0
    if batch:
        writer.write_table(pa.concat_tables(batch), row_group_size=ROW_GROUP_ROWS)


def _frames(data: Any, ledger: str | Path, staged: str) -> Iterator[tuple[int, Any]]:
    """Each committed mini-batch's staged frames (Arrow IPC streams), in commit order: a
    ledger line's frames lie between the `out` of the line before and its own."""
    view, start = memoryview(data), 0
    for line in read_lines(ledger):
        end = line.out
        while start < end:
            size = FRAME_SIZE.unpack_from(view, start)[0] if start + 8 <= end else end
            if start + 8 + size > end:
                raise _damaged(staged, line.mb, f"a frame at byte {start} runs past the mini-batch's end ({end})")
            yield line.mb, data.slice(start + 8, size)
            start += 8 + size


def _table(frame: Any, mb: int, staged: str) -> Any:
    import pyarrow as pa

    return _read(lambda: pa.ipc.open_stream(frame).read_all(), mb, staged)


def _read(read: Callable[[], Any], mb: int, staged: str) -> Any:
    """A committed frame read, or the staged file damaged: the ledger says these bytes
    were committed, so they cannot be redone (what lies past the last commit is cut on
    resume, and runs again)."""
    import pyarrow as pa

    try:
        return read()
    except (pa.ArrowInvalid, pa.ArrowIOError, pa.ArrowNotImplementedError) as exc:  # unknown type bytes: damage
        raise _damaged(staged, mb, str(exc)) from exc


def _damaged(staged: str, mb: int, problem: str) -> DamagedFolder:
    return DamagedFolder(staged, f"holds damaged rows of mini-batch {mb}, which the ledger says were committed "
                                 f"({problem}): restore the file, or apply the spec again for a new run")


def _unified_schema(frames: Iterator[tuple[int, Any]], staged: str) -> tuple[Any, dict[str, int]]:
    """One schema for every frame, and for each column the mini-batch that gave it its
    type (None when no mini-batch committed rows)."""
    import pyarrow as pa

    fields: dict[str, Any] = {}
    owners: dict[str, int] = {}
    metadata = None
    for mb, frame in frames:
        schema = _read(lambda: pa.ipc.open_stream(frame).schema, mb, staged)
        metadata = schema.metadata if metadata is None else metadata  # pandas' own, from the first
        for field in schema:
            have = fields.get(field.name)
            if have is None or have.type == field.type:
                fields.setdefault(field.name, field)
                owners.setdefault(field.name, mb)
                continue
            try:
                merged = pa.unify_schemas([pa.schema([have]), pa.schema([field])], promote_options="permissive")[0]
            except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
                raise OutputError(
                    f"column {field.name!r} is {have.type} in mini-batch {owners[field.name]} and {field.type} in "
                    f"mini-batch {mb}: a Parquet column has one type. What was committed is kept in {staged} (one "
                    "Arrow IPC stream per mini-batch); make run() return one type for that column (astype) and "
                    "apply the spec again") from exc
            if merged.type != have.type:
                fields[field.name], owners[field.name] = merged, mb
    if not fields and metadata is None:
        return None, owners
    return pa.schema(list(fields.values()), metadata=metadata), owners


def _conform(table: Any, schema: Any, mb: int, owners: dict[str, int]) -> Any:
    """A mini-batch's table with the output's columns and types (a missing one: nulls)."""
    import pyarrow as pa

    columns = []
    for field in schema:
        index = table.schema.get_field_index(field.name)
        if index < 0:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(index)
        if column.type != field.type:
            # int64 to float64 may round above 2**53, as pandas does; any other cast must be exact
            exact = not (pa.types.is_integer(column.type) and pa.types.is_floating(field.type))
            try:
                column = column.cast(field.type, safe=exact)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise OutputError(f"column {field.name!r} of mini-batch {mb} ({column.type}) does not fit the type "
                                  f"{field.type} that mini-batch {owners[field.name]} gave it: {exc}") from exc
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _fsync_folder(path: str) -> None:
    """The rename itself on disk: a machine crash then leaves the new file, not the old."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
