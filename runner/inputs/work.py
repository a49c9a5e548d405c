"""The work a plan will do, counted from a listing: input files and bytes, an estimate
of rows for tables, the mini-batches and the workers. Cheap on purpose (`runner plan`
runs in CI on every pull request): the data is listed, never read, except a table's
first 64 KiB for the average row length and a Parquet file's footer, which holds its
row count. What cannot be counted this way says why (remote data, another step's output,
partition keys read from columns)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from runner.inputs.listing import InputError, compression_of, is_glob, stat_files, table_format
from runner.inputs.remote import is_store
from runner.plan.plan import Plan, StepPlan
from runner.plan.references import MLTABLE, InputPlan, is_remote

_SAMPLE = 64 * 1024
_SAMPLED_FILES = 3  # files sampled per input for the average row length


@dataclass
class InputWork:
    reference: str
    files: int | None = None
    bytes: int | None = None
    rows: int | None = None  # tables: estimated (exact when every file is Parquet)
    rows_exact: bool = False
    mini_batches: int | None = None
    note: str = ""  # why something is not counted


@dataclass
class StepWork:
    step: str
    inputs: list[InputWork] = field(default_factory=list)
    mini_batches: int | None = None  # None: known only at run time (note says why)
    exact: bool = True  # False: an estimate (tables are cut at row boundaries)
    workers: int | None = None
    note: str = ""
    reuse: str = ""  # the backend's decision and its reason (runner.api fills it in)

    @property
    def files(self) -> int | None:
        return _total([i.files for i in self.inputs])

    @property
    def bytes(self) -> int | None:
        return _total([i.bytes for i in self.inputs])

    @property
    def rows(self) -> int | None:
        return _total([i.rows for i in self.inputs])


def _total(values: list[int | None]) -> int | None:
    return None if not values or any(v is None for v in values) else sum(v for v in values if v is not None)


def estimate(plan: Plan) -> list[StepWork]:
    """Each step's work. Relative paths are relative to the plan's working directory."""
    return [_step(step, plan.cwd) for step in plan.steps]


def _step(step: StepPlan, cwd: str) -> StepWork:
    work = StepWork(step.name, workers=step.workers)
    work.inputs = [_input(item, step, cwd) for item in step.inputs]
    counts = [i.mini_batches for i in work.inputs]
    work.mini_batches = None if None in counts else sum(c for c in counts if c is not None)
    work.exact = step.kind == "file" and not step.partition_keys
    work.note = next((i.note for i in work.inputs if i.note), "")
    if step.partition_keys and work.mini_batches is None and not work.note:
        work.note = "one per value of the partition keys, read from the key columns at run time"
    return work


def _input(item: InputPlan, step: StepPlan, cwd: str) -> InputWork:
    work = InputWork(item.reference)
    if item.step is not None:
        work.note = f"reads the output of step {item.step}, counted at run time"
        return work
    if item.secret or is_remote(item.location):
        # Planning asks no store: object storage is listed when the step starts.
        work.note = "remote data, listed when the step runs" if is_store(item.location) else \
            "remote data, listed by Azure ML at run time"
        return work
    location = item.location if os.path.isabs(item.location) else os.path.join(cwd, item.location)
    if item.manifest:
        return _manifest(work, location)
    try:
        listed = _listed(item, step, location)
    except (InputError, OSError) as exc:
        work.note = str(exc)
        return work
    work.files, work.bytes = listed.files, listed.bytes
    if step.partition_keys:
        work.mini_batches = len(listed.combos) if listed.combos is not None else None
    elif item.kind == "file":
        work.mini_batches = math.ceil(work.files / (step.mini_batch_size or 1))
    else:
        work.mini_batches = listed.batches
    if item.kind == "tabular":
        work.rows, work.rows_exact = _rows(item, listed)
    return work


@dataclass
class _Listed:
    """One input's listing added up file by file: nothing is kept per file (a list of a
    million stat results was 860 MB of `runner plan`)."""

    files: int = 0
    bytes: int = 0
    batches: int = 0  # tables: mini-batches
    combos: set[tuple[tuple[str, str], ...]] | None = None  # partition keys' values, from the paths
    parquet_rows: int | None = 0  # None: a Parquet file pyarrow cannot read
    text_files: int = 0
    text_bytes: int = 0
    samples: list[str] = field(default_factory=list)  # the first text tables: their rows per byte


def _listed(item: InputPlan, step: StepPlan, location: str) -> _Listed:
    matcher = _partition_matcher(item, location) if step.partition_keys else None
    listed = _Listed(combos=set() if matcher is not None else None)
    batch = step.mini_batch_size or 1
    for path, st in stat_files(location):
        if item.kind == "tabular" and os.path.basename(path) == MLTABLE:
            continue
        listed.files += 1
        listed.bytes += st.st_size
        combo = matcher(path) if matcher is not None else None
        if combo is not None and listed.combos is not None:
            listed.combos.add(combo)
        if item.kind != "tabular":
            continue
        if not step.partition_keys:
            listed.batches += table_batches(item, path, st.st_size, batch)
        if table_format(item, path) == "parquet":
            if listed.parquet_rows is not None:
                rows = _parquet_rows(path)
                listed.parquet_rows = None if rows is None else listed.parquet_rows + rows
            continue
        listed.text_files += 1
        listed.text_bytes += st.st_size
        if len(listed.samples) < _SAMPLED_FILES:
            listed.samples.append(path)
    return listed


def _manifest(work: InputWork, location: str) -> InputWork:
    """A failed-items manifest: one line a failed mini-batch (or item)."""
    try:
        with open(location, "rb") as handle:
            work.mini_batches = sum(1 for line in handle if line.strip())
    except OSError as exc:
        work.note = f"cannot read manifest: {exc.strerror or exc}"
    return work


def table_batches(item: InputPlan, path: str, size: int, batch: int) -> int:
    """Ranges never cross files; a compressed or JSON-array file is read whole."""
    fmt = table_format(item, path)
    if compression_of(path) or fmt == "json":
        return 1
    return max(1, math.ceil(size / batch))


def _partition_matcher(item: InputPlan, location: str) -> Callable[[str], tuple[tuple[str, str], ...] | None] | None:
    """A path's key values, where the dataset has a partition_format (None: the keys are
    read from columns at run time, so the partitions are not counted here)."""
    if not item.partition_format:
        return None
    from runner.spec.partitions import partition_regex

    regex = partition_regex(item.partition_format)
    root = location if os.path.isdir(location) and not is_glob(location) else os.path.dirname(location)

    def values(path: str) -> tuple[tuple[str, str], ...] | None:
        match = regex.fullmatch(os.path.relpath(path, root).replace(os.sep, "/"))
        return tuple(sorted(match.groupdict().items())) if match else None
    return values


def _rows(item: InputPlan, listed: _Listed) -> tuple[int | None, bool]:
    """Rows of a table input: Parquet footers count exactly; text tables are estimated
    from the average row length in the first 64 KiB of a few files."""
    rows = listed.parquet_rows
    if rows is None:
        return None, False
    if not listed.text_files:
        return rows, True
    per_byte = _rows_per_byte(item, listed.samples)
    if per_byte is None:
        return None, False
    headers = listed.text_files if item.header and table_format(item, listed.samples[0]) == "csv" else 0
    return rows + max(0, round(listed.text_bytes * per_byte) - headers), False


def _parquet_rows(path: str) -> int | None:
    import pyarrow.parquet as pq

    try:
        with open(path, "rb") as handle:
            return int(pq.ParquetFile(handle).metadata.num_rows)
    except Exception:  # noqa: BLE001 - a file pyarrow cannot read fails at run time, by name
        return None


def _rows_per_byte(item: InputPlan, paths: list[str]) -> float | None:
    lines = read = 0
    for path in paths:
        if compression_of(path):
            return None  # compressed bytes say nothing about rows
        try:
            with open(path, "rb") as handle:
                sample = handle.read(_SAMPLE)
        except OSError:
            return None
        lines += len(re.findall(rb"\r\n|\r|\n", sample))
        read += len(sample)
    return lines / read if read and lines else None
