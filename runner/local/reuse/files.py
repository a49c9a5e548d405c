"""A file dataset's items against an earlier run's, in one pass over both in listing
order (a merge-join: runner/local/reuse/earlier.py reads the earlier run's back in
that order, a mini-batch at a time), so nothing is held per item and the time is linear.

Each item now is new (no earlier item at its place), changed (another identity),
failed before (its mini-batch did not succeed), or reused. Reused items of a mini-batch
whose rows are one per item, in order, are grouped while they come from the same
earlier mini-batch into one `reuse` descriptor (with `pick` where not all of them are
reused). A mini-batch that is the unit (its rows are not one per item) is held until
its last earlier item has passed: reused whole when every item of it is present and
unchanged, else its unchanged items run again (`unit_rerun`). Earlier items passed
over are gone.

The common case costs a few string operations a mini-batch, not work per item: the
listing's next items are those of the earlier mini-batch (its names joined are its
line's text), with the same identities (written as its line writes them), so it is
reused whole, its line's text copied into this run's. Anything else (an item added or
gone in its midst, a root that moved) is matched item by item, by place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from runner.local.partition.descriptors import FilesBatch
from runner.local.reuse.earlier import Batches, Place, Placer, earlier_blocks, item_places, placer
from runner.local.reuse.lines import FilesLine, batch_text, reuse_line
from runner.runs.records import ItemReuse

Item = tuple[int, str, list[Any]]  # an item now: its input, path and identity
Chunk = tuple[int, list[str], list[list[Any]]]  # items of one input now, in listing order
Decision = FilesBatch | Item | str  # str: a `reuse` line up to its id (runner/local/reuse/lines.py)
KEEP = 4096  # items decided and kept (in the listing's buffer, or as decisions not yet yielded) at most


@dataclass
class _Group:
    """Reused items of one earlier mini-batch, one row each, met one after another."""

    mb: int
    index: int
    size: int
    positions: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    sigs: list[list[Any]] = field(default_factory=list)
    texts: list[str] | None = field(default_factory=list)  # the identities' texts, while all are known


@dataclass
class _Unit:
    """An earlier mini-batch reused whole or not at all, while its items pass."""

    seen: int = 0
    whole: bool = True
    items: list[tuple[int, Item]] = field(default_factory=list)  # (position, the item now)


class _Now:
    """The listing now, read a chunk at a time: the items of one input (`input`) not yet
    decided are `paths[at:]` and `sigs[at:]`."""

    def __init__(self, chunks: Iterable[Chunk], places: list[Placer]) -> None:
        self._chunks = iter(chunks)
        self._ahead: Chunk | None = next(self._chunks, None)
        self._places = places
        self._head: tuple[int, Place] | None = None  # the place of paths[at], once worked out
        self.input = -1
        self.paths: list[str] = []
        self.sigs: list[list[Any]] = []
        self.at = 0

    def next_input(self) -> bool:
        """Go on to the next input's items (False: none left)."""
        if self._ahead is None:
            return False
        self.input, self.paths, self.sigs, self.at, self._head = self._ahead[0], [], [], 0, None
        self._take()
        return True

    def fill(self, want: int) -> int:
        """How many of this input's items are undecided, reading chunks until there are
        `want` (or the input ends)."""
        while len(self.paths) - self.at < want and self._ahead is not None and self._ahead[0] == self.input:
            if self.at >= KEEP:
                del self.paths[:self.at], self.sigs[:self.at]
                self.at, self._head = 0, None
            self._take()
        return len(self.paths) - self.at

    def _take(self) -> None:
        assert self._ahead is not None
        self.paths.extend(self._ahead[1])
        self.sigs.extend(self._ahead[2])
        self._ahead = next(self._chunks, None)

    def head(self) -> Place:
        """The place of the next undecided item (there is one)."""
        if self._head is None or self._head[0] != self.at:
            self._head = (self.at, self._places[self.input](self.paths[self.at]))
        return self._head[1]

    def take(self) -> Item:
        self.at += 1
        return self.input, self.paths[self.at - 1], self.sigs[self.at - 1]

    def rest(self) -> Iterator[list[Item]]:
        """Every undecided item of this input, a chunk at a time."""
        while self.fill(1):
            items = [(self.input, path, sig) for path, sig in zip(self.paths[self.at:], self.sigs[self.at:])]
            self.at = len(self.paths)
            yield items


