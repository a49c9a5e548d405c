"""The mini-batch descriptor's line format, in-process: round-trips, lines as earlier runs
wrote them, and the driver's quick read agreeing with the full parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.local.partition.descriptors import (ByteRange, Descriptor, DescriptorError, FilesBatch, Partition, RowGroups,
                                      decode, encode, files_of, from_fields, task_fields, to_fields)
from runner.local.partition.sources import Partitioner
from runner.plan.references import InputPlan

AWKWARD = ['say "hi",', "a,b", 'x,"n":9,"id":4}', '"n":1', "]},", "}{:}}", "back\\slash", "tab\there",
           "new\nline", "é/ü/名前.png", "emoji 😀", "\u2028", "", " ", "\udcff undecodable"]

EXAMPLES: list[Descriptor] = [
    FilesBatch(0, 0, ["/data/a.png", "/data/b.png"]),
    FilesBatch(7, 1, AWKWARD),
    ByteRange(3, 0, "/data/t.csv", "csv", 0, 4096),
    ByteRange(4, 2, '/data/"odd", é.jsonl', "jsonl", 4096, 5000),
    ByteRange(10, 0, "/data/t.csv", "csv", 20, 4096, [3, 20], 112, [9000, 1700000000123456789, 42]),
    ByteRange(11, 0, "/data/old.csv", "csv", 0, 4096, exact=False),
    RowGroups(13, 0, "/data/p.parquet", [0], None, [1, 2, 3]),
    RowGroups(5, 0, "/data/p.parquet", [0, 1, 2]),
    RowGroups(6, 0, "/data/bad.parquet", [], "Parquet magic bytes not found"),
    Partition(8, 0, {"month": "01", "n": '"n":3'}, ["/data/2024/01/a.csv"]),
    Partition(9, 1, {"year": "2024"}, ["/data/2024/x.png", "/data/2024/y.png"], by_path=True),
    # An incremental step's: identities, and rows reused from an earlier run.
    FilesBatch(12, 0, ["/data/a.png", "/data/b.png"], [[10, 1700000000123456789], [11, "ab" * 32]]),
    FilesBatch(14, 0, ["/data/a.png"], [[10, 17]], {"run": "job-1", "range": [0, 40], "items": 1, "rows": 1,
                                                     "pick": [3], "head": 6}),
    ByteRange(15, 0, "/data/t.csv", "csv", 20, 4096, [3, 20], 112, [9000, 17, 42], reuse={
        "run": "job-1", "range": [6, 900], "items": 112, "rows": 112}, digest="cd" * 32),
    RowGroups(16, 0, "/data/p.parquet", [0], None, [1, 2, 3], {"run": "job-1", "range": [0, 80], "items": 5,
                                                               "rows": 5}),
]


@pytest.mark.parametrize("descriptor", EXAMPLES, ids=lambda d: type(d).__name__)
def test_each_kind_round_trips_through_its_line(descriptor: Descriptor) -> None:
    line = encode(descriptor)
    assert line.endswith("}\n") and line.count("\n") == 1 and line.isascii()
    assert decode(line) == descriptor
    assert decode(line.encode()) == descriptor
    assert from_fields(json.loads(line)) == descriptor


def test_lines_are_byte_for_byte_what_earlier_runs_wrote() -> None:
    """The format before this module (dicts dumped compactly): old run folders resume and
    a resumed step's manifest reads the same."""
    assert encode(FilesBatch(2, 0, ["a", "é"])) == '{"in":0,"files":["a","\\u00e9"],"n":2,"id":2}\n'
    assert encode(ByteRange(1, 0, "t.csv", "csv", 10, 20, exact=False)) == \
        '{"in":0,"path":"t.csv","fmt":"csv","start":10,"end":20,"id":1}\n'
    assert encode(RowGroups(0, 1, "p.pq", [0, 1])) == \
        '{"in":1,"path":"p.pq","fmt":"parquet","row_groups":[0,1],"id":0}\n'
    assert encode(RowGroups(0, 1, "p.pq", [], "bad")) == \
        '{"in":1,"path":"p.pq","fmt":"parquet","row_groups":[],"unreadable":"bad","id":0}\n'
    assert encode(Partition(3, 0, {"k": "v"}, ["f"], by_path=True)) == \
        '{"in":0,"keys":{"k":"v"},"files":["f"],"by_path":true,"n":1,"id":3}\n'
    assert encode(ByteRange(1, 0, "t.csv", "csv", 10, 20, [0, 10], 3, [20, 7, 9])) == \
        '{"in":0,"path":"t.csv","fmt":"csv","start":10,"end":20,"head":[0,10],"rows":3,"sig":[20,7,9],"id":1}\n'
    assert encode(Partition(2, 0, {"k": "v"}, ["a"], False, [[1, 2, 3]])) == \
        '{"in":0,"keys":{"k":"v"},"files":["a"],"sig":[[1,2,3]],"n":1,"id":2}\n'
    for descriptor in EXAMPLES:  # the order of the keys is the line's: what the manifest shows
        assert list(to_fields(descriptor)) == list(json.loads(encode(descriptor)))


def test_lines_of_older_runs_still_decode() -> None:
    """Before the file count was written the id came last (or, first) and there was no "n"."""
    assert decode('{"in":0,"files":["a","b"],"id":5}') == FilesBatch(5, 0, ["a", "b"])
    assert decode('{"id":5,"in":0,"files":["a"]}\n') == FilesBatch(5, 0, ["a"])
    assert decode('{"in":0,"keys":{"k":"v"},"files":["f"],"id":1}') == Partition(1, 0, {"k": "v"}, ["f"])
    assert decode('{"in":0,"path":"p","fmt":"parquet","row_groups":[1],"id":2}') == RowGroups(2, 0, "p", [1])
    assert decode('{"id":3,"in":0,"path":"t","fmt":"jsonl","start":0,"end":9}') == \
        ByteRange(3, 0, "t", "jsonl", 0, 9, exact=False)  # cut before ranges were exact: aligned by the reader


