"""Chaos between kills: the driver is SIGKILLed at random points, and before each resume
the entry script is edited and inputs are changed at random. The run executes the code
snapshot taken when it started, so no row comes from the edited code. A file of a file
dataset that changed is read as it now is (it cannot duplicate or lose a row); a table
that changed stops the resume, named, and once accepted its unfinished ranges fail,
counted and listed. Every row is in the output at most once, and output plus failures
account for every row."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.faults.test_crashes import assert_exactly_once, ledger_lines, run_id_of, start, wait_for
from tests.local.helpers import cli, make_files, output_rows, run_folder, write_spec

V2 = '''

_v1_run = run


def run(mini_batch):  # noqa: F811 - the edit a user makes between a kill and a resume
    return [f"{row} v2" for row in _v1_run(mini_batch)]
'''


def _seed() -> tuple[int, random.Random]:
    seed = int(os.environ.get("RUNNER_FAULT_SEED", time.time_ns() % 100_000))
    return seed, random.Random(seed)


def _kill_and_edit(root: Path, rng: random.Random, script: Path, seed: int,
                   change_input: Callable[[str], tuple[str, ...] | None]) -> int:
    """Kill at random commits, editing between kills, until a run (or resume) ends."""
    proc, kills = start(root), 0
    accepted: tuple[str, ...] = ()  # a changed input stays changed: every later resume must accept it again
    while True:
        if not wait_for(root, ledger_lines(root) + rng.randint(1, 10), proc) or kills == 6:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        run_id = run_id_of(root)
        if json.loads((run_folder(root, run_id) / "run.json").read_text())["status"] == "succeeded":
            return kills  # the kill came as the run ended: nothing to resume
        if rng.random() < 0.7 and "v2" not in script.read_text():
            script.write_text(script.read_text() + V2)
        args = change_input(run_id) if rng.random() < 0.6 else accepted
        if args is None:  # the check's own resume had nothing left to run, and ended the run
            return kills
        accepted = args or accepted
        time.sleep(0.1)
        proc = start(root, "resume", run_id, *args)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, f"seed {seed}: {err}"
    assert kills >= 2, f"seed {seed}: the run finished before it was killed enough"
    return kills


def test_a_file_dataset_with_code_and_input_edits_between_kills_stays_exactly_once(tmp_path: Path) -> None:
    seed, rng = _seed()
    names = make_files(tmp_path / "data", 240)
    write_spec(tmp_path, mini_batch_size=3, process_count_per_node=2, env={"SLEEP": "0.02"})

    def change(_run_id: str) -> tuple[str, ...]:
        for name in rng.sample(names, 3):  # same number, new size: the row it gives stays the same
            path = tmp_path / "data" / name
            path.write_text(path.read_text() + "\n")
        return ()

    _kill_and_edit(tmp_path, rng, tmp_path / "code" / "faulty.py", seed, change)
    assert_exactly_once(tmp_path, run_id_of(tmp_path), names, 80)  # and no " v2" row: the snapshot ran


def test_a_table_with_code_and_input_edits_between_kills_never_duplicates_or_invents(tmp_path: Path) -> None:
    seed, rng = _seed()
    (tmp_path / "data").mkdir()
    table = tmp_path / "data" / "t.csv"
    table.write_text("id,text\n" + "".join(f"{i},row {i}\n" for i in range(3000)))
    write_spec(tmp_path, script="rows.py", dataset={"kind": "tabular", "path": "data/"}, mini_batch_size="1KB",
               process_count_per_node=2, env={"SLEEP": "0.05"}, error_threshold=-1)

    def change(run_id: str) -> tuple[str, ...] | None:
        with table.open("a") as handle:
            handle.write("99999,appended\n")
        refused = cli("resume", run_id, cwd=tmp_path)  # refused before anything runs, the table named
        if refused.returncode == 0:
            return None  # every mini-batch was committed before the kill: nothing was left to refuse
        assert refused.returncode == 2 and str(table) in refused.stderr, f"seed {seed}: {refused.stderr}"
        return ("--accept-changed-inputs",)

    _kill_and_edit(tmp_path, rng, tmp_path / "code" / "rows.py", seed, change)
    run_id = run_id_of(tmp_path)
    rows = output_rows(tmp_path, run_id)
    assert not any(row.endswith(" v2") for row in rows), f"seed {seed}: rows of the edited code"
    ids = [int(row.split()[0]) for row in rows]
    assert len(ids) == len(set(ids)) and set(ids) <= set(range(3000)), f"seed {seed}"
    failed_file = run_folder(tmp_path, run_id) / "score" / "failed_items.jsonl"
    failed = [json.loads(line) for line in failed_file.read_text().splitlines()] if failed_file.exists() else []
    assert len(ids) + sum(int(entry["failed_items"]) for entry in failed) == 3000, f"seed {seed}"
