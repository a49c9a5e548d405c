"""A table's rows, estimated from bytes while they are not known.

Rows are counted at planning for CSV and JSON Lines cut into ranges and for Parquet
(its footer says); not for a file read whole (compressed, one JSON array), a partition
or a failed-items manifest. There the total shown is the rows read so far, scaled by the
input bytes of every mini-batch over those of the finished ones, and it becomes exact as
the last mini-batch finishes. A mini-batch's bytes: its byte range; its files' sizes (a
partition); its share of the Parquet file's size by row groups."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from runner.local.partition.descriptors import ByteRange, DescriptorError, Partition, RowGroups, decode

CHUNK = 4096  # mini-batches compared at a time for what finished since the last look


class Weights:
    def __init__(self, minibatches: str | Path, total: int) -> None:
        self.path = minibatches
        self.total = total
        self._weights: list[int] | None = None  # read at the first estimate, not at start
        self._all = 0
        self._seen = bytearray(total)
        self._done = 0

    def estimate(self, state: bytearray, items_done: int) -> int | None:
        """The rows of every mini-batch, from the rows of those `state` (the ledger's: non
        zero for finished) says finished; None before any input byte was read."""
        weights = self._load()
        if weights is None:
            return None
        view, seen = memoryview(state), memoryview(self._seen)
        for start in range(0, min(len(state), self.total), CHUNK):
            end = min(start + CHUNK, self.total)
            if view[start:end] == seen[start:end]:
                continue
            for mb in range(start, end):
                now, before = bool(state[mb]), bool(self._seen[mb])
                if now != before:  # a retry may run a failed mini-batch again
                    self._done += weights[mb] if now else -weights[mb]
            seen[start:end] = view[start:end]
        if self._done <= 0:
            return None
        return round(items_done * self._all / self._done)

    def _load(self) -> list[int] | None:
        if self._weights is None:
            try:
                self._weights = _read_weights(self.path, self.total)
            except (OSError, DescriptorError):
                self._weights = []  # no estimate: the totals stay "?"
            self._all = sum(self._weights)
        return self._weights if self._weights and self._all > 0 else None


def _read_weights(path: str | Path, total: int) -> list[int]:
    descriptors = []
    with open(path, "rb") as handle:
        for line in handle:
            descriptors.append(decode(line))
    groups = Counter[str]()
    for d in descriptors:
        if isinstance(d, RowGroups):
            groups[d.path] += len(d.row_groups)
    weights = [0] * total
    sizes: dict[str, int] = {}
    for d in descriptors:
        if d.id >= total:
            continue
        if isinstance(d, ByteRange):
            weights[d.id] = d.end - d.start
        elif isinstance(d, RowGroups):
            weights[d.id] = _size(d.path, d.sig, sizes) * len(d.row_groups) // max(1, groups[d.path])
        elif isinstance(d, Partition):
            sigs = d.sigs or [None] * len(d.files)
            weights[d.id] = sum(_size(f, s, sizes) for f, s in zip(d.files, sigs, strict=False))
    return weights


def _size(path: str, sig: list[int] | None, sizes: dict[str, int]) -> int:
    if sig:
        return sig[0]
    if path not in sizes:
        try:
            sizes[path] = os.stat(path).st_size
        except OSError:
            sizes[path] = 0
    return sizes[path]