def _compare(line: FilesLine, start: int, end: int, names: list[str],
             sigs: list[list[Any]]) -> tuple[list[bool] | None, list[str] | None] | None:
    """None where `names` are not the line's items [start, end); else which identities
    are the same (None: all) and, where they were written to compare, their texts."""
    if start == 0 and end == line.count:  # the whole line: its text
        return line.same_sigs(sigs) if line.same_names(names) else None
    decoded = line.decoded()  # a line cut by another stretch: decoded already (its items' places)
    assert decoded.files is not None and decoded.sig is not None
    if decoded.files[start:end] != names:
        return None
    then = decoded.sig[start:end]
    return None if sigs == then else [a == b for a, b in zip(sigs, then)], None


class FileMatch:
    """The matching of a file dataset's items now (`roots`: its inputs' folders now)
    against an earlier run's (`earlier_roots`, its `minibatches` and `batches`;
    `ordered`: that file is one stretch in listing order)."""

    def __init__(self, run: str, minibatches: str, batches: Batches, earlier_roots: list[str], roots: list[str],
                 output: str, header: int, reuse: ItemReuse, ordered: bool = False) -> None:
        self.run_id, self.minibatches, self.batches, self.ordered = run, minibatches, batches, ordered
        self.earlier_roots, self.roots = earlier_roots, roots
        self.output, self.header, self.reuse = output, header, reuse
        self._group: _Group | None = None
        self._units: dict[int, _Unit] = {}
        self._out: list[Decision] = []
        self._last: Place | None = None  # the last earlier item offered
        self._then = [placer(index, root) for index, root in enumerate(earlier_roots)]
        # Names are compared as they are where the input's folder is the one it was.
        self._same_root = [index < len(earlier_roots) and root == earlier_roots[index]
                           for index, root in enumerate(roots)]

    def run(self, current: Iterable[Chunk]) -> Iterator[Decision]:
        """What to do with the items now (chunks of one input each, in listing order):
        `reuse` descriptors (or their lines' text, ids to be given), descriptors of items
        that run again (`reuse` None), and the items that run (new, changed or failed
        before) as they are, in listing order. (The decisions go to a list, yielded a
        block at a time: a generator per item cost more.)"""
        now = _Now(current, [placer(index, root) for index, root in enumerate(self.roots)])
        out = self._out
        for line, start, end in earlier_blocks(self.minibatches, self.batches, self.earlier_roots,
                                                   self.ordered):
            while now.input < line.input:  # the earlier run has nothing more of this input: the rest is new
                yield from self._new(now)
                if not now.next_input():
                    break
            if now.input == line.input:
                yield from self._match(line, start, end, now)
            else:  # nothing of its input is left now
                for position in range(start, end):
                    self._gone(line.mb, position, line.size)
            if out:
                yield from out
                out.clear()
        while True:
            yield from self._new(now)
            if not now.next_input():
                break
        self._flush()
        for mb in list(self._units):  # never all seen (a damaged listing): run again
            self._finish(mb, self._units.pop(mb), whole=False)
        yield from out
        out.clear()

    def _new(self, now: _Now) -> Iterator[Item]:
        for items in now.rest():
            self.reuse.new += len(items)
            yield from items

    def _match(self, line: FilesLine, start: int, end: int, now: _Now) -> Iterator[Decision]:
        """An earlier line's items [start, end): at once where they are the listing's next
        ones, by name (and then by identity); else item by item."""
        count = end - start
        if self._same_root[line.input] and now.fill(count) >= count:
            names = now.paths[now.at:now.at + count]
            sigs = now.sigs[now.at:now.at + count]
            found = _compare(line, start, end, names, sigs)
            if found is not None:
                now.at += count
                self._last = self._then[line.input](names[-1])
                self._found_block(line, start, names, sigs, *found)
                return
        yield from self._by_place(line, start, end, now)

    def _by_place(self, line: FilesLine, start: int, end: int, now: _Now) -> Iterator[Decision]:
        """The merge-join item by item: listing items before an earlier one are new (as
        many as there may be: they are yielded as they pass)."""
        places = item_places(line, self._then[line.input])
        sigs = line.decoded().sig
        assert sigs is not None
        for position in range(start, end):
            then = places[position]
            if self._last is not None and then <= self._last:
                continue  # out of listing order (another runner's order?): not offered, so it runs again
            self._last = then
            while True:
                if not now.fill(1):
                    self._gone(line.mb, position, line.size)
                    break
                here = now.head()
                if here < then:
                    self.reuse.new += 1
                    self._out.append(now.take())
                    if len(self._out) >= KEEP:
                        yield from self._out
                        self._out.clear()
                    continue
                if here == then:
                    item = now.take()
                    self._found(line.mb, position, line.size, item, item[2] == sigs[position])
                else:
                    self._gone(line.mb, position, line.size)
                break

    def _found_block(self, line: FilesLine, start: int, names: list[str], sigs: list[list[Any]],
                     same: list[bool] | None, texts: list[str] | None = None) -> None:
        """Earlier items [start, start + len(names)) of `line`, present now in order;
        `same`: which kept their identity (None: all of them); `texts`: the identities'
        texts, where they were written to compare."""
        mb, index, count, batches = line.mb, line.input, len(names), self.batches
        if same is None and batches.ok(mb) and start == 0 and count == line.size:  # the whole mini-batch
            self._flush()
            self.reuse.reused += count
            reuse = self._reuse(mb, None)
            self._out.append(reuse_line(line, reuse) or FilesBatch(0, index, names, sigs, reuse))
            return
        if batches.ok(mb) and batches.per_item(mb, self.output, self.header):
            group = self._group
            if group is None or group.mb != mb or group.index != index:
                self._flush()
                group = self._group = _Group(mb, index, line.size)
            changed = 0
            if texts is None:
                group.texts = None
            for offset in range(count):
                if same is None or same[offset]:
                    group.positions.append(start + offset)
                    group.paths.append(names[offset])
                    group.sigs.append(sigs[offset])
                    if texts is not None and group.texts is not None:
                        group.texts.append(texts[offset])
                else:
                    changed += 1
                    self._out.append((index, names[offset], sigs[offset]))
            self.reuse.reused += count - changed
            self.reuse.changed += changed
            return
        for offset in range(count):
            self._found(mb, start + offset, line.size, (index, names[offset], sigs[offset]),
                        same is None or same[offset])

    def _found(self, mb: int, position: int, size: int, item: Item, same: bool) -> None:
        ok = self.batches.ok(mb)
        unit = ok and not self.batches.per_item(mb, self.output, self.header)
        if not same:
            self.reuse.changed += 1
            self._out.append(item)
            if unit:
                self._seen(mb, position, size, None)
        elif not ok:
            self.reuse.failed_before += 1
            self._out.append(item)
        elif unit:
            self._seen(mb, position, size, item)
        else:
            group = self._group
            if group is None or group.mb != mb or group.index != item[0]:
                self._flush()
                group = self._group = _Group(mb, item[0], size)
            group.positions.append(position)
            group.paths.append(item[1])
            group.sigs.append(item[2])
            group.texts = None
            self.reuse.reused += 1

    def _gone(self, mb: int, position: int, size: int) -> None:
        self.reuse.gone += 1
        if self.batches.ok(mb) and not self.batches.per_item(mb, self.output, self.header):
            self._seen(mb, position, size, None)

    def _seen(self, mb: int, position: int, size: int, item: Item | None) -> None:
        unit = self._units.setdefault(mb, _Unit())
        unit.seen += 1
        if item is None:
            unit.whole = False
        else:
            unit.items.append((position, item))
        if unit.seen == size:
            del self._units[mb]
            self._finish(mb, unit, unit.whole and len(unit.items) == size)

    def _finish(self, mb: int, unit: _Unit, whole: bool) -> None:
        """A unit's descriptor: reused whole, or its unchanged items run again."""
        if not unit.items:
            return
        unit.items.sort(key=lambda pair: pair[0])
        items = [item for _, item in unit.items]
        index, paths, sigs = items[0][0], [item[1] for item in items], [item[2] for item in items]
        if whole:
            self.reuse.reused += len(items)
            reuse = self._reuse(mb, None)
            self._out.append(batch_text(index, paths, sigs, reuse) or FilesBatch(0, index, paths, sigs, reuse))
        else:
            self.reuse.unit_rerun += len(items)
            self._out.append(FilesBatch(0, index, paths, sigs))

    def _flush(self) -> None:
        group, self._group = self._group, None
        if group is not None:
            whole = len(group.positions) == group.size
            reuse = self._reuse(group.mb, None if whole else group.positions)
            self._out.append(batch_text(group.index, group.paths, group.sigs, reuse, group.texts)
                             or FilesBatch(0, group.index, group.paths, group.sigs, reuse))

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
