"""Listing and partitioning, without processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.local.output.ledger import Ledger
from runner.local.partition.descriptors import files_of, task_fields
from tests.local.helpers import commit
from runner.inputs.listing import InputError, iter_files
from runner.local.partition.sources import Partitioner
from runner.plan.references import InputPlan
from runner.spec.partitions import partition_regex


def _tree(root: Path, names: list[str]) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")


def _listed(location: str, root: Path) -> list[str]:
    return [str(Path(e if isinstance(e, str) else e.path).relative_to(root)) for e in iter_files(location)]


def test_folders_are_walked_recursively_in_a_stable_order(tmp_path):
    _tree(tmp_path, ["b/2.png", "a.png", "b/1.png", "c/d/e.png", ".hidden/x.png"])
    assert _listed(str(tmp_path), tmp_path) == [".hidden/x.png", "a.png", "b/1.png", "b/2.png", "c/d/e.png"]


def test_globs_match_like_glob_glob(tmp_path):
    _tree(tmp_path, ["a.png", "a.txt", "b/1.png", "b/c/2.png", ".h.png", "b/.h.png"])
    assert _listed(f"{tmp_path}/*.png", tmp_path) == ["a.png"]
    assert _listed(f"{tmp_path}/**/*.png", tmp_path) == ["a.png", "b/1.png", "b/c/2.png"]
    assert _listed(f"{tmp_path}/b/*", tmp_path) == ["b/1.png"]
    assert _listed(f"{tmp_path}/[ab].*", tmp_path) == ["a.png", "a.txt"]


def test_missing_and_remote_inputs_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        list(iter_files(str(tmp_path / "nope")))
    with pytest.raises(InputError, match="read on the azure targets only"):
        list(iter_files("azureml://datastores/x/paths/y"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="has no files"):
        list(Partitioner(5, None).descriptors([InputPlan("datasets.e", "file", str(tmp_path / "empty"))]))


def test_files_are_cut_into_mini_batches_with_a_fingerprint(tmp_path):
    _tree(tmp_path, [f"{i:02d}.png" for i in range(12)])
    parts = Partitioner(5, None)
    batches = list(parts.descriptors([InputPlan("datasets.d", "file", str(tmp_path))]))
    assert [len(files_of(b) or []) for b in batches] == [5, 5, 2] and [b.id for b in batches] == [0, 1, 2]
    again = Partitioner(5, None)
    list(again.descriptors([InputPlan("datasets.d", "file", str(tmp_path))]))
    assert again.digest.hexdigest() == parts.digest.hexdigest() and parts.items == 12
    (tmp_path / "00.png").write_text("changed")
    changed = Partitioner(5, None)
    list(changed.descriptors([InputPlan("datasets.d", "file", str(tmp_path))]))
    assert changed.digest.hexdigest() != parts.digest.hexdigest()


def test_partition_format_groups_files_by_path_values(tmp_path):
    _tree(tmp_path, ["2024/01/a.png", "2024/01/b.png", "2024/02/c.png", "other.txt"])
    assert partition_regex("/{year}/{month}/{name}.png").fullmatch("2024/01/a.png")
    spec = InputPlan("datasets.d", "file", str(tmp_path), partition_format="/{year}/{month}/{name}.png")
    batches = list(Partitioner(0, ["month"]).descriptors([spec]))
    assert [(b.keys, len(files_of(b) or [])) for b in batches] == [({"month": "01"}, 2), ({"month": "02"}, 1)]


def test_the_ledger_recovers_to_its_last_complete_line(tmp_path):
    ledger_path, output = str(tmp_path / "ledger.jsonl"), str(tmp_path / "out" / "rows.txt")
    ledger = Ledger(ledger_path, output, total=3)
    commit(ledger, {"mb": 0, "status": "ok", "items": 1, "ok": 1, "failed": 0, "tries": 1}, b"a\n")
    commit(ledger, {"mb": 2, "status": "failed", "items": 1, "ok": 0, "failed": 1, "tries": 3, "error": "boom"})
    ledger.close()
    with open(output, "ab") as handle:
        handle.write(b"uncommitted\n")
    with open(ledger_path, "ab") as handle:
        handle.write(b'{"mb": 1, "sta')
    again = Ledger(ledger_path, output, total=3)
    assert [again.done(i) for i in range(3)] == [True, False, True]
    assert (again.totals.items.succeeded, again.totals.items.failed, again.totals.mini_batches.failed) == (1, 1, 1)
    commit(again, {"mb": 1, "status": "ok", "items": 1, "ok": 1, "failed": 0, "tries": 1}, b"b\n")
    again.close()
    assert Path(output).read_bytes() == b"a\nb\n"
    assert [json.loads(line)["mb"] for line in Path(ledger_path).read_text().splitlines()] == [0, 2, 1]


NAMES = st.text(alphabet=st.sampled_from(list('ab",[]{}:\\ é/')), max_size=8)


@given(st.lists(NAMES, max_size=12), st.integers(min_value=0, max_value=10**9),
       st.one_of(st.none(), st.dictionaries(NAMES, NAMES, max_size=2)),
       st.one_of(st.none(), st.lists(NAMES, max_size=3)))
def test_the_drivers_quick_read_of_a_descriptor_agrees_with_json(names, mb, keys, extra):
    """The driver reads a descriptor's id and file count without parsing it; any file
    name (quotes, commas, brackets, backslashes) and any other keys must give what
    json.loads gives."""
    descriptor = {"in": 0, **({"keys": keys} if keys is not None else {}), "files": names,
                  **({"extra": extra} if extra is not None else {}), "n": len(names), "id": mb}
    line = (json.dumps(descriptor, separators=(",", ":")) + "\n").encode()
    assert task_fields(line, "file") == (mb, len(names))
    del descriptor["n"]  # as a run partitioned before the count was written: parsed
    assert task_fields((json.dumps(descriptor, separators=(",", ":")) + "\n").encode(), "file") == (mb, len(names))
    table = {"in": 1, "path": names[0] if names else "a.csv", "fmt": "csv", "start": 0, "end": 9, "id": mb}
    assert task_fields((json.dumps(table, separators=(",", ":")) + "\n").encode(), "tabular") == (mb, None)


def test_names_that_look_like_the_end_of_a_line_do_not_fool_it():
    for names in (['say "hi",', "b"], ["]},", "}{:}}"], ['x,"n":9,"id":4}']):
        line = (json.dumps({"in": 0, "files": names, "n": len(names), "id": 3}, separators=(",", ":"))
                + "\n").encode()
        assert task_fields(line, "file") == (3, len(names))


def test_azure_date_placeholders_match_across_segments_and_give_iso_dates() -> None:
    from runner.spec.partitions import placeholders

    fmt = "/{Department}/{PartitionDate:yyyy/MM/dd}/data.csv"
    match = partition_regex(fmt).fullmatch("Accounts/2019/01/31/data.csv")
    assert match is not None
    keys = {p.name: p for p in placeholders(fmt)}
    assert keys["Department"].value(match.group("Department")) == "Accounts"
    assert keys["PartitionDate"].value(match.group("PartitionDate")) == "2019-01-31"
    assert keys["PartitionDate"].value("2019/13/45") is None  # digits, but no such date
    timed = placeholders("/{At:yyyy-MM-dd HH_mm}.csv")[0]
    assert timed.value("2024-02-29 10_30") == "2024-02-29T10:30:00"
    assert partition_regex(fmt).fullmatch("Accounts/2019/1/31/data.csv") is None


def _digests(location: Path) -> tuple[str, str]:
    parts = Partitioner(1, None)
    list(parts.descriptors([InputPlan("datasets.d", "file", str(location))]))
    return parts.digest.hexdigest(), parts.files_digest.hexdigest()


def test_the_listing_fingerprint_sees_one_changed_file_among_ten_thousand(tmp_path):
    """The listing is hashed a chunk of files at a time: the digest is still the one of
    every file's line in order (so earlier runs are still reused), and a file whose size
    or modification time changed, wherever it is among the chunks, changes it."""
    import hashlib
    import os

    from runner.local.partition.sources import listing_line

    data = tmp_path / "data"
    for sub in range(2):
        (data / f"d{sub}").mkdir(parents=True)
        for i in range(5000):
            os.close(os.open(data / f"d{sub}" / f"{i:05d}.png", os.O_CREAT | os.O_WRONLY, 0o644))
    paths = sorted(str(path) for path in data.rglob("*.png"))
    whole = hashlib.sha256(b"".join(listing_line(path, os.stat(path)) for path in paths)).hexdigest()
    first = _digests(data)
    assert first == (whole, whole)
    seen = {first}
    for index in (0, 4095, 4096, 9999):
        st = os.stat(paths[index])
        os.utime(paths[index], ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
        now = _digests(data)
        assert now[0] not in {d for d, _ in seen} and now[0] == now[1], index
        seen.add(now)
    with open(paths[5000], "ab") as handle:
        handle.write(b"x")
    assert _digests(data)[0] not in {d for d, _ in seen}
