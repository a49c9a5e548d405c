"""An incremental step's partitioning: the descriptors of `minibatches.jsonl` when an
earlier run's rows can be reused item by item (runner/local/reuse/items.py decides).

The file starts with the `reuse` descriptors (rows copied from the earlier run by
runner/local/reuse/commit.py before any worker starts; a file dataset's in listing
order), then what runs: a reused table's failed mini-batches, or a file dataset's new
and changed items cut into mini-batches as usual and, where they come, the unchanged
items of a mini-batch that is reused whole or not at all. What runs is held in an
unnamed temporary file meanwhile: the reused descriptors are numbered first. The file is
a few stretches each in listing order, so the next run reads it back in that order
(runner/local/reuse/earlier.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from runner.inputs.listing import InputError
from runner.local.partition.descriptors import Descriptor, FilesBatch, decode, encode, files_of
from runner.local.partition.identity import identity_of
from runner.local.partition.sources import Known, Partitioner, input_files, listing_root
from runner.local.output.reports import staged_output
from runner.local.reuse.fingerprint import incremental_fingerprint
from runner.local.reuse.files import Chunk, FileMatch
from runner.local.reuse.items import NO_EARLIER, Matching, earlier_run, item_key, load_index, reused_descriptors
from runner.plan.plan import StepPlan
from runner.runs.folder import RunFolder, list_runs
from runner.runs.records import ItemReuse, StepRecord

CHUNK = 1000  # items of a listing matched at a time by `runner plan`


def earlier_items(run: RunFolder, job: StepPlan, runs_root: Path, fingerprints: dict[str, str],
                  info: StepRecord) -> Matching | None:
    """An incremental step's earlier run to reuse rows from, read; None: none to reuse
    (step.json says why)."""
    key, earlier, why = _chosen(job, run, runs_root, fingerprints, info)
    run.step(job.name).update(incremental=key, item_reuse=ItemReuse(None, why=why))
    return matching(earlier, job) if earlier is not None else None


def reusable_run(job: StepPlan, run: RunFolder, runs_root: Path, fingerprints: dict[str, str],
                 info: StepRecord) -> RunFolder | None:
    """The earlier run an incremental step will reuse rows from (None: none)."""
    return _chosen(job, run, runs_root, fingerprints, info)[1]


def _chosen(job: StepPlan, run: RunFolder, runs_root: Path, fingerprints: dict[str, str],
            info: StepRecord) -> tuple[str, RunFolder | None, str]:
    code = info.retried[-1].snapshot if info.code else info.snapshot  # the code this attempt runs
    key, earlier, why = choose(job, list_runs(runs_root), fingerprints, code, run.id)
    if not job.reuse_items:
        return key, None, "`apply --no-reuse`"
    return key, earlier, why


def choose(job: StepPlan, runs: list[RunFolder], upstream: dict[str, str], code: str,
           exclude: str) -> tuple[str, RunFolder | None, str]:
    """The step's incremental fingerprint, the earlier run to reuse (or None) and why none."""
    key = incremental_fingerprint(job, upstream, code)
    earlier = earlier_run(runs, job.name, key, exclude)
    if earlier is None:
        upstream_steps = sorted({item.step for item in job.inputs if item.step is not None})
        if upstream_steps:  # another step's output is part of the definition, by its producer's fingerprint
            return key, None, f"{NO_EARLIER}, reading the same output of step {', '.join(upstream_steps)}"
        return key, None, NO_EARLIER
    if job.partition_keys:
        return key, None, "partition_keys: a partition is read whole, so it runs whole"
    if any(item.manifest for item in job.inputs):
        return key, None, "a failed-items manifest runs what it lists"
    return key, earlier, ""


def matching(earlier: RunFolder, job: StepPlan) -> Matching:
    """The earlier run's items, ready to be matched against the input as it is now."""
    found = earlier.output_file(job)
    return Matching(load_index(earlier, job, staged_output(str(found), job.row_format) if found else ""),
                    ItemReuse(earlier.id, unit="items" if job.kind == "file" else "files"))


def reuse_hook(matching: Matching, job: StepPlan) -> Any:
    """The Partitioner's question for each table: do an earlier run's rows stand for it?"""
    roots = [os.path.abspath(listing_root(item.location)) for item in job.inputs]

    def reused(index: int, path: str, st: os.stat_result) -> Known | None:
        return matching.table(item_key(index, path, roots[index]), path, st)
    return reused


