"""What a step leaves for people and for the next run, all derived from the ledger (so
a resumed run rewrites them whole): the processed mini-batches report, the failed-items
manifest, and the final Parquet output."""

from __future__ import annotations

import csv
import json
import os
import struct
from typing import Any

from runner.local.descriptors import decode, to_fields
from runner.local.ledger import read_records
from runner.runs.folder import StepFolder


def write_reports(folder: StepFolder, stopped: bool = False) -> int:
    """The report and the manifest; with `stopped` (a threshold ended the step early) the
    manifest also lists the mini-batches that never ran, so re-running it covers the rest.
    Returns how many never ran."""
    failed: dict[int, dict[str, Any]] = {}
    done: set[int] = set()
    os.makedirs(os.path.dirname(folder.report), exist_ok=True)
    with open(folder.report + ".tmp", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["mini_batch", "status", "items", "succeeded", "failed", "tries", "worker", "seconds",
                         "error"])
        for record in read_records(folder.ledger):
            error = (record.get("error") or "").strip().splitlines()
            writer.writerow([record["mb"], record["status"], record["items"], record["ok"], record["failed"],
                             record["tries"], record["worker"], record["secs"], error[-1] if error else ""])
            done.add(record["mb"])
            if record["failed"] or record["status"] != "ok":
                failed[record["mb"]] = record
    os.replace(folder.report + ".tmp", folder.report)
    return _write_manifest(folder, failed, done if stopped else None)


def _write_manifest(folder: StepFolder, failed: dict[int, dict[str, Any]], done: set[int] | None) -> int:
    """One line per mini-batch with failed items: its descriptor (paths, or file and byte
    range / row groups), what failed, and the error. A dataset with `manifest: true`
    over this file re-runs exactly these."""
    not_run = 0
    with open(folder.failed_items + ".tmp", "w", encoding="utf-8") as out:
        if failed or done is not None:
            with open(folder.minibatches, "rb") as handle:
                for line in handle:
                    descriptor = decode(line)
                    record = failed.get(descriptor.id)
                    if record is None:
                        if done is not None and descriptor.id not in done:
                            not_run += 1
                            out.write(json.dumps({"mini_batch": to_fields(descriptor), "status": "not_run",
                                                  "error": "not run: the step stopped on a threshold"}) + "\n")
                        continue
                    entry: dict[str, Any] = {"mini_batch": to_fields(descriptor), "status": record["status"],
                                             "failed_items": record["failed"], "tries": record["tries"],
                                             "error": record.get("error", "")}
                    if "failed_files" in record:
                        entry["failed_files"] = record["failed_files"]
                    elif record["status"] == "ok":
                        entry["which_failed"] = "unknown: run() returned fewer results than items"
                    out.write(json.dumps(entry) + "\n")
    os.replace(folder.failed_items + ".tmp", folder.failed_items)
    return not_run


def staged_output(final: str, row_format: str) -> str:
    """Where committed rows go while the step runs. Parquet is written once at the end
    from staged frames: each mini-batch's rows as one Arrow IPC stream, length-prefixed,
    so the ledger's offsets work as for text and every column keeps its type."""
    return final + ".staging.arrows" if row_format == "parquet" else final


def frame_to_staged(frame: Any) -> bytes:
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return struct.pack("<Q", len(data)) + data


def finish_parquet(final: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    staged = staged_output(final, "parquet")
    tables = []
    with open(staged, "rb") as handle:
        while header := handle.read(8):
            (size,) = struct.unpack("<Q", header)
            tables.append(pa.ipc.open_stream(handle.read(size)).read_all())
    if tables:  # frames of different mini-batches may differ in type (int vs float): promote
        pq.write_table(pa.concat_tables(tables, promote_options="default"), final + ".tmp")
        os.replace(final + ".tmp", final)
