"""Benchmarks of the local engine, side by side in one run (this machine is shared and
noisy: compare ratios from one run, not figures across runs).

    python -m bench dispatch [--files 100000]     no-op run(): mini-batches/s, ours vs
                                                  multiprocessing.Pool (init per worker)
    python -m bench scale [--sizes 10000,100000,1000000]
                                                  planning time, driver peak RSS and end-to-
                                                  end time of a no-op run as inputs grow

Results: bench/results/<name>.json and <name>.md. Data is made under --work (default
/tmp/runner-bench) and reused across invocations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.peers import run_pool

HERE = Path(__file__).parent
RESULTS = HERE / "results"
NOOP = HERE / "scripts" / "noop.py"


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


def run_ours(work: Path, data: Path, size: int, workers: int) -> dict[str, Any]:
    job = work / f"job-{data.name}-{size}"
    shutil.rmtree(job, ignore_errors=True)
    (job / "code").mkdir(parents=True)
    shutil.copy(NOOP, job / "code" / "noop.py")
    (job / "spec.yaml").write_text(
        "name: bench\n"
        f"datasets: {{d: {{kind: file, path: '{data}'}}}}\n"
        "steps:\n  - name: noop\n    inputs: ['${{ datasets.d }}']\n    output: {name: out}\n"
        "    allow_reuse: false\n"
        f"    parallel_run: {{source_directory: code, entry_script: noop.py, mini_batch_size: {size}, "
        f"process_count_per_node: {workers}, run_invocation_timeout: 600}}\n")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "runner", "apply", "spec.yaml"], cwd=job, capture_output=True,
                          text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"runner apply failed:\n{done.stderr}")
    run = next((job / ".runner" / "runs").iterdir())
    info = json.loads((run / "run.json").read_text())
    step = json.loads((run / "noop" / "step.json").read_text())
    progress = json.loads((run / "noop" / "progress.json").read_text())
    mini_batches = progress["mini_batches"]["succeeded"]
    rows = sum(1 for _ in open(run / "noop" / "outputs" / "out" / "parallel_run_step.txt", "rb"))
    assert rows == step["files"], "every file must be one output row"
    return {"mini_batches": mini_batches, "files": step["files"], "plan_seconds": step["partition_seconds"],
            "run_seconds": progress["elapsed_seconds"],
            "mini_batches_per_second": round(mini_batches / progress["elapsed_seconds"], 1),
            "end_to_end_seconds": round(wall, 2), "driver_peak_rss_mb": info["driver_peak_rss_mb"]}


def dispatch(args: argparse.Namespace) -> dict[str, Any]:
    data = make_files(args.work / f"files-{args.files}", args.files)
    rows = []
    for size in (1, 10):
        ours = run_ours(args.work, data, size, args.workers)
        pool = run_pool(data, size, args.workers)
        rows.append({"mini_batch_size": size, "runner": ours, "multiprocessing_pool": pool,
                     "ratio_vs_pool": round(ours["mini_batches_per_second"] / pool["mini_batches_per_second"], 2)})
    return {"files": args.files, "workers": args.workers, "rows": rows}


def scale(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for count in args.sizes:
        data = make_files(args.work / f"files-{count}", count)
        rows.append({"files": count, "runner": run_ours(args.work, data, 10, args.workers)})
    return {"workers": args.workers, "mini_batch_size": 10, "rows": rows}


def _markdown(name: str, result: dict[str, Any]) -> str:
    lines = [f"# {name}", "", f"`{result['command']}` on {result['machine']}", ""]
    if name == "dispatch":
        lines += ["| mini_batch_size | runner mb/s | Pool mb/s | runner / Pool | runner driver RSS MB |",
                  "|---|---|---|---|---|"]
        for row in result["rows"]:
            lines.append(f"| {row['mini_batch_size']} | {row['runner']['mini_batches_per_second']} | "
                         f"{row['multiprocessing_pool']['mini_batches_per_second']} | {row['ratio_vs_pool']} | "
                         f"{row['runner']['driver_peak_rss_mb']} |")
    else:
        lines += ["| files | plan s | run s | end to end s | driver peak RSS MB | mb/s |", "|---|---|---|---|---|---|"]
        for row in result["rows"]:
            r = row["runner"]
            lines.append(f"| {row['files']:,} | {r['plan_seconds']} | {r['run_seconds']} | {r['end_to_end_seconds']} | "
                         f"{r['driver_peak_rss_mb']} | {r['mini_batches_per_second']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=["dispatch", "scale"])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/runner-bench"))
    args = parser.parse_args()
    result = {"dispatch": dispatch, "scale": scale}[args.name](args)
    result["command"] = "python -m bench " + " ".join(sys.argv[1:])
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    result["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"{args.name}.md").write_text(_markdown(args.name, result))
    print(_markdown(args.name, result))


if __name__ == "__main__":
    main()
