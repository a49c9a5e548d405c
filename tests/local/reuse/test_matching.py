"""The matching of a file dataset's items against an earlier run's
(runner/local/reuse/files.py, earlier.py), in process against a plain statement of the
rules: for random earlier runs (one stretch, as a full run writes it, or several
interleaved, as an incremental run writes them; mini-batches of one row per item, or
reused whole or not at all, or failed, or never committed) and random listings now
(items added, gone, changed; the same folders, or moved ones), every item now is
decided once, as the rules say, and each reused one names its own earlier rows."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.local.output.ledger_line import LedgerLine, encode as encode_line
from runner.local.partition.descriptors import FilesBatch, decode, encode
from runner.local.reuse import earlier as earlier_module
from runner.local.reuse.earlier import Batches
from runner.local.reuse.files import FileMatch
from runner.runs.folder import StepFolder
from runner.runs.records import ItemReuse

# Names whose listing order (a folder's files at its name's place) is not string order.
NAMES = ["a", "a-b", "a.txt", "a/b", "a/c/d", "a/c-e", "b", "c", "d/e", "e", "f", "g", "h", "i"]
KINDS = ["per_item", "unit", "failed", "uncommitted"]


def place(index: int, name: str) -> tuple[int, str]:
    return index, name.replace("/", "\0")


@dataclass
class Earlier:
    batches: list[tuple[int, list[str], list[list[int]], str]]  # input, names, sigs, kind (in line order)
    stretches: int


@st.composite
def histories(draw: Any) -> tuple[Earlier, dict[tuple[int, str], list[int]], bool, int, bool]:
    keys = [(index, name) for index in range(2) for name in NAMES]
    then = draw(st.lists(st.sampled_from(keys), min_size=1, unique=True))
    stretches = draw(st.integers(1, 3))
    groups: list[list[tuple[int, str]]] = [[] for _ in range(stretches)]
    for key in then:
        groups[draw(st.integers(0, stretches - 1))].append(key)
    batches = []
    for group in groups:
        group.sort(key=lambda key: place(*key))
        at = 0
        while at < len(group):
            size = draw(st.integers(1, 4))
            cut = [key for key in group[at:at + size] if key[0] == group[at][0]]  # never across inputs
            at += len(cut)
            batches.append((cut[0][0], [name for _, name in cut], [[1, draw(st.integers(0, 3))] for _ in cut],
                            draw(st.sampled_from(KINDS))))
    sigs = {(index, name): sig for index, names, sig_list, _ in batches for name, sig in zip(names, sig_list)}
    now: dict[tuple[int, str], list[int]] = {}
    for key in keys:
        if draw(st.booleans()):
            earlier = sigs.get(key)
            now[key] = list(earlier) if earlier is not None and draw(st.integers(0, 3)) else [1, 7]
    return Earlier(batches, stretches), now, draw(st.booleans()), draw(st.integers(1, 5)), draw(st.booleans())


def _write(folder: Path, earlier: Earlier, roots: list[str]) -> Batches:
    """The earlier run's step folder: its mini-batches, its ledger and its text output."""
    folder.mkdir(parents=True, exist_ok=True)
    out = b""
    with open(folder / "minibatches.jsonl", "w") as lines, open(folder / "ledger.jsonl", "wb") as ledger:
        for mb, (index, names, sigs, kind) in enumerate(earlier.batches):
            lines.write(encode(FilesBatch(mb, index, [os.path.join(roots[index], name) for name in names], sigs)))
            if kind == "uncommitted":
                continue
            rows = b"".join(f"{mb}:{name}\n".encode() for name in names) if kind != "failed" else b""
            if kind == "unit":
                rows += f"{mb}:summary\n".encode()
            count = len(names)
            line = LedgerLine(mb, "failed" if kind == "failed" else "ok", count, 0 if kind == "failed" else count,
                              count if kind == "failed" else 0, 1, len(out) + len(rows), rows.count(b"\n"), 0, 0.0,
                              at=len(out), t=0)
            ledger.write(encode_line(line))
            out += rows
    (folder / "out.txt").write_bytes(out)
    return Batches(StepFolder(folder), len(earlier.batches), False, True, 0)


