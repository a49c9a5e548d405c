"""Chaos between kills: the driver is SIGKILLed at random points, and before each resume
the entry script is edited and input files are changed at random. The run executes the
snapshot taken when it started, so no row comes from the edited code; a changed input
that is still to run stops the resume, listed, and is accepted explicitly; every file's
row is in the output exactly once."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from tests.faults.test_crashes import assert_exactly_once, ledger_lines, run_id_of, start, wait_for
from tests.local.helpers import cli, make_files, write_spec

V2 = '''
_v1_run = run


def run(mini_batch):  # noqa: F811 - the edit a user makes between a kill and a resume
    return [f"{row} v2" for row in _v1_run(mini_batch)]
'''


def test_kills_with_code_and_input_edits_between_them_stay_exactly_once(tmp_path: Path) -> None:
    seed = int(os.environ.get("RUNNER_FAULT_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    names = make_files(tmp_path / "data", 240)
    write_spec(tmp_path, mini_batch_size=3, process_count_per_node=2, env={"SLEEP": "0.02"})
    script = tmp_path / "code" / "faulty.py"
    proc = start(tmp_path)
    kills = 0
    while True:
        target = ledger_lines(tmp_path) + rng.randint(1, 10)
        if not wait_for(tmp_path, target, proc) or kills == 6:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        run_id = run_id_of(tmp_path)
        if rng.random() < 0.7 and "v2" not in script.read_text():
            script.write_text(script.read_text() + V2)
        if rng.random() < 0.5:
            time.sleep(0.1)
            proc = start(tmp_path, "resume", run_id)
            continue
        # Same number, new size (the row it gives stays the same). The last file runs
        # last, so it is still to run: resume must refuse before anything runs.
        for name in {names[-1], *rng.sample(names, 2)}:
            path = tmp_path / "data" / name
            path.write_text(path.read_text() + "\n")
        time.sleep(0.1)
        plain = cli("resume", run_id, cwd=tmp_path, timeout=180)
        assert plain.returncode == 2 and "changed since run" in plain.stderr, f"seed {seed}: {plain.stderr}"
        assert "f0239.txt" in plain.stderr and "Traceback" not in plain.stderr
        proc = start(tmp_path, "resume", run_id, "--accept-changed-inputs")
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, f"seed {seed}: {err}"
    assert kills >= 2, f"seed {seed}: the run finished before it was killed enough"
    assert_exactly_once(tmp_path, run_id_of(tmp_path), names, 80)  # and no " v2" row: the snapshot ran
