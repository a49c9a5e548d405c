"""Incremental steps (`incremental: true`), through real applies: what an earlier run's
rows stand for is reused, the rest runs, and the output always equals a fresh full
run's (as a multiset of rows)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.local.helpers import cli, make_files, output_rows, run_folder, write_spec


def _apply(root: Path, *extra: str) -> str:
    done = cli("apply", "spec.yaml", *extra, cwd=root)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else _latest(root)


def _latest(root: Path) -> str:
    return sorted(p.name for p in (root / ".runner" / "runs").iterdir())[-1]


def _step(root: Path, run_id: str) -> dict[str, Any]:
    return json.loads((run_folder(root, run_id) / "score" / "step.json").read_text())


def _ledger(root: Path, run_id: str) -> list[dict[str, Any]]:
    path = run_folder(root, run_id) / "score" / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _full(root: Path) -> list[str]:
    """A fresh full run's rows over the inputs as they are now."""
    _apply(root, "--no-reuse")
    run_id = _latest(root)
    assert _step(root, run_id)["item_reuse"]["run"] is None
    return sorted(output_rows(root, run_id))


def _spec(root: Path, **parallel_run: Any) -> None:
    write_spec(root, step={"incremental": True}, **{"mini_batch_size": 4, **parallel_run})


def test_added_removed_and_modified_files_run_the_rest_is_reused(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 12)
    _spec(tmp_path)
    first = _apply(tmp_path)
    assert _step(tmp_path, first)["item_reuse"]["run"] is None
    (tmp_path / "data" / "f0003.txt").unlink()
    (tmp_path / "data" / "f0007.txt").write_text("700\n")  # size and time change
    make_files(tmp_path / "data", 2, start=20)
    done = cli("apply", "spec.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    second = _latest(tmp_path)
    said = (f"score: runs 2 new and 1 changed items, reuses 10 from run {first} (same code, model and definition); "
            "1 item gone")
    assert said in done.stderr
    reuse = _step(tmp_path, second)["item_reuse"]
    assert (reuse["run"], reuse["new"], reuse["changed"], reuse["reused"], reuse["gone"]) == (first, 2, 1, 10, 1)
    lines = _ledger(tmp_path, second)
    assert sum(line["items"] for line in lines if line["tries"] == 0) == 10  # copied, no worker
    assert sum(line["items"] for line in lines if line["tries"] > 0) == 3
    rows = sorted(output_rows(tmp_path, second))
    assert "f0007.txt: 700" in rows and not any(row.startswith("f0003.txt") for row in rows)
    assert rows == _full(tmp_path)


def test_a_chain_of_incremental_runs_attributes_copied_rows_again(tmp_path: Path) -> None:
    """The second run's reused rows are ordinary ledger lines: a third run picks from them."""
    make_files(tmp_path / "data", 10)
    _spec(tmp_path)
    _apply(tmp_path)
    make_files(tmp_path / "data", 1, start=30)
    second = _apply(tmp_path)
    (tmp_path / "data" / "f0001.txt").unlink()
    (tmp_path / "data" / "f0030.txt").write_text("3000\n")
    third = _apply(tmp_path)
    reuse = _step(tmp_path, third)["item_reuse"]
    assert (reuse["run"], reuse["new"], reuse["changed"], reuse["reused"], reuse["gone"]) == (second, 0, 1, 9, 1)
    assert sorted(output_rows(tmp_path, third)) == _full(tmp_path)


def test_nothing_changed_reuses_every_item(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 9)
    _spec(tmp_path)
    first = _apply(tmp_path)
    second = _apply(tmp_path)
    reuse = _step(tmp_path, second)["item_reuse"]
    assert (reuse["run"], reuse["reused"], reuse["new"] + reuse["changed"] + reuse["gone"]) == (first, 9, 0)
    assert all(line["tries"] == 0 for line in _ledger(tmp_path, second))
    assert sorted(output_rows(tmp_path, second)) == sorted(output_rows(tmp_path, first))


def test_edited_code_runs_every_item(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 6)
    _spec(tmp_path)
    _apply(tmp_path)
    script = tmp_path / "code" / "faulty.py"
    script.write_text(script.read_text() + "\n# edited\n")
    second = _apply(tmp_path)
    reuse = _step(tmp_path, second)["item_reuse"]
    assert reuse["run"] is None and "same code, model and definition" in reuse["why"]
    assert all(line["tries"] > 0 for line in _ledger(tmp_path, second))
    assert sorted(output_rows(tmp_path, second)) == _full(tmp_path)


def test_an_edited_model_runs_every_item(tmp_path: Path) -> None:
    import yaml

    make_files(tmp_path / "data", 6)
    _spec(tmp_path)
    spec = yaml.safe_load((tmp_path / "spec.yaml").read_text())
    spec["models"] = {"m": {"path": "model.txt"}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (tmp_path / "model.txt").write_text("v1\n")
    _apply(tmp_path)
    (tmp_path / "model.txt").write_text("version 2\n")
    second = _apply(tmp_path)
    assert _step(tmp_path, second)["item_reuse"]["run"] is None
    assert all(line["tries"] > 0 for line in _ledger(tmp_path, second))


def test_no_reuse_and_set_incremental_false_run_every_item(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 5)
    _spec(tmp_path)
    _apply(tmp_path)
    off = _apply(tmp_path, "--set", "steps[0].incremental=false")
    assert _step(tmp_path, off)["item_reuse"] is None
    full = _apply(tmp_path, "--no-reuse")
    assert _step(tmp_path, full)["item_reuse"] == {**_step(tmp_path, full)["item_reuse"], "run": None,
                                                   "why": "`apply --no-reuse`"}
    for run_id in (off, full):
        assert all(line["tries"] > 0 for line in _ledger(tmp_path, run_id))
    make_files(tmp_path / "data", 1, start=9)
    after = _apply(tmp_path)  # the full run recorded its items: the next one reuses them
    assert _step(tmp_path, after)["item_reuse"]["run"] == full


def test_items_that_failed_run_again(tmp_path: Path) -> None:
    """A mini-batch that failed (within the thresholds) is never reused: its items run again."""
    make_files(tmp_path / "data", 8)
    _spec(tmp_path, run_max_try=1, env={"FAULT": "raise", "FAULT_ON": "f0002.txt", "FAULT_ONCE": "1"})
    first = _apply(tmp_path)
    assert len(output_rows(tmp_path, first)) == 4  # f0000-f0003 failed together
    second = _apply(tmp_path)
    reuse = _step(tmp_path, second)["item_reuse"]
    assert (reuse["reused"], reuse["failed_before"]) == (4, 4)
    assert sorted(output_rows(tmp_path, second)) == _full(tmp_path)


def test_csv_output_keeps_one_header_and_picks_rows_by_item(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 10)
    _spec(tmp_path, append_row_format="csv")
    first = _apply(tmp_path)
    (tmp_path / "data" / "f0000.txt").unlink()  # from the mini-batch whose range holds the header
    (tmp_path / "data" / "f0005.txt").write_text("55\n")
    second = _apply(tmp_path)
    rows = output_rows(tmp_path, second)
    assert rows[0] == output_rows(tmp_path, first)[0] and rows.count(rows[0]) == 1  # the header, once
    reuse = _step(tmp_path, second)["item_reuse"]
    assert (reuse["reused"], reuse["changed"], reuse["gone"]) == (8, 1, 1)
    assert sorted(rows[1:]) == sorted(_full_csv(tmp_path))


def _full_csv(root: Path) -> list[str]:
    _apply(root, "--no-reuse")
    return output_rows(root, _latest(root))[1:]


def test_a_killed_incremental_run_resumes_exactly_once(tmp_path: Path) -> None:
    """Killed while new mini-batches run, with part of the copied rows' lines lost (as a
    kill between copying rows and writing their lines leaves it): resume gives the same
    output as an uninterrupted run."""
    make_files(tmp_path / "data", 40)
    _spec(tmp_path, mini_batch_size=2, env={"SLEEP": "0.05"})
    _apply(tmp_path)
    make_files(tmp_path / "data", 30, start=100)
    proc = subprocess.Popen([sys.executable, "-m", "runner", "apply", "spec.yaml"], cwd=tmp_path, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])})
    ledger = _wait_for(tmp_path, 23)  # the 20 copied mini-batches and some new ones
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_id = ledger.parents[1].name
    lines = ledger.read_bytes().splitlines(keepends=True)
    ledger.write_bytes(b"".join(lines[:7]))  # copied rows past the last line are cut on resume
    time.sleep(0.3)  # the orphaned workers see the driver gone and exit
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    rows = output_rows(tmp_path, run_id)
    assert len(rows) == len(set(rows)) == 70
    assert sorted(rows) == _full(tmp_path)


