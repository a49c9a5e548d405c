"""Mini-batch lines read and written as text (runner/local/reuse/lines.py) against the
descriptor codec (runner/local/partition/descriptors.py): what is read without decoding
is what `decode` reads, what is written without encoding is what `encode` writes, for
any name (quotes, backslashes, the separators' own characters, non-ASCII, bytes that are
not UTF-8) and identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.local.partition.descriptors import ByteRange, FilesBatch, encode
from runner.local.reuse.commit import _reuse_field
from runner.local.reuse.lines import batch_text, bounds, files_line, reuse_line

# Names as the listing gives them (absolute paths; a byte that is not UTF-8 as a
# surrogate escape), with the characters the text forms must not be fooled by.
NAME = st.text(st.sampled_from(['a', 'b', '/', '"', '\\', ',', '[', ']', ' ', 'é', '\udc80', '\n', '\x7f']),
               min_size=1, max_size=6).map(lambda name: "/data/" + name)
PLAIN = st.text(st.sampled_from("ab/-.,[] 0"), min_size=1, max_size=6).map(lambda name: "/data/" + name)
INT_SIG = st.lists(st.integers(0, 2**40), min_size=2, max_size=2) | \
    st.tuples(st.integers(0, 99), st.integers(-2**63, 2**63 - 1)).map(list)
DIGEST_SIG = st.tuples(st.integers(0, 99), st.sampled_from(["ab12", "unreadable"])).map(list)
REUSE = st.fixed_dictionaries({"run": st.sampled_from(["r-1", 'r"2']), "range": st.tuples(st.integers(0, 10**12),
                                                                                          st.integers(0, 10**12)).map(list),
                               "items": st.integers(0, 999), "rows": st.integers(0, 999)},
                              optional={"pick": st.lists(st.integers(0, 99), max_size=4), "head": st.integers(1, 99)})
SETTINGS = settings(max_examples=300, deadline=None)


@st.composite
def batches(draw: Any, names: st.SearchStrategy[str] = NAME) -> FilesBatch:
    files = draw(st.lists(names, min_size=1, max_size=5))
    sig = draw(st.sampled_from([INT_SIG, DIGEST_SIG]))
    return FilesBatch(draw(st.integers(0, 10**6)), draw(st.integers(0, 12)), files,
                      [draw(sig) for _ in files], draw(st.none() | REUSE))


def _raw(batch: FilesBatch) -> bytes:
    return encode(batch).encode("ascii")  # the encoder writes ASCII only


@SETTINGS
@given(batch=batches())
def test_a_line_read_as_text_is_the_descriptor_decoded(batch: FilesBatch) -> None:
    line = files_line(_raw(batch))
    assert line is not None
    assert (line.mb, line.input, line.count, line.size) == (batch.id, batch.input, len(batch.files), len(batch.files))
    assert (line.first(), line.last()) == (batch.files[0], batch.files[-1])
    assert bounds(_raw(batch)) == (batch.id, batch.input, batch.files[0], batch.files[-1])
    assert line.same_names(batch.files)
    assert batch.sig is not None
    assert line.same_sigs(batch.sig) == (None, None)
    decoded = line.decoded()
    assert (decoded.files, decoded.sig) == (batch.files, batch.sig)


def _near(files: list[str]) -> list[list[str]]:
    """Lists of as many names as `files`, each its names but for the characters the
    text forms could confuse (a quote, a separator's, a name moved across one)."""
    near = [files]
    for i, name in enumerate(files):
        for other in (name + '"', '"' + name, name + ",", name + '","', name[:-1], name + "\\"):
            near.append([*files[:i], other, *files[i + 1:]])
    if len(files) > 1:
        near.append([files[0] + '","' + files[1], *files[2:], "/data/z"])
        near.append([files[0] + '"', '"' + files[1], *files[2:]])
    return near


@SETTINGS
@given(batch=batches(), data=st.data())
def test_names_are_the_same_only_when_they_are(batch: FilesBatch, data: st.DataObject) -> None:
    line = files_line(_raw(batch))
    assert line is not None
    now = data.draw(st.sampled_from(_near(batch.files)) | st.lists(NAME, min_size=len(batch.files),
                                                                 max_size=len(batch.files)))
    assert line.same_names(now) == (now == batch.files)


def test_names_joined_at_a_separator_are_not_the_names_apart() -> None:
    # `a","b` is one name holding the separator's characters: as many names as the
    # line's (2), the same text when joined, other names.
    line = files_line(_raw(FilesBatch(0, 0, ["/x/a", "/x/b", "/x/c"], [[0, 1]] * 3)))
    assert line is not None
    assert not line.same_names(['/x/a","/x/b', "/x/c", ""][:3])
    line = files_line(_raw(FilesBatch(0, 0, ['/x/a","/x/b', "/x/c"], [[0, 1]] * 2)))
    assert line is not None and line.names is None  # escaped: read decoded
    assert not line.same_names(["/x/a", '/x/b","/x/c'])


@SETTINGS
@given(batch=batches(), changed=st.sets(st.integers(0, 4)))
def test_changed_identities_are_told_apart_item_by_item(batch: FilesBatch, changed: set[int]) -> None:
    line = files_line(_raw(batch))
    assert line is not None and batch.sig is not None
    now = [[sig[0] + 1, sig[1]] if i in changed else list(sig) for i, sig in enumerate(batch.sig)]
    same, texts = line.same_sigs(now)
    expected = [i not in changed for i in range(len(now))]
    assert same == (None if all(expected) else expected)
    if texts is not None:  # each identity's text as the encoder writes it
        assert texts == [encode(FilesBatch(0, 0, ["x"], [sig]))[len('{"in":0,"files":["x"],"sig":[['):-len(']],"n":1,"id":0}\n')]
                         for sig in now]


@SETTINGS
@given(batch=batches(), reuse=REUSE, number=st.integers(0, 10**6))
def test_a_reuse_line_made_as_text_is_the_one_encode_writes(batch: FilesBatch, reuse: dict[str, Any],
                                                             number: int) -> None:
    line = files_line(_raw(batch))
    assert line is not None and batch.sig is not None
    expected = encode(FilesBatch(number, batch.input, batch.files, batch.sig, reuse))
    text = reuse_line(line, reuse)
    assert text is None and line.names is None or f"{text}{number}}}\n" == expected
    made = batch_text(batch.input, batch.files, batch.sig, reuse)
    assert made is None or f"{made}{number}}}\n" == expected


@SETTINGS
@given(batch=batches(PLAIN), reuse=REUSE)
def test_plain_names_are_never_encoded(batch: FilesBatch, reuse: dict[str, Any]) -> None:
    line = files_line(_raw(batch))
    assert batch.sig is not None and line is not None and line.names is not None
    assert reuse_line(line, reuse) is not None
    assert batch_text(batch.input, batch.files, batch.sig, reuse) is not None


@SETTINGS
@given(batch=batches())
def test_the_reuse_field_is_read_without_decoding_the_line(batch: FilesBatch) -> None:
    assert _reuse_field(_raw(batch), max(_raw(batch).find(b',"reuse":{'), 0), Path("m"), 1) == (batch.id, batch.reuse)


def test_a_table_range_s_reuse_field_is_read_too() -> None:
    reuse = {"run": "r", "range": [0, 10], "items": 2, "rows": 2}
    table = ByteRange(7, 0, "/d/t.csv", "csv", 0, 100, [0, 4], 2, [100, 5, 9], reuse=reuse)
    raw = encode(table).encode()
    assert _reuse_field(raw, raw.find(b',"reuse":{'), Path("m"), 1) == (7, reuse)
