"""An earlier run's file mini-batch lines read as text, not decoded: item reuse compares
a whole mini-batch's names and identities with the listing's in two string comparisons,
and copies them into this run's `reuse` line, where decoding each line's hundred names
and identities into Python objects (json.loads) was most of an incremental apply's
matching. The line format is runner/local/partition/descriptors.py's; what this module
relies on of it, checked by tests/local/reuse/test_lines.py against `encode`:

- a files line is `{"in":<input>,"files":[<names>],("reuse":{...},)?"sig":[<sigs>],
  "n":<count>,"id":<id>}`, compact and ASCII only, keys in that order;
- a `"` inside a JSON string is always escaped (`\\"`), so `","`, `],"reuse":{` and
  `,"sig":[` outside a name are the line's own; a name region with no backslash holds
  names written as they are, each between quotes and separated by `","`.

A line that is not so (another writer's, a name that needed escaping) is decoded as
before: what is read fast is only ever a shortcut to the same decision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from json.encoder import encode_basestring_ascii
from typing import Any

from runner.local.partition.descriptors import FilesBatch, decode, task_fields

_PREFIX = b'{"in":'
_FILES = b',"files":["'
_REUSE = b'],"reuse":{'
_SIG = b',"sig":['
_COMPACT = json.JSONEncoder(separators=(",", ":")).encode
_WHOLE = ["run", "range", "items", "rows"]
_WHOLE_HEAD = [*_WHOLE, "head"]


@dataclass(slots=True)
class FilesLine:
    """One file mini-batch line of an earlier run: its id, input, names and identities
    (`count` items). `names`/`sigs` are [start, end) spans of `text` (its names between
    the first and last quote, its identities inside the outer brackets) when the line
    is in the plain form above; otherwise (or once asked for) `files` and `sig` hold
    them decoded, as many of each as both have (a damaged line's extra names are not
    offered)."""

    mb: int
    input: int
    count: int
    text: str = ""
    names: tuple[int, int] | None = None
    sigs: tuple[int, int] | None = None
    files: list[str] | None = None
    sig: list[Any] | None = None
    size: int = 0  # the names the line holds (its mini-batch's items, offered or not)
    places: list[tuple[int, str]] | None = field(default=None, repr=False)

    def first(self) -> str:
        if self.files is not None:
            return self.files[0]
        assert self.names is not None
        start, end = self.names
        return self.text[start:self.text.find('"', start, end) if self.count > 1 else end]

    def last(self) -> str:
        if self.files is not None:
            return self.files[self.count - 1]
        assert self.names is not None
        start, end = self.names
        return self.text[self.text.rfind('"', start, end) + 1 if self.count > 1 else start:end]

    def decoded(self) -> FilesLine:
        """Its names and identities as lists (the slow way, for lines compared item by
        item): a plain line's names split at their separators, its identities parsed."""
        if self.files is None:
            assert self.names is not None and self.sigs is not None
            self.files = self.text[self.names[0]:self.names[1]].split('","')
            self.sig = json.loads(f"[{self.text[self.sigs[0]:self.sigs[1]]}]")
        return self

    def same_names(self, names: list[str]) -> bool:
        """Whether `names` (as many as the line's items) are the line's, in order."""
        if self.names is None:
            return self.decoded().files == names
        start, end = self.names
        # Without a backslash in the region every quote there is a separator's, so equal
        # text means as many names, each equal (a name now holding a quote adds quotes).
        return '","'.join(names) == self.text[start:end]

    def same_sigs(self, sigs: list[Any]) -> tuple[list[bool] | None, list[str] | None]:
        """None when every identity of `sigs` is the line's; else which are. Then also
        each identity's text as the encoder writes it (inside its brackets) where it was
        written so to compare."""
        if self.sigs is not None:
            start, end = self.sigs
            mine, then = _sig_text(sigs), self.text[start:end]
            if mine == then:
                return None, None
            # Item by item, still as text: the text of a pair is its value's (no pair's
            # text holds "],[" where both sides split into as many pairs as items).
            ours, theirs = mine[1:-1].split("],["), then[1:-1].split("],[")
            if len(ours) == len(theirs) == len(sigs):
                return [a == b for a, b in zip(ours, theirs)], ours
        earlier = self.decoded().sig
        assert earlier is not None
        same = [now == then for now, then in zip(sigs, earlier)]
        return None if all(same) else same, None


def _sig_text(sigs: list[Any]) -> str:
    """Identities as the descriptor encoder writes them: pairs of ints (as the listing
    makes them from a stat) as their decimals, as JSON has them; anything else by that
    encoder itself."""
    if sigs and len(sigs[0]) == 2 and type(sigs[0][1]) is int:
        try:
            return _pairs(len(sigs)) % tuple(chain.from_iterable(sigs))
        except TypeError:  # not all pairs
            pass
    return _COMPACT(sigs)[1:-1]


@lru_cache(maxsize=64)
def _pairs(count: int) -> str:
    return ",".join(["[%d,%d]"] * count)


def files_line(raw: bytes) -> FilesLine | None:
    """A file mini-batch line as FilesLine (None: another descriptor, or one without
    identities or names). A line not in the plain form is decoded."""
    if raw.startswith(_PREFIX):
        line = _plain(raw)
        if line is not None:
            return line
    descriptor = decode(raw)
    if not isinstance(descriptor, FilesBatch) or descriptor.sig is None or not descriptor.files:
        return None
    pairs = list(zip(descriptor.files, descriptor.sig))
    if not pairs:
        return None
    return FilesLine(descriptor.id, descriptor.input, len(pairs), files=[name for name, _ in pairs],
                     sig=[sig for _, sig in pairs], size=len(descriptor.files))


