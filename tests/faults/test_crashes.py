"""Faults of the driver and of its disk, and a soak: the run stops (or is killed) and
resumes with every row exactly once; the driver's memory stays flat over 100,000
mini-batches with failures."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.local.helpers import cli, expected_rows, make_files, output_rows, write_spec

ROOT = Path(__file__).parents[2]


def start(root: Path, *args: str, limit_bytes: int | None = None,
          env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    def limit() -> None:  # a full disk, as the OS reports a file that may grow no more
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.Popen([sys.executable, "-m", "runner", *(args or ("apply", "spec.yaml"))], cwd=root,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def ledger_lines(root: Path) -> int:
    found = list((root / ".runner" / "runs").glob("*/score/ledger.jsonl"))
    return len(found[0].read_bytes().splitlines()) if found else 0


def wait_for(root: Path, commits: int, proc: subprocess.Popen[str], timeout: float = 60) -> bool:
    """Until `commits` ledger lines are written; False if the run ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ledger_lines(root) >= commits:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError("the run made no progress")


def run_id_of(root: Path) -> str:
    [folder] = (root / ".runner" / "runs").iterdir()
    return folder.name


def _recorded_status(root: Path) -> str:
    return str(json.loads((root / ".runner" / "runs" / run_id_of(root) / "run.json").read_text())["status"])


def assert_exactly_once(root: Path, run_id: str, names: list[str], mini_batches: int) -> None:
    rows = output_rows(root, run_id)
    assert len(rows) == len(set(rows)), "a row was written twice"
    assert sorted(r.split(" x")[0] for r in rows) == expected_rows(names)
    ledger = root / ".runner" / "runs" / run_id / "score" / "ledger.jsonl"
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert sorted(r["mb"] for r in records) == list(range(mini_batches)), "a mini-batch is missing or twice"