def write(job: StepPlan, partitioner: Partitioner, matching: Matching, out: IO[str], folder: Path) -> tuple[int, int]:
    """Every descriptor of the step, in the order above; returns (mini-batches, items).
    A table's rows are not counted here (a reused range knows its own): items is then 0."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", dir=folder) as fresh:
        count = items = 0
        if matching.index.files is not None:
            for reused, size in _files(job, partitioner, matching.index.files, fresh):
                if isinstance(reused, str):  # a line's text up to its id
                    out.write(reused)
                    out.write(f"{count}}}\n")
                else:
                    reused.id = count
                    out.write(encode(reused))
                count += 1
                items += size
        else:
            for cut in partitioner.descriptors(job.inputs):
                fresh.write(encode(cut))
            matching.finish()
            for table in reused_descriptors(matching, 0):
                out.write(encode(table))
                count += 1
        fresh.seek(0)
        for line in fresh:
            descriptor = decode(line)
            descriptor.id = count
            out.write(encode(descriptor))
            count += 1
            items += _items(descriptor)
    return count, items if job.kind == "file" else 0


def _items(descriptor: Descriptor) -> int:
    files = files_of(descriptor)
    return len(files) if files is not None else 0


def _files(job: StepPlan, partitioner: Partitioner, files: FileMatch,
           fresh: IO[str]) -> Iterator[tuple[FilesBatch | str, int]]:
    """A file dataset's `reuse` descriptors (or their lines' text up to the id), each with
    its items, in listing order; what runs (its new, changed and failed items, cut again
    into mini-batches of the step's size, and what runs again) goes to `fresh`, ids to
    be given when copied."""
    size = job.mini_batch_size or 1
    batch: list[str] = []
    sigs: list[list[Any]] = []
    current = -1
    for decided in files.run(_listed(job, partitioner, fresh)):
        if isinstance(decided, str):
            yield decided, _count(decided)
            continue
        if isinstance(decided, FilesBatch):
            if decided.reuse is not None:
                yield decided, len(decided.files)
            else:
                fresh.write(encode(decided))
            continue
        index, path, sig = decided
        if index != current and batch:
            fresh.write(encode(FilesBatch(0, current, batch, sigs)))
            batch, sigs = [], []
        current = index
        batch.append(path)
        sigs.append(sig)
        if len(batch) == size:
            fresh.write(encode(FilesBatch(0, current, batch, sigs)))
            batch, sigs = [], []
    if batch:
        fresh.write(encode(FilesBatch(0, current, batch, sigs)))


def _count(text: str) -> int:
    """The items of a `reuse` line's text: its `"n"`, last before the id."""
    return int(text[text.rindex(',"n":') + 5:-6])


def _listed(job: StepPlan, partitioner: Partitioner, fresh: IO[str]) -> Iterator[Chunk]:
    """The items of the partitioner's listing (with identities), a mini-batch at a time."""
    for descriptor in partitioner.descriptors(job.inputs):
        if not isinstance(descriptor, FilesBatch) or descriptor.sig is None:
            fresh.write(encode(descriptor))  # nothing to match it against: it runs
            continue
        yield descriptor.input, descriptor.files, descriptor.sig


def count(job: StepPlan, matching: Matching) -> None:
    """What `runner plan` says: the same matching as the engine's, over a listing of the
    inputs (no table is cut, nothing written)."""
    files = matching.index.files
    if files is not None:
        for _ in files.run(_items_now(job)):
            pass
        return
    for index, item in enumerate(job.inputs):
        if item.manifest:
            raise InputError(f"input {item.reference} is a failed-items manifest")
        root = os.path.abspath(listing_root(item.location))
        for path, st in input_files(item):
            matching.table(item_key(index, path, root), path, st)
    matching.finish()


def _items_now(job: StepPlan) -> Iterator[Chunk]:
    digest = job.incremental == "digest"
    for index, item in enumerate(job.inputs):
        if item.manifest:
            raise InputError(f"input {item.reference} is a failed-items manifest")
        paths: list[str] = []
        sigs: list[list[Any]] = []
        of = identity_of(item.location, digest)
        for path, st in input_files(item):
            paths.append(path)
            sigs.append(of(path, st))
            if len(paths) == CHUNK:
                yield index, paths, sigs
                paths, sigs = [], []
        if paths:
            yield index, paths, sigs
