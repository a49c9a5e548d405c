"""Where a CSV or JSON Lines file may be cut into mini-batches: at row boundaries, found
with the parser's own rules, in one streaming pass.

A byte range can only be parsed on its own if it starts where pandas' tokenizer would
start a record. A line end is not enough: a quoted field may hold line ends, the file may
end its lines with CR alone (old Mac exports), the header may follow blank lines. So the
driver reads each file once, in chunks, and follows the C tokenizer's quoting states
(`pandas/_libs/src/parser/tokenizer.c`): a quote opens a quoted field only at the start of
a field, `""` inside one is a quote, and any other quote is a literal character. Line ends
are LF, CRLF and CR. Records holding only spaces and tabs (but the delimiter) are blank,
and skipped, as pandas' `skip_blank_lines` does; the header is the first record that is
not blank.

Each range comes with the number of rows it holds, which the worker checks against what
pandas parsed: a file whose quoting the reader and the scanner see differently fails by
name, never with a lost or invented row.

Most chunks are checked and split with numpy in a few vector operations (every quote is
an opening, an escaped `""` or a closing one, so the count of quotes before a line end
says whether it is quoted); a chunk with a literal quote in an unquoted field is walked
token by token. Both are linear in the file's size.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"
_QUOTE, _LF, _CR = 0x22, 0x0A, 0x0D
_EOF = -1
# The tokenizer states followed across chunks (tokenizer.c's names).
START_FIELD, IN_FIELD, IN_QUOTED, QUOTE_IN_QUOTED = 0, 1, 2, 3


class Cut(NamedTuple):
    """Rows of one file whose records start in [start, end); `head` is the header
    record's byte span (prepended when the range is parsed), `rows` how many rows pandas
    must read from it (None: the file is not cut, and not counted)."""

    start: int
    end: int
    head: tuple[int, int] | None
    rows: int | None


def cuttable(fmt: str, delimiter: str, encoding: str) -> bool:
    """Whether byte-level cutting means what the parser means: a single-byte delimiter (a
    longer one is a regex to pandas), and an encoding that writes ASCII as ASCII."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    # Stateful encodings (ISO-2022, HZ) write ASCII bytes inside other characters.
    if name.startswith(("utf-16", "utf-32", "utf-7", "iso2022", "hz")) or \
            "\n\r\",".encode(encoding, "ignore") != b'\n\r",':
        return False
    return fmt == "jsonl" or (len(delimiter) == 1 and delimiter.isascii() and delimiter not in '"\r\n')


def cut_file(handle: IO[bytes], size: int, target: int, *, fmt: str, header: bool, delimiter: str,
             encoding: str) -> Iterator[Cut]:
    """The file's ranges, each at least `target` bytes (but the last), at row boundaries."""
    if not cuttable(fmt, delimiter, encoding):
        yield Cut(0, size, None, None)
        return
    scanner = _Scanner(delimiter.encode("ascii") if fmt == "csv" else None)
    cutter = _Cutter(max(1, target), header and fmt == "csv")
    buf = handle.read(CHUNK)
    base = 0
    if buf.startswith(_BOM):  # pandas drops it: what follows starts the first record
        buf, base = buf[len(_BOM):] + handle.read(len(_BOM)), len(_BOM)
    while True:
        more = handle.read(CHUNK) if len(buf) else b""
        final = not more
        ends, nonblank = scanner.records(buf, base, final)
        yield from cutter.feed(ends, nonblank)
        if final:
            break
        # The last byte waits for the next chunk: a CR may be half of a CRLF, a quote
        # half of an escaped "".
        base += len(buf) - 1
        buf = buf[-1:] + more
    yield from cutter.finish(size, scanner.open_nonblank)