def test_a_full_disk_stops_the_run_and_resume_finishes_it_exactly_once(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 2000)
    write_spec(tmp_path, mini_batch_size=10, env={"ROW_PAD": "400", "SLEEP": "0.002"})  # ~830 KB of rows
    proc = start(tmp_path, limit_bytes=400_000)  # the output cannot grow past 400 KB
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert "Traceback" not in err and "internal error" not in err
    run_id = out.strip()
    assert "cannot write" in err and "File too large" in err and f"runner resume {run_id}" in err
    status = json.loads(cli("status", run_id, "--json", cwd=tmp_path).stdout)
    assert status["status"] == "error" and "What was committed is kept" in status["reason"]
    committed = ledger_lines(tmp_path)
    assert 0 < committed < 200
    # Room again: resume keeps what was committed and runs the rest.
    resumed = cli("resume", run_id, cwd=tmp_path, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{committed} of 200 mini-batches already done" in resumed.stderr
    assert_exactly_once(tmp_path, run_id, names, 200)


def test_driver_sigkill_at_random_points_then_resume_many_times(tmp_path: Path) -> None:
    seed = int(os.environ.get("RUNNER_FAULT_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    names = make_files(tmp_path / "data", 300)
    write_spec(tmp_path, mini_batch_size=3, env={"SLEEP": "0.01", "FAULT": "raise", "FAULT_RATE": "0.05",
                                                  "FAULT_ONCE": "1"})
    proc = start(tmp_path)
    kills = 0
    while True:  # kill the driver (first run or a resume) at a random commit, until one finishes
        target = ledger_lines(tmp_path) + rng.randint(1, 12)
        if not wait_for(tmp_path, target, proc) or kills == 8:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        info = json.loads((tmp_path / ".runner" / "runs" / run_id_of(tmp_path) / "run.json").read_text())
        if info["status"] == "succeeded":  # the kill came as the run ended: nothing to resume
            break
        time.sleep(0.1)  # the orphaned workers see the driver gone and exit
        proc = start(tmp_path, "resume", run_id_of(tmp_path))
    if proc.returncode is None or proc.returncode != -signal.SIGKILL:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"seed {seed}: {err}"
    assert kills >= 3, f"seed {seed}: the run finished before it was killed enough"
    assert_exactly_once(tmp_path, run_id_of(tmp_path), names, 100)


def test_driver_sigkill_while_tiny_mini_batches_run_in_groups_then_resume(tmp_path: Path) -> None:
    """Mini-batches of well under a millisecond: workers send their results a message's
    worth at a time and the ledger commits a group per flush. Killed at random points
    (results held in workers, rows in the output's buffer, lines not yet written), every
    resume still ends with each row once."""
    seed = int(os.environ.get("RUNNER_FAULT_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    names = make_files(tmp_path / "data", 3000)
    write_spec(tmp_path, mini_batch_size=1)
    proc = start(tmp_path)
    kills = 0
    while kills < 3:
        if not wait_for(tmp_path, ledger_lines(tmp_path) + rng.randint(1, 600), proc):
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if _recorded_status(tmp_path) == "succeeded":
            # Tiny mini-batches commit thousands a second: the kill can land after the
            # driver recorded the run's end, and there is nothing left to resume.
            break
        time.sleep(0.1)  # the orphaned workers see the driver gone and exit
        proc = start(tmp_path, "resume", run_id_of(tmp_path))
    if proc.returncode != -signal.SIGKILL:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"seed {seed}: {err}"
    assert kills >= 1, f"seed {seed}: the run finished before it was killed"
    assert_exactly_once(tmp_path, run_id_of(tmp_path), names, 3000)


def test_ctrl_c_at_random_points_then_resume(tmp_path: Path) -> None:
    rng = random.Random(7)
    names = make_files(tmp_path / "data", 300)
    write_spec(tmp_path, mini_batch_size=3, env={"SLEEP": "0.005"})
    proc = start(tmp_path)
    interrupts = 0
    for _ in range(3):
        if not wait_for(tmp_path, ledger_lines(tmp_path) + rng.randint(1, 8), proc):
            break  # it finished first (a slow machine makes this possible, not likely)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:  # the Ctrl-C came as it ended
            break
        assert proc.returncode == 130 and "Traceback" not in err, err
        interrupts += 1
        proc = start(tmp_path, "resume", run_id_of(tmp_path))
    if proc.returncode is None:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert interrupts >= 1
    assert_exactly_once(tmp_path, run_id_of(tmp_path), names, 100)


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def test_soak_100000_mini_batches_with_1pct_failures_keeps_driver_memory_flat(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 100_000)
    write_spec(tmp_path, mini_batch_size=1, env={"FAULT": "raise", "FAULT_RATE": "0.01", "FAULT_ONCE": "1"})
    proc = start(tmp_path)
    samples: list[tuple[int, float]] = []  # (mini-batches committed, driver RSS)
    while proc.poll() is None:
        rss = rss_mb(proc.pid)
        if rss is not None:
            samples.append((ledger_lines(tmp_path), rss))
        time.sleep(0.25)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    run_id = out.strip()
    # Every failure was retried once and succeeded: all rows, each once.
    rows = output_rows(tmp_path, run_id)
    assert len(rows) == len(set(rows)) == 100_000
    assert sorted(rows) == sorted(f"{n}: {int(n[1:-4])}" for n in names)
    progress = json.loads((tmp_path / ".runner" / "runs" / run_id / "score" / "progress.json").read_text())
    assert 800 <= progress["retries"] <= 1200  # about 1% of 100,000 failed once
    # Flat: from a quarter of the way in to the end, the driver grows by less than 16 MB.
    running = [rss for done, rss in samples if 25_000 <= done]
    early = [rss for done, rss in samples if 25_000 <= done < 50_000]
    assert early and running, f"too few samples: {samples[:5]}...{samples[-5:]}"
    assert max(running) - min(early) < 16, f"driver RSS grew: {samples}"
