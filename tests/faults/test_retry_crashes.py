"""A retry's driver killed (SIGKILL) at random commits, then resumed or retried again:
the run's own output still holds every row once, and each mini-batch one current line."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from runner.local.output.ledger_line import current_lines
from tests.faults.test_crashes import ledger_lines, run_id_of, start, wait_for
from tests.local.helpers import cli, expected_rows, make_files, output_rows, run_folder, write_spec


@pytest.mark.parametrize("then", ["resume", "retry"])
def test_a_retry_killed_at_random_points_then_resumed_is_exactly_once(tmp_path: Path, then: str) -> None:
    seed = int(os.environ.get("RUNNER_FAULT_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    names = make_files(tmp_path / "data", 150)
    write_spec(tmp_path, mini_batch_size=3, run_max_try=1, env={"FAULT": "raise", "FAULT_RATE": "0.3"})
    first = cli("apply", "spec.yaml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run_id = run_id_of(tmp_path)
    failed = sum(1 for r in current_lines(str(run_folder(tmp_path, run_id) / "score" / "ledger.jsonl"))
                 if r.status == "failed")
    assert failed >= 10, f"seed {seed}: too few failures to kill a retry among them"
    script = tmp_path / "code" / "faulty.py"
    script.write_text(script.read_text().replace('raise ValueError(f"cannot score {name}")', "pass"))
    proc = start(tmp_path, "retry", run_id, "--update-code", "--set", "environment_variables.SLEEP=0.02",
                 "--set", "process_count_per_node=1")
    kills = 0
    while kills < 3:
        if not wait_for(tmp_path, ledger_lines(tmp_path) + rng.randint(1, 4), proc):
            break  # it finished first
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if json.loads((run_folder(tmp_path, run_id) / "run.json").read_text())["status"] == "succeeded":
            break  # the kill came as the retry ended: nothing left
        time.sleep(0.1)  # the orphaned workers see the driver gone and exit
        proc = start(tmp_path, then, run_id)
    if proc.returncode is None:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"seed {seed}: {err}"
    assert kills >= 1, f"seed {seed}: the retry finished before it was killed"
    rows = output_rows(tmp_path, run_id)
    assert len(rows) == len(set(rows)), f"seed {seed}: a row was written twice"
    assert sorted(rows) == expected_rows(names), f"seed {seed}"
    current = list(current_lines(str(run_folder(tmp_path, run_id) / "score" / "ledger.jsonl")))
    assert sorted(r.mb for r in current) == list(range(50)), f"seed {seed}"
    assert all(r.status == "ok" for r in current), f"seed {seed}"
    shown = cli("status", run_id, "--json", cwd=tmp_path)
    assert shown.returncode == 0, f"seed {seed}: {shown.stderr}"
    status = json.loads(shown.stdout)
    assert status["status"] == "succeeded" and status["steps"][0]["progress"]["items"]["failed"] == 0
    assert (run_folder(tmp_path, run_id) / "score" / "failed_items.jsonl").read_text() == ""
