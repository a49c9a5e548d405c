"""Cutting CSV and JSON Lines files at row boundaries: the rows read across a file's
ranges are exactly what one pandas parse of the whole file yields."""

from __future__ import annotations

import io
import warnings

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.local.partition import rowscan
from runner.local.partition.rowscan import Cut, cut_file


def _cuts(data: bytes, target: int, *, header: bool = True, fmt: str = "csv", delimiter: str = ",",
          chunk: int | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> list[Cut]:
    if chunk is not None and monkeypatch is not None:
        monkeypatch.setattr(rowscan, "CHUNK", chunk)
    return list(cut_file(io.BytesIO(data), len(data), target, fmt=fmt, header=header, delimiter=delimiter,
                         encoding="utf-8"))


def _parse(data: bytes, header: bool, delimiter: str = ",") -> pd.DataFrame:
    if not data.removeprefix(b"\xef\xbb\xbf").strip(b" \t\r\n".replace(delimiter.encode(), b"")):
        return pd.DataFrame()  # pandas: "No columns to parse from file"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a row longer than the header loses data: fail
        return pd.read_csv(io.BytesIO(data), sep=delimiter, header=0 if header else None, dtype=str,
                           keep_default_na=False, index_col=False, encoding="utf-8")


def _rows_by_cuts(data: bytes, cuts: list[Cut], header: bool, delimiter: str = ",") -> list[list[str]]:
    rows: list[list[str]] = []
    for cut in cuts:
        head = data[cut.head[0]:cut.head[1]] if cut.head else b""
        frame = _parse(head + data[cut.start:cut.end], header and (cut.head is not None or cut.start == 0),
                       delimiter)
        assert cut.rows is None or len(frame) == cut.rows, (cut, frame)
        rows.extend(frame.values.tolist())
    return rows


def _assert_reconciles(data: bytes, target: int, header: bool) -> list[Cut]:
    cuts = _cuts(data, target, header=header)
    assert cuts[0].start in (0, cuts[0].head[1] if cuts[0].head else 0)
    for before, after in zip(cuts, cuts[1:]):
        assert before.end == after.start
    assert cuts[-1].end == len(data)
    assert _rows_by_cuts(data, cuts, header) == _parse(data, header).values.tolist()
    return cuts


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_end_gives_each_row_once(eol: bytes) -> None:
    data = eol.join([b"id,name"] + [b"%d,row %d" % (i, i) for i in range(500)]) + eol
    cuts = _assert_reconciles(data, 300, header=True)
    assert len(cuts) > 10
    assert sum(c.rows or 0 for c in cuts) == 500


def test_blank_first_lines_and_bom_before_the_header() -> None:
    data = b"\xef\xbb\xbf\n  \n\r\nid,x\n" + b"".join(b"%d,%d\n\n" % (i, i) for i in range(300))
    cuts = _assert_reconciles(data, 64, header=True)
    assert sum(c.rows or 0 for c in cuts) == 300


def test_quoted_newlines_are_never_cut() -> None:
    rows = [b'%d,"line one\nline two, ""quoted""\r\nthree"' % i if i % 7 == 0 else b"%d,plain" % i
            for i in range(400)]
    data = b"id,text\n" + b"\n".join(rows) + b"\n"
    cuts = _assert_reconciles(data, 100, header=True)
    assert sum(c.rows or 0 for c in cuts) == 400


def test_a_literal_quote_in_an_unquoted_field_is_read_as_pandas_reads_it() -> None:
    data = b'a,b\n1,x"y\n"q\nq",5\n' * 50
    _assert_reconciles(data, 10, header=False)


def test_a_file_without_line_ends_is_one_range_in_linear_time() -> None:
    data = b"a," * 200_000
    assert len(_cuts(data, 1000, header=False)) == 1


def test_an_unclosed_quote_keeps_the_rest_of_the_file_in_one_range() -> None:
    data = b"a,b\n" + b"1,2\n" * 100 + b'3,"open\n' + b"4,5\n" * 100
    cuts = _cuts(data, 40, header=True)
    assert cuts[-1].end == len(data) and b'"open' in data[cuts[-1].start:cuts[-1].end]
    assert b"4,5\n" * 100 in data[cuts[-1].start:]


def test_json_lines_cut_at_line_feeds_and_count_non_blank_lines() -> None:
    data = b"".join(b'{"a": %d, "t": "x\\ny"}\n\n' % i for i in range(200))
    cuts = _cuts(data, 100, header=False, fmt="jsonl")
    frames = [pd.read_json(io.BytesIO(data[c.start:c.end]), lines=True) for c in cuts]
    assert [len(f) for f in frames] == [c.rows for c in cuts]
    assert pd.concat(frames)["a"].tolist() == list(range(200))


def test_chunk_boundaries_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b'h1,h2\r\n' + b''.join(b'%d,"a\r\nb""c"\r\n' % i for i in range(60))
    expected = _parse(data, True).values.tolist()
    for chunk in (2, 3, 5, 7, 16):
        cuts = _cuts(data, 30, chunk=chunk, monkeypatch=monkeypatch)
        assert _rows_by_cuts(data, cuts, True) == expected, chunk


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "iso-2022-jp", "hz"])
def test_encodings_it_cannot_cut_are_one_uncounted_range(encoding: str) -> None:
    """Not ASCII as ASCII, or stateful: ISO-2022-JP writes 'が※' as the bytes $,"( ."""
    data = "a,b\n1,が※\n".encode(encoding)
    assert list(cut_file(io.BytesIO(data), len(data), 2, fmt="csv", header=True, delimiter=",",
                         encoding=encoding)) == [Cut(0, len(data), None, None)]


