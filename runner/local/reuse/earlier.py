"""An earlier run's file-dataset items, read back in listing order with where their rows
are, for the merge-join of runner/local/reuse/files.py: nothing per item is held.

The listing (runner/inputs/listing.py) walks each folder in name order, a folder's files
at its name's place: the order of the tuple of path components under the input's root,
input by input. An earlier run's `minibatches.jsonl` is a few stretches each in that
order (a full run's mini-batches; an incremental run's reused ones, then what ran
again and the new ones), so the stretches are found in one pass and merged (heapq).
Each line's items are in that order, as every writer of the file makes them; an item
out of it is not offered (it runs again, as a new one would: the output stays right).

The ledger's facts per mini-batch (where its rows are, its counts, whether it may be
reused item by item) are kept in arrays indexed by mini-batch id: 33 bytes a
mini-batch, not a LedgerLine object each.
"""

from __future__ import annotations

import heapq
import os
from array import array
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, NamedTuple

from runner.local.output.ledger_line import current_lines
from runner.local.partition.descriptors import FilesBatch, decode
from runner.runs.folder import StepFolder, no_links
from runner.runs.records import RecordError

COMMITTED, OK, PER_ITEM, CHECKED = 1, 2, 4, 8  # Batches.flags bits
make = tuple.__new__  # an Earlier without NamedTuple's __new__ in Python: a million are made


class IncrementalError(RecordError):
    """An earlier run's files that item reuse needs are damaged or gone (exit 2)."""


def relative(path: str, root: str) -> str:
    """`path` under `root`, as os.path.relpath has it: a plain cut where the listing's
    absolute path starts with the root's (relpath normalises both paths again: it was
    a third of an incremental apply's planning at 200,000 files)."""
    prefix = root if root.endswith(os.sep) else root + os.sep
    if os.path.isabs(root) and path.startswith(prefix) and os.sep + "." not in path[len(prefix) - 1:] \
            and os.sep + os.sep not in path:
        return path[len(prefix):]
    return os.path.relpath(path, root)


def order(index: int, relative: str) -> tuple[int, str]:
    """An item's place in the listing: its input, then its path's components. With the
    separator as NUL (never in a name, below every other character), string order is
    the order of the tuple of components, at a fraction of its cost."""
    return index, relative.replace(os.sep, "\0")


def placer(index: int, root: str) -> Callable[[str], tuple[int, str]]:
    """`order` of a path of input `index` listed under `root`, with the root's prefix
    worked out once (it is called for every item, on both sides)."""
    if not os.path.isabs(root):
        return lambda path: order(index, relative(path, root))
    prefix = root if root.endswith(os.sep) else root + os.sep
    cut, sep = len(prefix), os.sep

    def place(path: str) -> tuple[int, str]:
        if path.startswith(prefix) and path.find(sep + ".", cut - 1) < 0 and path.find(sep + sep, cut - 1) < 0:
            return index, path[cut:].replace(sep, "\0")
        return order(index, relative(path, root))
    return place


class Earlier(NamedTuple):
    """One item of the earlier run: its place, identity, mini-batch and position in it."""

    place: tuple[int, str]
    sig: list[Any]
    mb: int
    position: int
    size: int  # the items its mini-batch names


