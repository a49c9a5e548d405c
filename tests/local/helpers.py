"""Build a job in a temporary folder and run it through the real engine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from runner.local.output.ledger import Ledger
from runner.local.output.ledger_line import LedgerLine

SCRIPTS = Path(__file__).parent / "scripts"
RUNNER = [sys.executable, "-m", "runner"]


def make_files(folder: Path, count: int, start: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        (folder / f"f{i:04d}.txt").write_text(f"{i}\n")
    return [f"f{i:04d}.txt" for i in range(start, start + count)]


def write_spec(root: Path, *, script: str = "faulty.py", env: dict[str, Any] | None = None,
               name: str = "spec.yaml", dataset: dict[str, Any] | None = None, step: dict[str, Any] | None = None,
               **parallel_run: Any) -> Path:
    code = root / "code"
    code.mkdir(exist_ok=True)
    if (SCRIPTS / script).exists():
        shutil.copy(SCRIPTS / script, code / script)
    markers = root / "markers"
    markers.mkdir(exist_ok=True)
    run: dict[str, Any] = {"source_directory": "code", "entry_script": script, "mini_batch_size": 5,
                           "process_count_per_node": 2, "run_invocation_timeout": 20,
                           "environment_variables": {"FAULT_MARKERS": str(markers), **(env or {})}}
    run.update(parallel_run)
    spec = {"name": "job", "datasets": {"d": dataset or {"kind": "file", "path": "data/"}},
            "steps": [{"name": "score", "inputs": ["${{ datasets.d }}"], "output": {"name": "out"},
                       "allow_reuse": False, "parallel_run": run, **(step or {})}]}
    path = root / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def cli(*args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None) -> \
        subprocess.CompletedProcess[str]:
    """`runner ARGS` in `cwd`; a RUNNER_HOME of the environment only where `env` sets one."""
    base = {k: v for k, v in os.environ.items() if k != "RUNNER_HOME"}
    return subprocess.run([*RUNNER, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**base, "PYTHONPATH": str(Path(__file__).parents[2]), **(env or {})})


def run_folder(root: Path, run_id: str) -> Path:
    return root / ".runner" / "runs" / run_id


def output_rows(root: Path, run_id: str, step: str = "score", output: str = "out",
                file: str = "parallel_run_step.txt") -> list[str]:
    path = run_folder(root, run_id) / step / "outputs" / output / file
    return path.read_text().splitlines() if path.exists() else []


def expected_rows(names: list[str], factor: int = 1, skip: tuple[str, ...] = ()) -> list[str]:
    return sorted(f"{n}: {int(n[1:5]) * factor}" for n in names if n not in skip)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def example_project(root: Path, name: str) -> Path:
    """A copy of the repository's specs and entry scripts with an example's data made."""
    repo = Path(__file__).parents[2]
    for folder in ("specs", "entry_scripts"):
        shutil.copytree(repo / folder, root / folder)
    made = cli("example", name, "--root", str(root), cwd=root, timeout=300)
    assert made.returncode == 0, made.stderr
    return root


def commit(ledger: Ledger, fields: dict[str, Any], rows: bytes = b"", header: bytes | None = None) -> LedgerLine:
    """A mini-batch committed as the supervisor commits it: rows first, then its line."""
    at, out = ledger.append(rows, header)
    line = LedgerLine(**fields, gen=ledger.attempt, at=at, out=out)
    ledger.commit(line)
    return line


def rebuilt_report(step: Path) -> tuple[bytes, set[int], set[int]]:
    """A step's report rebuilt from its ledger the slow, plain way: every current line
    decoded to a LedgerLine and written by csv.writer (the report before its fast path
    for the lines encode_ok writes). With the mini-batches that failed and those that ran."""
    import csv
    import io

    from runner.local.output.ledger_line import current_lines
    from runner.runs.folder import StepFolder

    folder = StepFolder(step)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["mini_batch", "status", "items", "succeeded", "failed", "tries", "worker", "seconds", "error"])
    failed, ran = set(), set()
    for line in current_lines(folder.ledger, bool(folder.read().retried)):
        error = (line.error or "").strip().splitlines()
        writer.writerow([line.mb, line.status, line.items, line.ok, line.failed, line.tries,
                         "" if line.worker is None else line.worker, "" if line.secs is None else line.secs,
                         error[-1] if error else ""])
        ran.add(line.mb)
        if line.failed or line.status != "ok":
            failed.add(line.mb)
    return text.getvalue().encode("utf-8"), failed, ran


def assert_report_rebuilt(step: Path) -> None:
    """The step's report and manifest are those its ledger's lines make (rebuilt_report)."""
    from runner.runs.folder import StepFolder

    folder = StepFolder(step)
    report, failed, ran = rebuilt_report(step)
    assert Path(folder.report).read_bytes() == report
    manifest = [json.loads(line) for line in Path(folder.failed_items).read_text().splitlines()]
    assert {m["mini_batch"]["id"] for m in manifest if m["status"] != "not_run"} == failed
    assert not {m["mini_batch"]["id"] for m in manifest if m["status"] == "not_run"} & ran