@pytest.mark.parametrize("delimiter", ["\t", " "])
def test_a_line_of_whitespace_holding_the_delimiter_is_a_row(delimiter: str) -> None:
    other = "\t" if delimiter == " " else "  "  # whitespace that is not the delimiter: a blank line
    data = f"a{delimiter}b\n1{delimiter}2\n{delimiter}\n{other}\n\n3{delimiter}4\n".encode()
    cuts = _cuts(data, 4, delimiter=delimiter)
    assert sum(c.rows or 0 for c in cuts) == 3
    assert _rows_by_cuts(data, cuts, True, delimiter) == _parse(data, True, delimiter).values.tolist()


_FIELD = st.one_of(
    st.text(alphabet="ab ,\"\n\r\t;", max_size=6),
    st.sampled_from(["", " ", "x", '"', '""', "a\nb", "a\r\nb", "é"]),
)


@st.composite
def _csv(draw: st.DrawFn) -> tuple[bytes, bool, str]:
    header = draw(st.booleans())
    sep = draw(st.sampled_from([",", ",", "\t", ";", " "]))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    width = draw(st.integers(1, 4))
    quirk = eol == "\r" and sep in " \t"  # see the blank lines below
    quote_all = draw(st.booleans())

    def field(value: str) -> str:
        if quote_all or any(c in value for c in sep + '"\n\r') or value.strip() != value or not value:
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = []
    if header:
        lines.append(sep.join(f"c{i}" for i in range(width)))
    for _ in range(draw(st.integers(0, 25))):
        # pandas' own quirk, not drawn: after a blank line ended by a lone CR, a line that
        # starts with a whitespace delimiter loses its first field ('\r  \r' is 2 fields,
        # '  \r' is 3); a range starting at that line reads 3, as every other layout does.
        if draw(st.integers(0, 9)) == 0 and not quirk:
            # A blank line (one holding the delimiter is a row of empty fields: ragged
            # without a header, which a range may read differently, so not drawn here).
            lines.append(draw(st.sampled_from([b for b in ("", "  ", "\t", " \t") if sep not in b])))
            continue
        count = width if header else width  # ragged rows: shorter ones, which pandas pads
        count = draw(st.integers(1, count)) if header and draw(st.booleans()) else count
        lines.append(sep.join(field(draw(_FIELD)) for _ in range(count)))
    bom = "\ufeff" if draw(st.booleans()) else ""
    spaces = "\t\t" if sep == " " else "  "  # blank: no delimiter in it
    leading = "" if quirk else draw(st.sampled_from(["", eol, eol + spaces + eol]))
    text = bom + leading + eol.join(lines) + (eol if draw(st.booleans()) else "")
    return text.encode("utf-8"), header, sep


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_csv(), st.integers(1, 120), st.sampled_from([3, 7, 64, 1 << 20]))
def test_generated_csvs_reconcile_with_one_full_parse(case: tuple[bytes, bool, str], target: int, chunk: int) -> None:
    data, header, sep = case
    try:
        expected = _parse(data, header, sep).values.tolist()
    except (pd.errors.ParserError, Warning):
        return  # pandas cannot read the whole file either: the range holding the fault fails
    old = rowscan.CHUNK
    rowscan.CHUNK = chunk
    try:
        cuts = list(cut_file(io.BytesIO(data), len(data), target, fmt="csv", header=header, delimiter=sep,
                             encoding="utf-8"))
    finally:
        rowscan.CHUNK = old
    assert _rows_by_cuts(data, cuts, header, sep) == expected