@pytest.mark.parametrize("line", ["", "not json", "[1, 2]", '{"in": 0, "files": ["a"]}', '{"id": 1, "in": 0}',
                                  '{"id": 1, "in": 0, "keys": 3, "files": []}'])
def test_what_is_not_a_descriptor_is_refused_clearly(line: str) -> None:
    with pytest.raises(DescriptorError, match="not a mini-batch descriptor"):
        decode(line)


def test_files_of_and_the_fields_on_the_line() -> None:
    assert files_of(FilesBatch(0, 0, ["a"])) == ["a"] and files_of(ByteRange(0, 0, "t", "csv", 0, 1)) is None
    assert files_of(Partition(0, 0, {}, ["p"])) == ["p"] and files_of(RowGroups(0, 0, "p", [])) is None
    fields = to_fields(Partition(4, 0, {"k": "v"}, ["f"]))
    assert (fields["id"], fields["in"], fields["keys"], fields["files"], fields["n"]) == (4, 0, {"k": "v"}, ["f"], 1)


def test_the_partitioner_numbers_descriptors_across_inputs_and_renumbers_a_manifest(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / "in" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_text("x")
    manifest = tmp_path / "failed_items.jsonl"
    entries = [{"mini_batch": {"in": 0, "files": ["/x/1", "/x/2"], "n": 2, "id": 40}, "failed_files": ["/x/2"]},
               {"mini_batch": {"in": 3, "path": "/t.csv", "fmt": "csv", "start": 0, "end": 9, "id": 41}}]
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))
    parts = Partitioner(2, None)
    made = list(parts.descriptors([InputPlan("d", "file", str(tmp_path / "in")),
                                   InputPlan("m", "file", str(manifest), manifest=True)]))
    assert [d.id for d in made] == [0, 1, 2, 3] and parts.count == 4
    assert made[2] == FilesBatch(2, 1, ["/x/2"])  # only the file known to have failed
    assert made[3] == ByteRange(3, 1, "/t.csv", "csv", 0, 9, exact=False)
    assert parts.items == 3 + 1


# Names built from pieces of the line's own syntax, so `,"n":1,"id":2}` can appear inside.
NAMES = st.lists(st.sampled_from([*'ab",[]{}:\\ é/\n', "n", "id", '"n":', ',"id":', "}", "\u2028", "😀", "\udcff",
                                  "0", "12"]), max_size=10).map("".join)


@given(st.lists(NAMES, max_size=12), st.integers(min_value=0, max_value=10**12),
       st.dictionaries(NAMES, NAMES, max_size=3), st.booleans())
def test_the_quick_read_agrees_with_the_full_parse(names: list[str], mb: int, keys: dict[str, str],
                                                   by_path: bool) -> None:
    """However the names look (quotes, commas, `"n":` inside them, non-ASCII), the id and
    count read off the line's end are what decoding the line gives."""
    sigs: list[list[int] | None] = [[i, mb, 7] for i in range(len(names))]
    for descriptor in (FilesBatch(mb, 0, names), Partition(mb, 1, keys, names, by_path, sigs)):
        line = encode(descriptor).encode()
        assert task_fields(line, "file") == (mb, len(names)) == (decode(line).id, len(names))
        assert task_fields(line, "tabular") == (mb, None)
        assert decode(line) == descriptor
    table = ByteRange(mb, 0, names[0] if names else "t.csv", "csv", 0, 9)
    assert task_fields(encode(table).encode(), "tabular") == (mb, None)
    old = json.dumps({"in": 0, "files": names, "id": mb}, separators=(",", ":")).encode() + b"\n"
    assert task_fields(old, "file") == (mb, len(names))  # no "n": parsed


def test_the_quick_read_of_an_incremental_files_line() -> None:
    """Identities and `reuse` come before the tail the driver reads without a parse."""
    line = encode(EXAMPLES[-3]).encode()
    assert line.endswith(b',"n":1,"id":14}\n') and task_fields(line, "file") == (14, 1)


def test_the_quick_read_refuses_a_file_count_of_a_table() -> None:
    with pytest.raises(DescriptorError, match="names no files"):
        task_fields(encode(ByteRange(1, 0, "t.csv", "csv", 0, 9)).encode(), "file")


@given(st.lists(NAMES, max_size=12), st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=9))
def test_a_files_line_written_by_hand_is_what_json_dumps_writes(names: list[str], mb: int, index: int) -> None:
    """A file batch's line (one per mini-batch) is made without json.dumps; it must stay
    the bytes json.dumps makes of its fields, whatever the names hold."""
    for files in (names, [*names, *AWKWARD]):
        descriptor = FilesBatch(mb, index, files)
        assert encode(descriptor) == json.dumps(to_fields(descriptor), separators=(",", ":")) + "\n"


def test_a_files_line_of_a_hand_made_manifest_keeps_what_it_holds() -> None:
    """A manifest's "files" that are not all text are written as they were read (the
    worker then fails the mini-batch by name), not refused while planning."""
    descriptor = FilesBatch(3, 0, ["a", 1, None])  # type: ignore[list-item]
    assert encode(descriptor) == '{"in":0,"files":["a",1,null],"n":3,"id":3}\n'
