"""What the benchmarks share: paths, input files, specs, and running `runner` as a user would."""

from __future__ import annotations

import json
import os
import resource
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


PER_FOLDER = 10_000  # files per sub-folder: no folder holds millions


def make_files(folder: Path, count: int, linked: bool = False) -> Path:
    """`count` empty files, 10,000 per sub-folder, made once and then reused; the marker
    beside the folder holds how many seconds making them took. `linked`: each sub-folder
    holds one empty file and 9,999 hard links to it, so 10,000,000 inputs cost 10,000,000
    names but 1,000 inodes (the disk's inode table is shared), and a listing's stat calls
    meet a warm inode cache: what is measured is the runner, not the disk."""
    marker = folder.with_name(folder.name + ".complete")  # outside: not an input
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    folder.mkdir(parents=True)
    flags = os.O_CREAT | os.O_WRONLY | os.O_EXCL
    for start in range(0, count, PER_FOLDER):
        sub = f"{folder}/d{start // PER_FOLDER:04d}"
        os.mkdir(sub)
        first = f"{sub}/{start:07d}.png"
        os.close(os.open(first, flags, 0o644))
        for i in range(start + 1, min(count, start + PER_FOLDER)):  # a tight loop: ~10 M names to make
            if linked:
                os.link(first, f"{sub}/{i:07d}.png")
            else:
                os.close(os.open(f"{sub}/{i:07d}.png", flags, 0o644))
    marker.write_text(f"{time.perf_counter() - started:.1f}\n")
    return folder


def mnist_example(work: Path) -> Path:
    """`runner example mnist` made once under `work`: its root (data/mnist holds the 360
    test PNGs, models/mnist the model)."""
    root = work / "mnist"
    work.mkdir(parents=True, exist_ok=True)
    made = subprocess.run([sys.executable, "-m", "runner", "example", "mnist", "--root", str(root)], cwd=work,
                          capture_output=True, text=True)
    if made.returncode != 0:
        raise SystemExit(f"runner example mnist failed:\n{made.stderr}")
    return root


def mnist_inputs(work: Path, copies: int) -> tuple[Path, Path]:
    """`runner example mnist`'s 360 test PNGs, linked `copies` times into one folder, made
    once under `work`: that folder and the example's root (models/mnist holds the model)."""
    root = mnist_example(work)
    data = root / f"images-x{copies}"
    if not data.with_name(data.name + ".complete").exists():  # copies of the 360 PNGs, as links
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        for copy in range(copies):
            for png in sorted((root / "data" / "mnist").glob("*.png")):
                os.link(png, data / f"{copy:03d}-{png.name}")
        data.with_name(data.name + ".complete").touch()
    return data, root


def made_seconds(folder: Path) -> float | None:
    """How long making `folder`'s files took (None: made before the marker said)."""
    try:
        return float(folder.with_name(folder.name + ".complete").read_text())
    except (OSError, ValueError):
        return None


def listing(data: Path, suffix: str = ".png") -> list[str]:
    return sorted(str(p) for p in data.rglob(f"*{suffix}"))


def children_cpu() -> float:
    """User + system CPU seconds of every child process waited for so far (and of their
    waited-for descendants): a difference of two readings is one command's whole CPU."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_command(argv: Sequence[str], cwd: Path) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """A fresh command: its wall seconds, its CPU seconds (it and the children it waited
    for) and what it printed."""
    cpu, started = children_cpu(), time.perf_counter()
    done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - started, children_cpu() - cpu, done


def apply_job(job: Path, spec: str, *args: str) -> tuple[float, Path]:
    """`runner apply` of a spec in its own folder: wall seconds and the run folder."""
    wall, _, run = apply_job_cpu(job, spec, *args)
    return wall, run


def apply_job_cpu(job: Path, spec: str, *args: str) -> tuple[float, float, Path]:
    """`runner apply` of a spec in its own folder: wall seconds, CPU seconds (the driver
    and its workers) and the run folder."""
    (job / "spec.yaml").write_text(spec)
    wall, cpu, done = timed_command([sys.executable, "-m", "runner", *(args or ("apply", "spec.yaml"))], job)
    if done.returncode != 0:
        raise SystemExit(f"runner {' '.join(args or ('apply',))} failed:\n{done.stderr}")
    return wall, cpu, next((job / ".runner" / "runs").iterdir())


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
    """The no-op script over `data` through `runner apply`: plan (listing and cutting into
    mini-batches), run phase, end-to-end wall and CPU, the driver's peak RSS."""
    job = work / f"job-{data.name}-{size}"
    shutil.rmtree(job, ignore_errors=True)
    (job / "code").mkdir(parents=True)
    shutil.copy(NOOP, job / "code" / "noop.py")
    wall, cpu, run = apply_job_cpu(job, job_spec(data, job / "code", "noop.py", size, workers))
    info = json.loads((run / "run.json").read_text())
    step = json.loads((run / "step" / "step.json").read_text())
    progress = json.loads((run / "step" / "progress.json").read_text())
    mini_batches = progress["mini_batches"]["succeeded"]
    rows = sum(1 for _ in open(run / "step" / "outputs" / "out" / "parallel_run_step.txt", "rb"))
    assert rows == step["files"], "every file must be one output row"
    return {"mini_batches": mini_batches, "files": step["files"], "plan_seconds": step["partition_seconds"],
            "run_seconds": progress["elapsed_seconds"],
            "mini_batches_per_second": round(mini_batches / progress["elapsed_seconds"], 1),
            "end_to_end_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
            "cpu_us_per_mini_batch": round(cpu / mini_batches * 1e6, 1),
            "driver_peak_rss_mb": info["driver_peak_rss_mb"]}


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
