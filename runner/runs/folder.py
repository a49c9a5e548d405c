"""A run's folder: everything a run writes, and the names the commands read.

    .runner/runs/<run id>/
      run.json                      status, times, driver pid, per-step summary
      job.json                      what runs (mode 0600: it may hold secrets)
      plan.txt, plan.json           the resolved plan, as `runner plan` shows it
      <step>/
        step.json                   partitioning totals, fingerprint, reuse
        minibatches.jsonl           one descriptor per mini-batch
        ledger.jsonl                one line per finished mini-batch (exactly-once)
        progress.json               the numbers `runner status` shows
        failed_items.jsonl          what failed, re-runnable (dataset `manifest: true`)
        outputs/<output>/<append_row_file_name>
        logs/user/stdout/node<i>/process<j>.stdout.txt   (and stderr/, entry_script_log/)
        logs/sys/driver.log
        logs/sys/report/processed_mini_batches.csv
        logs/job_progress_overview.txt
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUN_ID = re.compile(r"^[a-z0-9][-a-z0-9]{0,80}$")


@dataclass
class RunFolder:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    def file(self, name: str) -> str:
        return str(self.path / name)

    def step(self, step: str) -> StepFolder:
        return StepFolder(self.path / step)

    def read(self) -> dict[str, Any]:
        return read_json(self.path / "run.json")

    def update(self, **fields: Any) -> dict[str, Any]:
        data = self.read() if (self.path / "run.json").exists() else {}
        data.update(fields)
        write_json(self.path / "run.json", data)
        return data


@dataclass
class StepFolder:
    path: Path

    def __getattr__(self, name: str) -> str:
        files = {"minibatches": "minibatches.jsonl", "ledger": "ledger.jsonl", "step_json": "step.json",
                 "progress": "progress.json", "failed_items": "failed_items.jsonl",
                 "driver_log": "logs/sys/driver.log", "report": "logs/sys/report/processed_mini_batches.csv",
                 "overview": "logs/job_progress_overview.txt"}
        if name in files:
            return str(self.path / files[name])
        raise AttributeError(name)

    def user_log(self, stream: str, node: int, process: int) -> str:
        suffix = {"stdout": "stdout.txt", "stderr": "stderr.txt", "entry_script_log": "log.txt"}[stream]
        return str(self.path / "logs" / "user" / stream / f"node{node}" / f"process{process:03d}.{suffix}")

    def read(self) -> dict[str, Any]:
        return read_json(Path(self.step_json)) if os.path.exists(self.step_json) else {}

    def update(self, **fields: Any) -> None:
        data = self.read()
        data.update(fields)
        write_json(Path(self.step_json), data)


def read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
        return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic: a reader (or a crash) sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def new_run(root: Path, name: str) -> RunFolder:
    """A new, unique run folder: <spec name>-<UTC time>[-n]."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()  # workers run in source_directory: every path they get is absolute
    for n in range(1, 1000):
        run_id = f"{name}-{stamp}" + (f"-{n}" if n > 1 else "")
        try:
            (root / run_id).mkdir()
            return RunFolder(root / run_id)
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder under {root}")


def list_runs(root: Path) -> list[RunFolder]:
    """Runs oldest first (by start time in run.json; folders without one are skipped)."""
    if not root.is_dir():
        return []
    root = root.resolve()
    found = []
    for path in root.iterdir():
        if (path / "run.json").is_file():
            try:
                found.append((read_json(path / "run.json").get("started", 0), RunFolder(path)))
            except (OSError, ValueError):
                continue
    return [run for _, run in sorted(found, key=lambda pair: (pair[0], pair[1].id))]


def find_run(root: Path, name: str) -> RunFolder | None:
    """A run by id, by a prefix only one run id starts with, or `latest`."""
    runs = list_runs(root)
    if name in ("latest", "last"):
        return runs[-1] if runs else None
    if not RUN_ID.match(name):
        return None  # never a path: run names become file names
    exact = [r for r in runs if r.id == name]
    if exact:
        return exact[0]
    prefixed = [r for r in runs if r.id.startswith(name)]
    if len(prefixed) > 1:
        raise Ambiguous([r.id for r in prefixed])
    return prefixed[0] if prefixed else None


class Ambiguous(Exception):
    """A prefix that more than one run id starts with (args[0]: those ids)."""


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
