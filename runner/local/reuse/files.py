"""A file dataset's items against an earlier run's, in one pass over both in listing
order (a merge-join: runner/local/reuse/earlier.py reads the earlier run's back in
that order), so nothing is held per item and the time is linear.

Each item now is new (no earlier item at its place), changed (another identity),
failed before (its mini-batch did not succeed), or reused. Reused items of a mini-batch
whose rows are one per item, in order, are grouped while they come from the same
earlier mini-batch into one `reuse` descriptor (with `pick` where not all of them are
reused). A mini-batch that is the unit (its rows are not one per item) is held until
its last earlier item has passed: reused whole when every item of it is present and
unchanged, else its unchanged items run again (`unit_rerun`). Earlier items passed
over are gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from runner.local.partition.descriptors import FilesBatch
from runner.local.reuse.earlier import Batches, Earlier, earlier_items, placer
from runner.runs.records import ItemReuse

Item = tuple[int, str, list[Any]]  # an item now: its input, path and identity


@dataclass
class _Group:
    """Reused items of one earlier mini-batch, one row each, met one after another."""

    mb: int
    index: int
    size: int
    positions: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    sigs: list[list[Any]] = field(default_factory=list)


@dataclass
class _Unit:
    """An earlier mini-batch reused whole or not at all, while its items pass."""

    seen: int = 0
    whole: bool = True
    items: list[tuple[int, Item]] = field(default_factory=list)  # (position, the item now)


class FileMatch:
    """The matching of a file dataset's items now (`roots`: its inputs' folders now)
    against an earlier run's (`earlier_roots`, its `minibatches` and `batches`)."""

    def __init__(self, run: str, minibatches: str, batches: Batches, earlier_roots: list[str], roots: list[str],
                 output: str, header: int, reuse: ItemReuse) -> None:
        self.run_id, self.minibatches, self.batches = run, minibatches, batches
        self.earlier_roots, self.roots = earlier_roots, roots
        self.output, self.header, self.reuse = output, header, reuse
        self._group: _Group | None = None
        self._units: dict[int, _Unit] = {}
        self._out: list[FilesBatch | Item] = []

    def run(self, current: Iterable[Item]) -> Iterator[FilesBatch | Item]:
        """What to do with each item, in listing order: `reuse` descriptors and
        descriptors of items that run again (`reuse` None, ids to be given), and the
        items that run (new, changed or failed before) as they are. (The decisions go
        to a list, yielded when there are any: a generator per item cost more.)"""
        earlier = earlier_items(self.minibatches, self.batches, self.earlier_roots)
        places = [placer(index, root) for index, root in enumerate(self.roots)]
        out = self._out
        before = next(earlier, None)
        for item in current:
            place = places[item[0]](item[1])
            while before is not None and before.place < place:
                self._gone(before)
                before = next(earlier, None)
            if before is not None and before.place == place:
                self._found(before, item)
                before = next(earlier, None)
            else:
                self.reuse.new += 1
                out.append(item)
            if out:
                yield from out
                out.clear()
        while before is not None:
            self._gone(before)
            before = next(earlier, None)
        self._flush()
        for mb in list(self._units):  # never all seen (a damaged listing): run again
            self._finish(mb, self._units.pop(mb), whole=False)
        yield from out
        out.clear()

    def _found(self, before: Earlier, item: Item) -> None:
        mb = before.mb
        ok = self.batches.ok(mb)
        unit = ok and not self.batches.per_item(mb, self.output, self.header)
        if before.sig != item[2]:
            self.reuse.changed += 1
            self._out.append(item)
            if unit:
                self._seen(before, None)
        elif not ok:
            self.reuse.failed_before += 1
            self._out.append(item)
        elif unit:
            self._seen(before, item)
        else:
            group = self._group
            if group is None or group.mb != mb or group.index != item[0]:
                self._flush()
                group = self._group = _Group(mb, item[0], before.size)
            group.positions.append(before.position)
            group.paths.append(item[1])
            group.sigs.append(item[2])
            self.reuse.reused += 1

    def _gone(self, before: Earlier) -> None:
        self.reuse.gone += 1
        if self.batches.ok(before.mb) and not self.batches.per_item(before.mb, self.output, self.header):
            self._seen(before, None)

    def _seen(self, before: Earlier, item: Item | None) -> None:
        unit = self._units.setdefault(before.mb, _Unit())
        unit.seen += 1
        if item is None:
            unit.whole = False
        else:
            unit.items.append((before.position, item))
        if unit.seen == before.size:
            del self._units[before.mb]
            self._finish(before.mb, unit, unit.whole and len(unit.items) == before.size)

    def _finish(self, mb: int, unit: _Unit, whole: bool) -> None:
        """A unit's descriptor: reused whole, or its unchanged items run again."""
        if not unit.items:
            return
        unit.items.sort(key=lambda pair: pair[0])
        items = [item for _, item in unit.items]
        index, paths, sigs = items[0][0], [item[1] for item in items], [item[2] for item in items]
        if whole:
            self.reuse.reused += len(items)
            self._out.append(FilesBatch(0, index, paths, sigs, self._reuse(mb, None)))
        else:
            self.reuse.unit_rerun += len(items)
            self._out.append(FilesBatch(0, index, paths, sigs))

    def _flush(self) -> None:
        group, self._group = self._group, None
        if group is not None:
            whole = len(group.positions) == group.size
            self._out.append(FilesBatch(0, group.index, group.paths, group.sigs,
                                        self._reuse(group.mb, None if whole else group.positions)))

    def _reuse(self, mb: int, picked: list[int] | None) -> dict[str, Any]:
        """A descriptor's `reuse`: where its rows are, which of them (all unless
        `picked`), their counts, and a CSV output's header (written before them when
        they come first)."""
        batches = self.batches
        reuse: dict[str, Any] = {"run": self.run_id, "range": [batches.start[mb], batches.end[mb]],
                                 "items": batches.items[mb] if picked is None else len(picked),
                                 "rows": batches.rows[mb] if picked is None else len(picked)}
        if picked is not None:
            reuse["pick"] = picked
        if self.header:
            reuse["head"] = self.header
        return reuse