class _Scanner:
    """Record ends of one file, chunk by chunk, with the tokenizer's state carried over."""

    def __init__(self, delimiter: bytes | None) -> None:
        self.delimiter = delimiter  # None: JSON Lines, where only LF ends a record
        self.state = START_FIELD
        self.prev = _LF  # the byte before the next chunk: the file starts a record
        self.open_nonblank = False  # whether it holds anything but spaces and tabs
        # What a blank line may hold: spaces and tabs, unless one is the delimiter (then a
        # line of it is a row of empty fields, to pandas), and the CR of a CRLF.
        self.blank = tuple(c for c in (0x20, 0x09) if delimiter is None or c != delimiter[0]) + (_CR, _LF)
        if delimiter is not None:
            self._special = re.compile(b'["\r\n' + re.escape(delimiter) + b"]")

    def records(self, buf: bytes, base: int, final: bool) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """For each record ending in buf[:n] (n: all of it when final, else all but the
        last byte): where the next record starts (absolute), and whether it is not blank."""
        import numpy as np

        n = len(buf) if final else len(buf) - 1
        data = np.frombuffer(buf, dtype=np.uint8)
        if n <= 0:
            return np.empty(0, np.int64), np.empty(0, np.bool_)
        terms = self._terminators(buf, data, n)
        if self.delimiter is not None:
            terms = self._unquoted(buf, data, terms, n)
        self.prev = buf[n - 1]
        return self._blank_marks(data, terms, n, base)

    def _terminators(self, buf: bytes, data: npt.NDArray[np.uint8], n: int) -> npt.NDArray[np.int64]:
        """Positions in [0, n) of LF, and of CR not followed by LF (the LF of a CRLF
        ends it; the CR is then part of the record, and blank-like)."""
        import numpy as np

        body = data[:n]
        lf = body == _LF
        if self.delimiter is None:
            return np.flatnonzero(lf).astype(np.int64)
        following = data[1:n + 1] if n < len(buf) else np.append(data[1:n], np.uint8(0))
        lone_cr = (body == _CR) & (following != _LF)
        return np.flatnonzero(lf | lone_cr).astype(np.int64)

    def _unquoted(self, buf: bytes, data: npt.NDArray[np.uint8], terms: npt.NDArray[np.int64],
                  n: int) -> npt.NDArray[np.int64]:
        """The terminators that end a record (not inside a quoted field)."""
        import numpy as np

        quotes = np.flatnonzero(data[:n] == _QUOTE).astype(np.int64)
        entry_quoted = self.state == IN_QUOTED
        if len(quotes) == 0 and self.state != QUOTE_IN_QUOTED:
            self.state = self._state_after(buf, n, entry_quoted)
            return np.empty(0, np.int64) if entry_quoted else terms
        if self._regular(buf, data, quotes, n, entry_quoted):
            inside: npt.NDArray[np.int64] = (np.searchsorted(quotes, terms) + int(entry_quoted)) & 1
            quoted_end = (len(quotes) + int(entry_quoted)) & 1 == 1
            self.state = self._state_after(buf, n, quoted_end)
            unquoted: npt.NDArray[np.int64] = terms[inside == 0]
            return unquoted
        return np.array(self._walk(buf, n), dtype=np.int64)

    def _regular(self, buf: bytes, data: npt.NDArray[np.uint8], quotes: npt.NDArray[np.int64], n: int,
                 entry_quoted: bool) -> bool:
        """Whether every quote in the chunk opens a field, closes one, or is half of an
        escaped "": then quote parity alone says what is quoted."""
        import numpy as np

        if self.state == IN_FIELD and self.prev == _QUOTE:
            return False  # a literal quote just before: the parity rule would misread it
        assert self.delimiter is not None
        delim = self.delimiter[0]
        prev = np.where(quotes > 0, data[np.maximum(quotes - 1, 0)], self.prev)
        after = quotes + 1
        nxt = np.where(after < len(buf), data[np.minimum(after, len(buf) - 1)].astype(np.int64), _EOF)
        opening = ((np.arange(len(quotes)) + int(entry_quoted)) & 1) == 0
        open_ok = np.isin(prev, (delim, _LF, _CR, _QUOTE))
        close_ok = np.isin(nxt, (delim, _LF, _CR, _QUOTE, _EOF))
        return bool(np.all(np.where(opening, open_ok, close_ok)))

    def _state_after(self, buf: bytes, n: int, quoted: bool) -> int:
        last = buf[n - 1]
        if quoted:
            return IN_QUOTED
        if last == _QUOTE:
            return QUOTE_IN_QUOTED
        assert self.delimiter is not None
        return START_FIELD if last in (self.delimiter[0], _LF, _CR) else IN_FIELD

    def _walk(self, buf: bytes, n: int) -> list[int]:
        """The tokenizer's states, token by token (a quoted field is skipped whole)."""
        state, terms, i = self.state, [], 0
        while i < n:
            if state == IN_QUOTED:
                j = buf.find(b'"', i, n)
                if j < 0:
                    break
                state, i = QUOTE_IN_QUOTED, j + 1
                continue
            match = self._special.search(buf, i, n)
            j = match.start() if match else n
            if j > i:  # ordinary characters: inside an unquoted field now
                state = IN_FIELD
            if match is None:
                break
            c = buf[j]
            if c == _QUOTE:
                state = IN_QUOTED if state in (START_FIELD, QUOTE_IN_QUOTED) else IN_FIELD
            elif c == _LF or (c == _CR and (j + 1 >= len(buf) or buf[j + 1] != _LF)):
                terms.append(j)
                state = START_FIELD
            elif c != _CR:  # the delimiter (the CR of a CRLF changes nothing)
                state = START_FIELD
            i = j + 1
        self.state = state
        return terms

    def _blank_marks(self, data: npt.NDArray[np.uint8], terms: npt.NDArray[np.int64], n: int, base: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Record ends as absolute offsets, and whether each record is not blank."""
        import numpy as np

        solid = ~np.isin(data[:n], self.blank)
        counts = np.concatenate(([0], np.cumsum(solid, dtype=np.int64)))
        begins = np.concatenate(([0], terms[:-1] + 1))
        nonblank = (counts[terms] - counts[begins]) > 0
        if len(terms):
            nonblank[0] |= self.open_nonblank
            tail = int(terms[-1]) + 1
            self.open_nonblank = bool(counts[-1] - counts[tail] > 0)
        else:
            self.open_nonblank = self.open_nonblank or bool(counts[-1] > 0)
        return terms + 1 + base, nonblank


class _Cutter:
    """Turns record ends into ranges of at least `target` bytes, holding each back until
    the next is known, so that a tail of blank lines joins the range before it."""

    def __init__(self, target: int, header: bool) -> None:
        self.target = target
        self.want_header = header
        self.head: tuple[int, int] | None = None
        self.start = 0
        self.rows = 0
        self.record_start = 0  # where the next record starts
        self.pending: Cut | None = None

    def feed(self, ends: npt.NDArray[np.int64], nonblank: npt.NDArray[np.bool_]) -> Iterator[Cut]:
        import numpy as np

        i = 0
        if self.want_header and self.head is None and len(ends):
            found = np.flatnonzero(nonblank)
            if not len(found):
                self.record_start = int(ends[-1])
                return
            k = int(found[0])
            begin = int(ends[k - 1]) if k else self.record_start
            self.head = (begin, int(ends[k]))
            self.start, i = int(ends[k]), k + 1
        while i < len(ends):
            j = int(np.searchsorted(ends[i:], self.start + self.target)) + i
            if j >= len(ends):
                self.rows += int(np.count_nonzero(nonblank[i:]))
                break
            self.rows += int(np.count_nonzero(nonblank[i:j + 1]))
            yield from self._emit(int(ends[j]))
            i = j + 1
        if len(ends):
            self.record_start = int(ends[-1])

    def _emit(self, end: int) -> Iterator[Cut]:
        if self.pending is not None:
            yield self.pending
        self.pending = Cut(self.start, end, self.head, self.rows)
        self.start, self.rows = end, 0

    def finish(self, size: int, open_nonblank: bool) -> Iterator[Cut]:
        if self.want_header and self.head is None:
            if open_nonblank:  # a file whose only record is its header
                self.head, self.start = (self.record_start, size), size
            yield Cut(self.start, size, self.head, 0)
            return
        rows = self.rows + int(open_nonblank)
        if self.pending is not None and rows == 0:
            yield self.pending._replace(end=size)  # only blank lines after it
            return
        if self.pending is not None:
            yield self.pending
        yield Cut(self.start, size, self.head, rows)
