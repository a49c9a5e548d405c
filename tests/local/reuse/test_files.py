"""The merge-join of an incremental file dataset (runner/local/reuse/files.py): the
listing and the earlier run's items meet in one order, the listing's (a folder's files
at its name's place), which is not plain string order."""

from __future__ import annotations

import json
from pathlib import Path

from tests.local.helpers import cli, output_rows, write_spec


def _apply(root: Path) -> dict[str, object]:
    done = cli("apply", "spec.yaml", cwd=root)
    assert done.returncode == 0, done.stderr
    run = sorted(p.name for p in (root / ".runner" / "runs").iterdir())[-1]
    step = json.loads((root / ".runner" / "runs" / run / "score" / "step.json").read_text())
    return {**step["item_reuse"], "id": run}


def test_names_that_sort_apart_from_their_folders_are_matched(tmp_path: Path) -> None:
    # As strings "a-b.txt" < "a.txt" < "a/b.txt"; the listing puts folder a's files at
    # a's place: a/b.txt, a-b.txt, a.txt. A merge in string order would call them new.
    data = tmp_path / "data"
    for number, name in enumerate(("a/b.txt", "a/c/d.txt", "a-b.txt", "a.txt", "a0.txt", "b.txt", "a/c-e.txt",
                                   "a/c.txt")):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text(f"{number}\n")
    write_spec(tmp_path, step={"incremental": True}, mini_batch_size=3)
    _apply(tmp_path)
    (data / "a" / "c" / "d.txt").write_text("1000\n")  # changed (and longer)
    (data / "a" / "bb.txt").write_text("8\n")
    second = _apply(tmp_path)
    assert (second["new"], second["changed"], second["reused"], second["gone"]) == (1, 1, 7, 0), second
    (data / "a-b.txt").unlink()
    third = _apply(tmp_path)  # against the second run: its reused items, then what ran, each in listing order
    assert (third["run"], third["new"], third["changed"], third["reused"], third["gone"]) == \
        (second["id"], 0, 0, 8, 1), third
    assert sorted(output_rows(tmp_path, str(third["id"]))) == \
        ["a.txt: 3", "a0.txt: 4", "b.txt: 0", "b.txt: 5", "bb.txt: 8", "c-e.txt: 6", "c.txt: 7", "d.txt: 1000"]