def _wait_for(root: Path, count: int, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = sorted((root / ".runner" / "runs").glob("*/score/ledger.jsonl"))
        if len(runs) == 2 and len(runs[-1].read_bytes().splitlines()) >= count:
            return runs[-1]
        time.sleep(0.02)
    raise AssertionError("the run made no progress")


def _tables(folder: Path, names: dict[str, int]) -> None:
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    for name, start in names.items():
        frame = pd.DataFrame({"id": range(start, start + 300), "x": range(300)})
        if name.endswith(".parquet"):
            frame.to_parquet(folder / name, row_group_size=100)
        else:
            frame.to_csv(folder / name, index=False)


def test_tables_unchanged_files_keep_all_their_rows_changed_and_new_ones_run(tmp_path: Path) -> None:
    _tables(tmp_path / "data", {"a.csv": 0, "b.csv": 1000, "c.parquet": 2000, "d.parquet": 3000})
    write_spec(tmp_path, script="tabular.py", dataset={"kind": "tabular", "path": "data/"}, mini_batch_size="1KB",
               append_row_format="csv", step={"incremental": True})
    first = _apply(tmp_path)
    (tmp_path / "data" / "b.csv").unlink()
    _tables(tmp_path / "data", {"c.parquet": 5000, "e.csv": 4000})  # c changed, e new
    second = _apply(tmp_path)
    reuse = _step(tmp_path, second)["item_reuse"]
    assert (reuse["unit"], reuse["reused"], reuse["changed"], reuse["new"], reuse["gone"]) == ("files", 2, 1, 1, 1)
    first_lines = _ledger(tmp_path, first)
    copied = [line for line in _ledger(tmp_path, second) if line["tries"] == 0]
    assert copied and sum(line["rows"] for line in copied) == 600  # a.csv and d.parquet
    assert len(first_lines) > len(copied) > 2  # a table's mini-batches, each copied
    rows = output_rows(tmp_path, second)
    assert rows.count(rows[0]) == 1 and len(rows) == 1 + 4 * 300
    assert sorted(rows[1:]) == sorted(_full_csv(tmp_path))


def test_a_table_that_only_grew_runs_only_its_new_rows(tmp_path: Path) -> None:
    _tables(tmp_path / "data", {"a.csv": 0, "b.csv": 1000})
    (tmp_path / "data" / "c.jsonl").write_text("".join(f'{{"id": {i}, "x": {i}}}\n' for i in range(2000, 2300)))
    write_spec(tmp_path, script="tabular.py", dataset={"kind": "tabular", "path": "data/"}, mini_batch_size="1KB",
               append_row_format="csv", step={"incremental": True})
    _apply(tmp_path)
    with open(tmp_path / "data" / "a.csv", "a") as handle:
        handle.write("".join(f"{i},{i}\n" for i in range(500, 520)))
    with open(tmp_path / "data" / "c.jsonl", "a") as handle:
        handle.write('{"id": 9000, "x": 1}\n')
    text = (tmp_path / "data" / "b.csv").read_text()  # grew, but an earlier row changed: runs whole
    (tmp_path / "data" / "b.csv").write_text(text.replace("\n1001,", "\n7001,", 1) + "1300,3\n")
    second = _apply(tmp_path)
    reuse = _step(tmp_path, second)["item_reuse"]
    assert (reuse["reused"], reuse["grown"], reuse["changed"], reuse["new"], reuse["gone"]) == (0, 2, 1, 0, 0)
    ran = [line for line in _ledger(tmp_path, second) if line["tries"] > 0]
    assert sum(line["rows"] for line in ran) == 20 + 1 + 301
    rows = output_rows(tmp_path, second)
    assert rows.count(rows[0]) == 1 and "7001,2" in rows and "9000,2" in rows and "519,1038" in rows
    assert sorted(rows[1:]) == sorted(_full_csv(tmp_path))
    third = _apply(tmp_path)  # the grown files' new ranges name them now: all reused
    reuse = _step(tmp_path, third)["item_reuse"]
    assert (reuse["reused"], reuse["grown"], reuse["changed"]) == (3, 0, 0)


def test_retry_of_an_incremental_run_runs_its_failed_items_into_it(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 8)
    _spec(tmp_path, run_max_try=1, env={"FAULT": "raise", "FAULT_ON": "f0021.txt", "FAULT_ONCE": "1"})
    _apply(tmp_path)
    make_files(tmp_path / "data", 3, start=20)
    second = _apply(tmp_path)
    assert not any(row.startswith("f0021") for row in output_rows(tmp_path, second))
    retried = cli("retry", second, cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    rows = sorted(output_rows(tmp_path, second))
    assert len(rows) == len(set(rows)) == 11
    assert _step(tmp_path, second)["item_reuse"]["reused"] == 8
    assert rows == _full(tmp_path)


def test_parquet_output_reuses_whole_mini_batches(tmp_path: Path) -> None:
    """Parquet's staged frames are a mini-batch each: the mini-batch is the unit."""
    import pandas as pd

    make_files(tmp_path / "data", 12)
    _spec(tmp_path, append_row_format="parquet")
    _apply(tmp_path)
    (tmp_path / "data" / "f0005.txt").write_text("500\n")
    second = _apply(tmp_path)
    reuse = _step(tmp_path, second)["item_reuse"]
    assert (reuse["reused"], reuse["changed"], reuse["unit_rerun"]) == (8, 1, 3)
    path = run_folder(tmp_path, second) / "score" / "outputs" / "out" / "parallel_run_step.txt"
    rows = sorted(pd.read_parquet(path).iloc[:, 0])
    assert "f0005.txt: 500" in rows
    _apply(tmp_path, "--no-reuse")
    full = run_folder(tmp_path, _latest(tmp_path)) / "score" / "outputs" / "out" / "parallel_run_step.txt"
    assert rows == sorted(pd.read_parquet(full).iloc[:, 0])


def test_digest_compares_content_not_times(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 6)
    write_spec(tmp_path, step={"incremental": "digest"}, mini_batch_size=4)
    first = _apply(tmp_path)
    os.utime(tmp_path / "data" / "f0001.txt", ns=(1, 1))  # a time that lies: the same bytes
    (tmp_path / "data" / "f0002.txt").write_text("9\n")  # the same size, other bytes
    os.utime(tmp_path / "data" / "f0002.txt", ns=(1, 1))
    second = _apply(tmp_path)
    reuse = _step(tmp_path, second)["item_reuse"]
    assert (reuse["run"], reuse["reused"], reuse["changed"]) == (first, 5, 1)
    assert "f0002.txt: 9" in output_rows(tmp_path, second)


TWO_ROWS = "import os\n\n\ndef run(batch):\n    return [f'{os.path.basename(p)} {k}' for p in batch for k in (1, 2)]\n"


def test_a_mini_batch_of_other_than_one_row_per_item_is_reused_whole_or_not_at_all(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 8)
    _spec(tmp_path, entry_script="two.py")
    (tmp_path / "code" / "two.py").write_text(TWO_ROWS)
    _apply(tmp_path)
    (tmp_path / "data" / "f0001.txt").unlink()
    second = _apply(tmp_path)
    reuse = _step(tmp_path, second)["item_reuse"]
    assert (reuse["reused"], reuse["unit_rerun"], reuse["gone"]) == (4, 3, 1)
    rows = sorted(output_rows(tmp_path, second))
    assert len(rows) == 14 and rows == _full(tmp_path)


def test_a_run_retried_with_other_code_is_no_base(tmp_path: Path) -> None:
    """`retry --update-code` made some of its rows with code its fingerprint does not name."""
    make_files(tmp_path / "data", 8)
    _spec(tmp_path, run_max_try=1, env={"FAULT": "raise", "FAULT_ON": "f0002.txt", "FAULT_ONCE": "1"})
    first = _apply(tmp_path)
    script = tmp_path / "code" / "faulty.py"
    original = script.read_text()
    script.write_text(original + "\n# edited\n")
    retried = cli("retry", first, "--update-code", cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    script.write_text(original)
    second = _apply(tmp_path)
    assert _step(tmp_path, second)["item_reuse"]["run"] is None


ODD_HEADER = ("import os\nimport pandas as pd\n\n\ndef run(batch):\n"
              "    return pd.DataFrame({'file\\nname': [os.path.basename(p) for p in batch], 'n': 1})\n")


def test_a_csv_header_spanning_lines_is_copied_once_and_whole(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 8)
    _spec(tmp_path, entry_script="odd.py", append_row_format="csv")
    (tmp_path / "code" / "odd.py").write_text(ODD_HEADER)
    first = _apply(tmp_path)
    (tmp_path / "data" / "f0001.txt").unlink()
    second = _apply(tmp_path)
    assert _step(tmp_path, second)["item_reuse"]["reused"] == 7
    text = (run_folder(tmp_path, second) / "score" / "outputs" / "out" / "parallel_run_step.txt").read_text()
    assert text.startswith('"file\nname",n\nf0000.txt,1\nf0002.txt,1\n'), text
    assert text.count("name") == 1 and len(output_rows(tmp_path, first)) == len(output_rows(tmp_path, second)) + 1


def test_a_step_reading_a_changed_upstream_output_runs_every_item(tmp_path: Path) -> None:
    import yaml

    make_files(tmp_path / "data", 4)
    _spec(tmp_path)
    spec = yaml.safe_load((tmp_path / "spec.yaml").read_text())
    second = {**spec["steps"][0], "name": "second", "inputs": ["${{ steps.score.outputs.out }}"],
              "output": {"name": "out2"}}
    spec["steps"].append(second)
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    _apply(tmp_path)
    make_files(tmp_path / "data", 1, start=7)
    run_id = _apply(tmp_path)
    assert _step(tmp_path, run_id)["item_reuse"]["reused"] == 4
    later = json.loads((run_folder(tmp_path, run_id) / "second" / "step.json").read_text())["item_reuse"]
    assert later["run"] is None and "the same output of step score" in later["why"]
