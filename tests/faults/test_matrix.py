"""The fault-injection matrix: real jobs (real worker processes, tests/local/scripts/faulty.py)
with one fault each, checked against the exact set of rows that must come out, the exact
files the failed-items manifest must list, the run's status and exit code, and a readable
error. Every case runs 60 files in 20 mini-batches of 3 on 2 workers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.local.helpers import SCRIPTS, cli, expected_rows, make_files, output_rows, run_folder, write_spec

FILES, SIZE = 60, 3
sys.path.insert(0, str(SCRIPTS))
from faulty import faulted  # noqa: E402  (the script's own choice of files, for FAULT_RATE)

RATE = 0.05
RANDOM = sorted(f"f{i:04d}.txt" for i in range(FILES) if faulted(f"f{i:04d}.txt", RATE))


def batch_of(name: str) -> set[str]:
    """The files of the mini-batch that holds `name` (mini-batches follow the sorted listing)."""
    first = int(name[1:5]) // SIZE * SIZE
    return {f"f{i:04d}.txt" for i in range(first, first + SIZE)}


def batches_of(names: list[str]) -> set[str]:
    return set().union(*(batch_of(n) for n in names)) if names else set()


def corrupt(root: Path) -> None:
    (root / "data" / "f0010.txt").write_bytes(b"\x89PNG\r\n not a number")


def empty(root: Path) -> None:
    (root / "data" / "f0010.txt").write_bytes(b"")


def unreadable(root: Path) -> None:
    # A link to nothing: it is listed, and opening it fails (a file that went away, a
    # broken link on a share). chmod 000 would not stop root, who runs CI.
    (root / "data" / "f0010.txt").unlink()
    (root / "data" / "f0010.txt").symlink_to(root / "gone" / "f0010.txt")


@dataclass
class Case:
    id: str
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[Path], None] | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    status: str = "succeeded"
    code: int = 0
    failed: set[str] = field(default_factory=set)  # files the manifest lists; their rows are missing
    missing: set[str] | None = None  # rows missing (None: the failed files)
    error: str = ""  # in the manifest's first error, or in stderr when the job fails


ONCE = {"FAULT_ONCE": "1"}
CASES = [
    Case("worker-os-exit-once", {"FAULT": "exit", "FAULT_ON": "f0007.txt", **ONCE}),
    Case("worker-os-exit-always", {"FAULT": "exit", "FAULT_ON": "f0007.txt"}, failed=batch_of("f0007.txt"),
         error="the worker process died (exit code 7) while running this mini-batch"),
    Case("worker-sigkill-once", {"FAULT": "kill", "FAULT_ON": "f0020.txt", **ONCE}),
    Case("worker-sigkill-always", {"FAULT": "kill", "FAULT_ON": "f0020.txt"}, failed=batch_of("f0020.txt"),
         error="killed by SIGKILL"),
    Case("hang-past-timeout-once", {"FAULT": "hang", "FAULT_ON": "f0031.txt", **ONCE},
         spec={"run_invocation_timeout": 2}),
    Case("hang-past-timeout-always", {"FAULT": "hang", "FAULT_ON": "f0031.txt"},
         spec={"run_invocation_timeout": 2, "run_max_try": 2}, failed=batch_of("f0031.txt"),
         error="run_invocation_timeout"),
    Case("run-raises-once", {"FAULT": "raise", "FAULT_ON": "f0042.txt", **ONCE}),
    Case("run-raises-always", {"FAULT": "raise", "FAULT_ON": "f0042.txt"}, failed=batch_of("f0042.txt"),
         error="ValueError: cannot score f0042.txt"),
    Case("run-raises-at-random-5pct-once", {"FAULT": "raise", "FAULT_RATE": str(RATE), **ONCE}),
    Case("run-raises-at-random-5pct-always", {"FAULT": "raise", "FAULT_RATE": str(RATE)},
         failed=batches_of(RANDOM), error="ValueError: cannot score"),
    Case("init-raises-once", {"INIT_FAULT": "raise", **ONCE}),
    Case("init-raises-always", {"INIT_FAULT": "raise"}, status="failed", code=1, missing=None,
         error="model file is corrupt"),
    Case("init-os-exit-always", {"INIT_FAULT": "exit"}, status="failed", code=1, error="the worker exited during start-up (exit code 3)"),
    Case("init-raises-at-random-5pct", {"INIT_FAULT_RATE": str(RATE)}),
    Case("too-few-results", {"FAULT": "short", "FAULT_ON": "f0013.txt"}, failed={"f0013.txt"},
         error="returned 2 results for 3 items"),
    Case("none-returned", {"FAULT": "none", "FAULT_ON": "f0013.txt"}, failed=batch_of("f0013.txt"),
         error="run() returned None"),
    Case("corrupt-input-file", prepare=corrupt, failed=batch_of("f0010.txt"), error="UnicodeDecodeError"),
    Case("empty-input-file", prepare=empty, failed=batch_of("f0010.txt"),
         error="invalid literal for int() with base 10: ''"),
    Case("unreadable-input-file", prepare=unreadable, failed=batch_of("f0010.txt"), error="FileNotFoundError"),
    Case("threshold-stops-the-job", {"FAULT": "raise", "FAULT_ON": "f0042.txt"}, spec={"error_threshold": 2},
         status="failed", code=1, failed=batch_of("f0042.txt"), missing=None,
         error="error_threshold exceeded: 3 items failed, more than the 2 allowed"),
]


def _manifest(root: Path, run_id: str) -> list[dict[str, Any]]:
    path = run_folder(root, run_id) / "score" / "failed_items.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", FILES)
    if case.prepare:
        case.prepare(tmp_path)
    write_spec(tmp_path, env=case.env, mini_batch_size=SIZE, **{"run_invocation_timeout": 30, **case.spec})
    result = cli("apply", "spec.yaml", cwd=tmp_path, timeout=180)
    assert result.returncode == case.code, result.stderr
    assert "internal error" not in result.stderr
    if case.code == 0:
        assert "Traceback" not in result.stderr  # a failed init is shown with its own traceback
    run_id = result.stdout.strip()
    status = json.loads(cli("status", run_id, "--json", cwd=tmp_path).stdout)
    assert status["status"] == case.status
    rows = output_rows(tmp_path, run_id)
    assert len(rows) == len(set(rows)), "a row was written twice"
    manifest = _manifest(tmp_path, run_id)
    # A failed mini-batch lists its files; a short return (status ok) names the files it missed.
    failed = {Path(f).name for entry in manifest if entry["status"] == "failed" or entry.get("failed_files")
              for f in (entry.get("failed_files") or entry["mini_batch"]["files"])}
    if case.status == "succeeded":
        assert failed == case.failed
        missing = case.failed if case.missing is None else case.missing
        assert sorted(rows) == expected_rows(names, skip=tuple(missing))
    else:  # stopped: what ran is exact, what failed is listed, the rest is listed as not run
        assert case.failed <= failed
        done = {row.split(":")[0] for row in rows}
        never = {Path(f).name for entry in manifest if entry["status"] == "not_run"
                 for f in entry["mini_batch"]["files"]}
        assert done | failed | never == set(names) and not done & (failed | never)
        assert sorted(rows) == expected_rows(names, skip=tuple(failed | never))
    if case.error:
        shown = result.stderr if case.status != "succeeded" else "\n".join(e.get("error", "") for e in manifest)
        assert case.error in shown, shown[-2000:]
    for entry in manifest:  # every failure says why, in words
        if entry["status"] != "not_run":
            assert entry["error"].strip() and entry["tries"] >= 1 and entry["failed_items"] >= 1


def test_random_faults_pick_about_five_percent() -> None:
    """The matrix's random cases fault some files, not none or all (else they test nothing)."""
    assert 1 <= len(RANDOM) <= 10, RANDOM
    assert os.path.exists(SCRIPTS / "faulty.py")