def _plain(raw: bytes) -> FilesLine | None:
    """The spans of a plain line (None: not one; it is then decoded)."""
    spans = _spans(raw)
    if spans is None:
        return None
    index, start, end, sigs = spans
    if raw.find(b"\\", start, end) >= 0:
        return None
    quotes = raw.count(b'"', start, end)  # a separator's two each, in a region without escapes
    count = quotes // 2 + 1
    if quotes % 2 or raw.count(b"[", *sigs) != count:
        return None  # as many identities as names (a pair opens with its only bracket), or decoded (zip)
    try:
        text = raw.decode("ascii")
        mb, _ = task_fields(raw, "file")
    except ValueError:  # UnicodeDecodeError too: not what the encoder writes
        return None
    return FilesLine(mb, index, count, text, (start, end), sigs, size=count)


def _spans(raw: bytes) -> tuple[int, int, int, tuple[int, int]] | None:
    """A plain line's input, the span of its names (inside the outer quotes) and of its
    identities (inside the outer brackets)."""
    cut = raw.find(_FILES, 6, 32)
    tail = raw.rfind(b',"n":')
    sig = raw.rfind(_SIG, 0, tail)
    if cut < 0 or tail < 0 or sig < 0 or raw[tail - 1:tail] != b"]":
        return None
    start = cut + len(_FILES)
    # The names' closing bracket: before the identities, or before `reuse` (just before them).
    close = sig - 1 if raw[sig - 2:sig] == b'"]' else raw.rfind(_REUSE, start, sig)
    if close < start or raw[close - 1:close + 1] != b'"]':
        return None
    try:
        index = int(raw[6:cut])
    except ValueError:
        return None
    return index, start, close - 1, (sig + len(_SIG), tail - 1)


def bounds(raw: bytes) -> tuple[int, int, str, str] | None:
    """A file mini-batch line's id, input, first and last name, read without decoding it
    (to find the stretches of a file); None for another descriptor or one with no items.
    A line not in the plain form, or whose first or last name is escaped, is decoded."""
    spans = _spans(raw) if raw.startswith(_PREFIX) else None
    if spans is not None:
        index, start, end, _ = spans
        quote = raw.find(b'"', start, end)
        # A quote preceded by a backslash is a name's own: such a line is decoded.
        after = raw.rfind(b'"', start, end) + 1 if quote >= 0 else start
        first, last = raw[start:quote if quote >= 0 else end], raw[after:end]
        if b"\\" not in first and b"\\" not in last and raw[after - 2:after] != b'\\"':
            try:
                mb, _ = task_fields(raw, "file")
                return mb, index, first.decode("ascii"), last.decode("ascii")
            except ValueError:
                pass
    line = files_line(raw)
    if line is None:
        return None
    return line.mb, line.input, line.first(), line.last()


def reuse_line(line: FilesLine, reuse: dict[str, Any]) -> str | None:
    """`line`'s items as this run's `reuse` line, up to its id (the writer adds
    `<id>}` and the line break): the same text `encode` writes for a FilesBatch of these
    names and identities. None for a decoded line (made by `encode`)."""
    if line.names is None or line.sigs is None:
        return None
    text = line.text
    names, sigs = line.names, line.sigs
    return (f'{{"in":{line.input},"files":["{text[names[0]:names[1]]}"],"reuse":{reuse_text(reuse)},'
            f'"sig":[{text[sigs[0]:sigs[1]]}],"n":{line.count},"id":')


def batch_text(index: int, names: list[str], sigs: list[Any], reuse: dict[str, Any],
               texts: list[str] | None = None) -> str | None:
    """A `reuse` line of these names and identities up to its id, as `encode` writes it,
    without encoding each name: None where a name would be escaped (it is then encoded).
    `texts`: the identities' texts (inside their brackets) where they were made."""
    joined = '","'.join(names)
    if not (joined.isascii() and joined.isprintable() and "\\" not in joined
            and joined.count('"') == 2 * len(names) - 2):
        return None
    sig = f"[{'],['.join(texts)}]" if texts is not None else _sig_text(sigs)
    return (f'{{"in":{index},"files":["{joined}"],"reuse":{reuse_text(reuse)},"sig":[{sig}],'
            f'"n":{len(names)},"id":')


def reuse_text(reuse: dict[str, Any]) -> str:
    """A `reuse` field as the descriptor encoder writes it: a whole mini-batch's (the
    commonest, a run id and ints) by hand, anything else (`pick`) by that encoder."""
    if list(reuse) in (_WHOLE, _WHOLE_HEAD) and isinstance(reuse["run"], str) \
            and all(type(reuse[key]) is int for key in _WHOLE_HEAD[2:] if key in reuse) \
            and [type(number) for number in reuse["range"]] == [int, int]:
        head = f',"head":{reuse["head"]}' if "head" in reuse else ""
        start, end = reuse["range"]
        return (f'{{"run":{encode_basestring_ascii(reuse["run"])},"range":[{start},{end}],'
                f'"items":{reuse["items"]},"rows":{reuse["rows"]}{head}}}')
    return _COMPACT(reuse)
