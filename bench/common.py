"""What the benchmarks share: paths, input files, specs, and running `runner` as a user would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS = HERE / "results"
NOOP = HERE / "scripts" / "noop.py"
COUNT = HERE / "scripts" / "count.py"
REPO = HERE.parent


def make_files(folder: Path, count: int) -> Path:
    """`count` empty files, 10,000 per sub-folder (made once, then reused)."""
    marker = folder.with_name(folder.name + ".complete")  # outside: not an input
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    for start in range(0, count, 10_000):
        sub = folder / f"d{start // 10_000:04d}"
        sub.mkdir(parents=True)
        for i in range(start, min(count, start + 10_000)):
            (sub / f"{i:07d}.png").touch()
    marker.touch()
    return folder


def listing(data: Path, suffix: str = ".png") -> list[str]:
    return sorted(str(p) for p in data.rglob(f"*{suffix}"))


def apply_job(job: Path, spec: str, *args: str) -> tuple[float, Path]:
    """`runner apply` of a spec in its own folder: wall seconds and the run folder."""
    (job / "spec.yaml").write_text(spec)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "runner", *(args or ("apply", "spec.yaml"))], cwd=job,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"runner {' '.join(args or ('apply',))} failed:\n{done.stderr}")
    return wall, next((job / ".runner" / "runs").iterdir())


def job_spec(data: Path, source: Path, script: str, size: int, workers: int, arguments: Sequence[str] = (),
             env: dict[str, str] | None = None) -> str:
    return ("name: bench\n"
            f"datasets: {{d: {{kind: file, path: '{data}'}}}}\n"
            "steps:\n  - name: step\n    inputs: ['${{ datasets.d }}']\n    output: {name: out}\n"
            f"    allow_reuse: false\n    arguments: {json.dumps(list(arguments))}\n"
            f"    parallel_run: {{source_directory: '{source}', entry_script: {script}, mini_batch_size: {size}, "
            f"process_count_per_node: {workers}, run_invocation_timeout: 600, "
            f"environment_variables: {json.dumps(env or {})}}}\n")


def run_ours(work: Path, data: Path, size: int, workers: int) -> dict[str, Any]:
    """The no-op script over `data` through `runner apply`: run-phase rate and end-to-end wall."""
    job = work / f"job-{data.name}-{size}"
    shutil.rmtree(job, ignore_errors=True)
    (job / "code").mkdir(parents=True)
    shutil.copy(NOOP, job / "code" / "noop.py")
    wall, run = apply_job(job, job_spec(data, job / "code", "noop.py", size, workers))
    info = json.loads((run / "run.json").read_text())
    step = json.loads((run / "step" / "step.json").read_text())
    progress = json.loads((run / "step" / "progress.json").read_text())
    mini_batches = progress["mini_batches"]["succeeded"]
    rows = sum(1 for _ in open(run / "step" / "outputs" / "out" / "parallel_run_step.txt", "rb"))
    assert rows == step["files"], "every file must be one output row"
    return {"mini_batches": mini_batches, "files": step["files"], "plan_seconds": step["partition_seconds"],
            "run_seconds": progress["elapsed_seconds"],
            "mini_batches_per_second": round(mini_batches / progress["elapsed_seconds"], 1),
            "end_to_end_seconds": round(wall, 2), "driver_peak_rss_mb": info["driver_peak_rss_mb"]}


def git_state(source: Path = REPO) -> str:
    """The commit of the runner measured, and whether runner/ differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "not a git checkout"
    changed = git("status", "--porcelain", "--", "runner")
    return f"{commit}" + (f", runner/ with {len(changed.splitlines())} uncommitted changes" if changed else "")


def runner_at(work: Path, env: dict[str, str] | None = None) -> Path:
    """The folder holding the runner package that `python -m runner` imports from `work`
    (the working tree's, or one put first on PYTHONPATH)."""
    work.mkdir(parents=True, exist_ok=True)
    found = subprocess.run([sys.executable, "-c", "import runner; print(runner.__file__)"], env=env, cwd=work,
                           capture_output=True, text=True).stdout.strip()
    if not found:
        raise SystemExit("`import runner` fails")
    return Path(found).parent.parent


def runner_version(work: Path) -> str:
    source = runner_at(work)
    return git_state() if source == REPO else f"the runner package under {source}"
