"""An earlier run's file-dataset items, read back in listing order with where their rows
are, for the merge-join of runner/local/reuse/files.py: nothing per item is held.

The listing (runner/inputs/listing.py) walks each folder in name order, a folder's files
at its name's place: the order of the tuple of path components under the input's root,
input by input. An earlier run's `minibatches.jsonl` is a few stretches each in that
order (a full run's mini-batches; an incremental run's reused ones, then what ran
again and the new ones), so the stretches are found in one pass and merged (heapq).
Each line's items are in that order, as every writer of the file makes them; an item
out of it is not offered (it runs again, as a new one would: the output stays right).

They are read a mini-batch at a time, as blocks: a line (runner/local/reuse/lines.py:
its names and identities as text, not decoded) and which of its items come next in
listing order. A full run's file is one stretch, each line one block. Where stretches
interleave, a line is cut where another stretch's next item comes before its end (its
items' places are then worked out one by one); a line before all of them stays whole.

The ledger's facts per mini-batch (where its rows are, its counts, whether it may be
reused item by item) are kept in arrays indexed by mini-batch id: 33 bytes a
mini-batch, not a LedgerLine object each.
"""

from __future__ import annotations

import contextlib
import heapq
import os
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import BinaryIO

from runner.local.output.ledger_line import current_lines
from runner.local.reuse.lines import FilesLine, bounds, files_line
from runner.runs.folder import StepFolder, no_links
from runner.runs.records import RecordError

COMMITTED, OK, PER_ITEM, CHECKED = 1, 2, 4, 8  # Batches.flags bits
BUFFER = 1 << 16  # bytes read at a time from a file of mini-batch lines
MAX_HANDLES = 8  # stretches read each through a handle of its own
Place = tuple[int, str]
Placer = Callable[[str], Place]
Block = tuple[FilesLine, int, int]  # a line, and its items [start, end) that come next


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


def order(index: int, relative: str) -> Place:
    """An item's place in the listing: its input, then its path's components. With the
    separator as NUL (never in a name, below every other character), string order is
    the order of the tuple of components, at a fraction of its cost."""
    return index, relative.replace(os.sep, "\0")


def placer(index: int, root: str) -> Placer:
    """`order` of a path of input `index` listed under `root`, with the root's prefix
    worked out once (it is called for every item, on both sides)."""
    if not os.path.isabs(root):
        return lambda path: order(index, relative(path, root))
    prefix = root if root.endswith(os.sep) else root + os.sep
    cut, sep = len(prefix), os.sep

    def place(path: str) -> Place:
        if path.startswith(prefix) and path.find(sep + ".", cut - 1) < 0 and path.find(sep + sep, cut - 1) < 0:
            return index, path[cut:].replace(sep, "\0")
        return order(index, relative(path, root))
    return place


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


def item_places(line: FilesLine, place: Placer) -> list[Place]:
    """Each item's place (worked out once a line): for lines compared item by item."""
    if line.places is None:
        files = line.decoded().files
        assert files is not None
        line.places = [place(name) for name in files]
    return line.places


def earlier_blocks(path: os.PathLike[str] | str, batches: Batches, roots: list[str],
                   ordered: bool = False) -> Iterator[Block]:
    """Every item of the earlier run's committed file mini-batches, in listing order, a
    block at a time. `ordered`: the file is known to be one stretch (a run that reused
    nothing wrote it as it listed), so it is not read twice. Read a line at a time (not
    mapped: a mapped file's pages count in the driver's RSS), through a buffer larger
    than a line (a line of a hundred names is longer than the default buffer, which
    then made each read cost three times as much)."""
    places = [placer(index, root) for index, root in enumerate(roots)]
    with open(path, "rb", buffering=BUFFER, opener=no_links) as handle:
        size = os.fstat(handle.fileno()).st_size
        starts = [0] if ordered else _stretches(handle, size, batches, places)
        handle.seek(0)
        if len(starts) == 1:
            for line in _usable(handle, batches, len(places)):
                yield line, 0, line.count
            return
        with contextlib.ExitStack() as stack:
            ends = [*starts[1:], size]
            # A handle per stretch (a few); many (a damaged file's) share one, each seeking.
            own = len(starts) <= MAX_HANDLES
            stretches = [_stretch(stack.enter_context(open(path, "rb", buffering=BUFFER, opener=no_links))
                                  if own else handle, start, end, batches, len(places), own)
                         for start, end in zip(starts, ends)]
            yield from _merged(stretches, places)


def _usable(raws: Iterator[bytes] | BinaryIO, batches: Batches, inputs: int) -> Iterator[FilesLine]:
    """The lines that name items to match: a committed file mini-batch's, with
    identities, of an input the run listed."""
    for raw in raws:
        line = files_line(raw)
        if line is not None and line.input < inputs and batches.committed(line.mb):
            yield line


def _stretch(handle: BinaryIO, start: int, end: int, batches: Batches, inputs: int,
             own: bool) -> Iterator[FilesLine]:
    """The usable lines from `start` to `end` (`own`: the handle is this stretch's alone,
    else each line is sought)."""
    def raws() -> Iterator[bytes]:
        offset = start
        handle.seek(offset)
        while offset < end:
            if not own:
                handle.seek(offset)
            raw = handle.readline()
            if not raw:
                return
            offset += len(raw)
            yield raw
    return _usable(raws(), batches, inputs)


def _stretches(handle: BinaryIO, size: int, batches: Batches, places: list[Placer]) -> list[int]:
    """Where each stretch of lines in listing order starts (the first at byte 0): a line
    whose first item comes before the previous line's last starts another."""
    starts = [0]
    last: Place | None = None
    offset = 0
    for raw in handle:
        found = bounds(raw)
        if found is not None and found[1] < len(places) and batches.committed(found[0]):
            place = places[found[1]]
            if last is not None and place(found[2]) <= last:
                starts.append(offset)
            last = place(found[3])
        offset += len(raw)
    return [start for start in starts if start < size]


def _merged(stretches: list[Iterator[FilesLine]], places: list[Placer]) -> Iterator[Block]:
    """The stretches' blocks in listing order: a line whole while it ends before every
    other stretch's next item, else cut there."""
    heap: list[tuple[Place, int, FilesLine, int]] = []
    for number, lines in enumerate(stretches):
        line = next(lines, None)
        if line is not None:
            heap.append((places[line.input](line.first()), number, line, 0))
    heapq.heapify(heap)
    while heap:
        _, number, line, start = heapq.heappop(heap)
        end = line.count
        place = places[line.input]
        if heap and (start or place(line.last()) >= heap[0][0]):
            item = item_places(line, place)
            end = max(bisect_left(item, heap[0][0], start, end), start + 1)
        yield line, start, end
        if end < line.count:
            heapq.heappush(heap, (item_places(line, place)[end], number, line, end))
            continue
        following = next(stretches[number], None)
        if following is not None:
            heapq.heappush(heap, (places[following.input](following.first()), number, following, 0))