def _expected(earlier: Earlier, now: dict[tuple[int, str], list[int]]) -> dict[str, int]:
    counts = dict.fromkeys(["new", "changed", "reused", "gone", "failed_before", "unit_rerun"], 0)
    then = {}
    for mb, (index, names, sigs, kind) in enumerate(earlier.batches):
        if kind != "uncommitted":
            for name, sig in zip(names, sigs):
                then[(index, name)] = (mb, sig, kind)
    for key, sig in now.items():
        found = then.get(key)
        if found is None:
            counts["new"] += 1
        elif found[1] != sig:
            counts["changed"] += 1
        elif found[2] == "failed":
            counts["failed_before"] += 1
        elif found[2] == "per_item":
            counts["reused"] += 1
        else:
            _, names, sigs, _ = earlier.batches[found[0]]
            whole = all(now.get((key[0], name)) == old for name, old in zip(names, sigs))
            counts["reused" if whole else "unit_rerun"] += 1
    counts["gone"] = sum(1 for key in then if key not in now)
    return counts


@settings(max_examples=300, deadline=None)
@given(history=histories())
def test_every_item_is_decided_once_as_the_rules_say(history: tuple[Any, ...], tmp_path_factory: Any) -> None:
    earlier, now, moved, chunk, shared = history
    handles = earlier_module.MAX_HANDLES
    earlier_module.MAX_HANDLES = 1 if shared else handles  # stretches read through one handle, each seeking
    try:
        _check(earlier, now, moved, chunk, tmp_path_factory.mktemp("earlier"))
    finally:
        earlier_module.MAX_HANDLES = handles


def _check(earlier: Earlier, now: dict[tuple[int, str], list[int]], moved: bool, chunk: int, folder: Path) -> None:
    then_roots = ["/data/in0", "/data/in1"]
    roots = ["/moved/in0", "/moved/in1"] if moved else then_roots
    batches = _write(folder, earlier, then_roots)
    reuse = ItemReuse("r1")
    match = FileMatch("r1", str(folder / "minibatches.jsonl"), batches, then_roots, roots, str(folder / "out.txt"), 0,
                      reuse, ordered=earlier.stretches == 1)
    listing = sorted(now, key=lambda key: place(*key))
    chunks = []
    for index in range(2):
        keys = [key for key in listing if key[0] == index]
        for at in range(0, len(keys), chunk):
            part = keys[at:at + chunk]
            chunks.append((index, [os.path.join(roots[index], name) for _, name in part], [now[key] for key in part]))
    decided: list[tuple[int, str]] = []
    rows = (folder / "out.txt").read_bytes()
    for decision in match.run(chunks):
        if isinstance(decision, tuple):
            decided.append((decision[0], os.path.relpath(decision[1], roots[decision[0]])))
            continue
        batch = decode(f"{decision}0}}\n") if isinstance(decision, str) else decision
        assert isinstance(batch, FilesBatch) and batch.sig is not None
        names = [os.path.relpath(path, roots[batch.input]) for path in batch.files]
        decided.extend((batch.input, name) for name in names)
        assert batch.sig == [now[(batch.input, name)] for name in names]
        if batch.reuse is not None:  # its rows are these items' own, in order
            start, end = batch.reuse["range"]
            copied = rows[start:end].decode().splitlines()
            if "pick" in batch.reuse:
                copied = [copied[i] for i in batch.reuse["pick"]]
            assert [row.split(":", 1)[1] for row in copied if not row.endswith(":summary")] == names
            assert batch.reuse["items"] == len(names)
    assert sorted(decided) == sorted(now)
    assert {key: getattr(reuse, key) for key in _expected(earlier, now)} == _expected(earlier, now)


def test_new_items_before_every_earlier_one_are_not_held(tmp_path: Path) -> None:
    """A listing whose 100,000 new items all come before the earlier run's only one (a
    new folder that sorts first): they are yielded as they pass, so the matching's
    memory does not grow with them."""
    earlier = Earlier([(0, ["z"], [[1, 1]], "per_item")], 1)
    batches = _write(tmp_path, earlier, ["/data/in0"])
    match = FileMatch("r1", str(tmp_path / "minibatches.jsonl"), batches, ["/data/in0"], ["/data/in0"],
                      str(tmp_path / "out.txt"), 0, ItemReuse("r1"), ordered=True)

    def chunks() -> Iterator[tuple[int, list[str], list[list[int]]]]:
        for start in range(0, 100_000, 100):
            yield 0, [f"/data/in0/a{number:06d}" for number in range(start, start + 100)], [[1, 2]] * 100
        yield 0, ["/data/in0/z"], [[1, 1]]

    tracemalloc.start()
    try:
        decided = sum(1 for _ in match.run(chunks()))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (decided, match.reuse.new, match.reuse.reused) == (100_001, 100_000, 1)
    assert peak < 4 * 1024 * 1024, peak