class Batches:
    """The earlier run's mini-batches as its ledger's current lines have them."""

    def __init__(self, folder: StepFolder, count: int, retried: bool, per_item_format: bool, header: int) -> None:
        size = max(count, 0)
        self.start = array("q", bytes(8 * size))  # its rows' first byte (after a CSV header the line wrote)
        self.end = array("q", bytes(8 * size))
        self.items = array("q", bytes(8 * size))
        self.rows = array("q", bytes(8 * size))
        self.flags = bytearray(size)
        for line in current_lines(folder.ledger, retried):
            if line.at is None or not 0 <= line.mb < size:
                continue  # never committed (or by a runner before `at`): its items run
            mb = line.mb
            self.start[mb] = line.at + header if header and line.at == 0 and line.out > 0 else line.at
            self.end[mb], self.items[mb], self.rows[mb] = line.out, line.items, line.rows
            ok = line.status == "ok" and line.failed == 0 and not line.items_unknown
            per_item = ok and per_item_format and line.rows == line.items
            self.flags[mb] = COMMITTED | (OK if ok else 0) | (PER_ITEM if per_item else 0)

    def committed(self, mb: int) -> bool:
        return 0 <= mb < len(self.flags) and bool(self.flags[mb] & COMMITTED)

    def ok(self, mb: int) -> bool:
        return bool(self.flags[mb] & OK)

    def per_item(self, mb: int, output: str, header: int) -> bool:
        """Whether its rows map to its items in order, one line each: a CSV row holding a
        line break spans lines, so a CSV output's mini-batch is checked (once) that its
        rows are as many lines as rows, or it is the unit."""
        flags = self.flags[mb]
        if header and flags & PER_ITEM and not flags & CHECKED:
            with open(output, "rb", opener=no_links) as handle:
                handle.seek(self.start[mb])
                lines = handle.read(self.end[mb] - self.start[mb]).count(b"\n")
            flags |= CHECKED
            if lines != self.rows[mb]:
                flags &= ~PER_ITEM
            self.flags[mb] = flags
        return bool(flags & PER_ITEM)


def earlier_items(path: os.PathLike[str] | str, batches: Batches, roots: list[str]) -> Iterator[Earlier]:
    """Every item of the earlier run's committed file mini-batches, in listing order.
    Read a line at a time (not mapped: a mapped file's pages count in the driver's RSS)."""
    with open(path, "rb", opener=no_links) as handle:
        size = os.fstat(handle.fileno()).st_size
        starts = _stretches(handle, size, batches, roots)
        ends = [*starts[1:], size]
        places = [placer(index, root) for index, root in enumerate(roots)]
        stretches = [_stretch(handle, start, end, batches, places) for start, end in zip(starts, ends)]
        yield from stretches[0] if len(stretches) == 1 else heapq.merge(*stretches, key=_place)


def _place(item: Earlier) -> tuple[int, str]:
    return item.place


def _lines(handle: BinaryIO, offset: int, end: int, batches: Batches,
           inputs: int) -> Iterator[tuple[int, FilesBatch | None]]:
    """The lines from `offset` to `end`: each one's start and its descriptor where it
    names items to match (a committed file mini-batch's, with identities, of an input
    the run listed). The handle is shared by the stretches merged: each seeks."""
    while offset < end:
        handle.seek(offset)
        raw = handle.readline()
        if not raw:
            return
        descriptor = decode(raw)
        usable = isinstance(descriptor, FilesBatch) and descriptor.sig is not None and \
            descriptor.input < inputs and batches.committed(descriptor.id) and bool(descriptor.files)
        yield offset, descriptor if usable and isinstance(descriptor, FilesBatch) else None
        offset += len(raw)


def _stretches(handle: BinaryIO, size: int, batches: Batches, roots: list[str]) -> list[int]:
    """Where each stretch of lines in listing order starts (the first at byte 0): a line
    whose first item comes before the previous line's last starts another."""
    starts = [0]
    last: tuple[int, str] | None = None
    for offset, descriptor in _lines(handle, 0, size, batches, len(roots)):
        if descriptor is not None:
            root = roots[descriptor.input]
            if last is not None and order(descriptor.input, relative(descriptor.files[0], root)) <= last:
                starts.append(offset)
            last = order(descriptor.input, relative(descriptor.files[-1], root))
    return starts


def _stretch(handle: BinaryIO, start: int, end: int, batches: Batches,
             places: list[Callable[[str], tuple[int, str]]]) -> Iterator[Earlier]:
    last: tuple[int, str] | None = None
    for _, descriptor in _lines(handle, start, end, batches, len(places)):
        if descriptor is None:
            continue
        place, mb, count = places[descriptor.input], descriptor.id, len(descriptor.files)
        assert descriptor.sig is not None
        for position, (file, sig) in enumerate(zip(descriptor.files, descriptor.sig)):
            item: Earlier = make(Earlier, (place(file), sig, mb, position, count))
            if last is not None and item.place <= last:
                continue  # out of listing order (another runner's order?): not offered, so it runs again
            last = item.place
            yield item
