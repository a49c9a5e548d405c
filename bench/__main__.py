"""Benchmarks of the local engine, side by side in one run (this machine is shared and
noisy: compare ratios from one run, not figures across runs).

    python -m bench dispatch [--files 100000]     no-op run(): mini-batches/s, ours vs
                                                  multiprocessing.Pool (init per worker)
                                                  vs Ray Data map_batches (actor pool)
    python -m bench mnist [--copies 20]           the tutorial's entry script on PNGs: files/s,
                                                  ours vs a plain loop in 2 processes (the
                                                  limit) vs Ray Data, mini_batch_size 5 and 64
    python -m bench scale [--sizes 10000,100000,1000000]
                                                  planning time, driver peak RSS and end-to-
                                                  end time of a no-op run as inputs grow
    python -m bench resume                        SIGKILL the driver half way, resume: work
                                                  redone vs in flight, exactly-once checked

Results: bench/results/<name>.json and <name>.md. Data is made under --work (default
/tmp/runner-bench) and reused across invocations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.peers import run_plain_loop, run_pool, run_ray

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


def job_spec(data: Path, source: Path, script: str, size: int, workers: int, arguments: list[str] = (),
             env: dict[str, str] | None = None) -> str:
    return ("name: bench\n"
            f"datasets: {{d: {{kind: file, path: '{data}'}}}}\n"
            "steps:\n  - name: step\n    inputs: ['${{ datasets.d }}']\n    output: {name: out}\n"
            f"    allow_reuse: false\n    arguments: {json.dumps(list(arguments))}\n"
            f"    parallel_run: {{source_directory: '{source}', entry_script: {script}, mini_batch_size: {size}, "
            f"process_count_per_node: {workers}, run_invocation_timeout: 600, "
            f"environment_variables: {json.dumps(env or {})}}}\n")


def run_ours(work: Path, data: Path, size: int, workers: int) -> dict[str, Any]:
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


def listing(data: Path, suffix: str = ".png") -> list[str]:
    return sorted(str(p) for p in data.rglob(f"*{suffix}"))


def dispatch(args: argparse.Namespace) -> dict[str, Any]:
    data = make_files(args.work / f"files-{args.files}", args.files)
    rows = []
    files = listing(data)
    for size in (1, 10):
        ours = run_ours(args.work, data, size, args.workers)
        pool = run_pool(data, size, args.workers)
        ray = run_ray(NOOP, [], files, size, args.workers) if not args.no_ray else None
        rows.append({"mini_batch_size": size, "runner": ours, "multiprocessing_pool": pool, "ray_data": ray,
                     "ratio_vs_pool": round(ours["mini_batches_per_second"] / pool["mini_batches_per_second"], 2),
                     "ratio_vs_ray": round(ours["mini_batches_per_second"] / ray["mini_batches_per_second"], 2)
                     if ray else None})
    return {"files": args.files, "workers": args.workers, "rows": rows}


def mnist(args: argparse.Namespace) -> dict[str, Any]:
    """The tutorial's job end to end: digits as PNG files, classified by its entry script."""
    root = args.work / "mnist"
    made = subprocess.run([sys.executable, "-m", "runner", "example", "mnist", "--root", str(root)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        raise SystemExit(f"runner example mnist failed:\n{made.stderr}")
    data = root / f"images-x{args.copies}"
    if not data.with_name(data.name + ".complete").exists():  # copies of the 360 PNGs, as links
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        for copy in range(args.copies):
            for png in sorted((root / "data" / "mnist").glob("*.png")):
                os.link(png, data / f"{copy:03d}-{png.name}")
        data.with_name(data.name + ".complete").touch()
    files = listing(data)
    script = REPO / "entry_scripts" / "digit_identification.py"
    argv = ["--model", str(root / "models" / "mnist")]
    rows = []
    # Warm-up, not measured: the first process to load TensorFlow and read the images pays
    # for the page cache, whichever it is.
    run_plain_loop(script, argv, [files[i:i + 64] for i in range(0, len(files), 64)], args.workers,
                   args.work / "loop-mnist-warmup")
    for size in (5, 64):
        batches = [files[i:i + size] for i in range(0, len(files), size)]
        best: dict[str, dict[str, Any]] = {}
        for _ in range(args.repeat):  # interleaved, best of each: the machine is shared
            job = args.work / f"job-mnist-{size}"
            shutil.rmtree(job, ignore_errors=True)
            job.mkdir(parents=True)
            wall, run = apply_job(job, job_spec(data, REPO, "entry_scripts/digit_identification.py", size,
                                                args.workers, argv))
            rows_out = sum(1 for _ in open(run / "step" / "outputs" / "out" / "parallel_run_step.txt"))
            assert rows_out == len(files), "every image must be one row"
            ours = {"end_to_end_seconds": round(wall, 2)}
            loop = run_plain_loop(script, argv, batches, args.workers, args.work / f"loop-mnist-{size}")
            assert loop["rows"] == len(files)
            ray = run_ray(script, argv, files, size, args.workers) if not args.no_ray else None
            assert ray is None or ray["rows"] == len(files)
            for name, result in (("runner", ours), ("plain_loop", loop), ("ray_data", ray)):
                if result and (name not in best or result["end_to_end_seconds"] < best[name]["end_to_end_seconds"]):
                    best[name] = result
        for result in best.values():
            result["files_per_second"] = round(len(files) / result["end_to_end_seconds"], 1)
        row = {"mini_batch_size": size, "files": len(files), **best,
               "ratio_vs_limit": round(best["runner"]["files_per_second"] / best["plain_loop"]["files_per_second"], 3)}
        if "ray_data" in best:
            row["ratio_vs_ray"] = round(best["runner"]["files_per_second"] / best["ray_data"]["files_per_second"], 2)
        rows.append(row)
    return {"workers": args.workers, "copies": args.copies, "repeat": args.repeat, "rows": rows}


def resume(args: argparse.Namespace) -> dict[str, Any]:
    """SIGKILL the driver at about half way, resume, count what ran twice."""
    data = make_files(args.work / "files-20000", 20_000)
    job = args.work / "job-resume"
    shutil.rmtree(job, ignore_errors=True)
    counts = job / "counts"
    counts.mkdir(parents=True)
    size, total = 10, 2_000
    spec = job_spec(data, COUNT.parent, COUNT.name, size, args.workers,
                    env={"COUNT_DIR": str(counts), "SLEEP": "0.004"})
    (job / "spec.yaml").write_text(spec)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "runner", "apply", "spec.yaml"], cwd=job,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ledger = None
    while ledger is None or len(ledger.read_bytes().splitlines()) < total // 2:
        ledger = next(iter((job / ".runner" / "runs").glob("*/step/ledger.jsonl")), None)
        if proc.poll() is not None:
            raise SystemExit("the run ended before it could be killed")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = time.perf_counter() - started
    time.sleep(0.3)  # the orphaned workers see the driver gone and stop
    committed = len(ledger.read_bytes().splitlines())
    started_before = sum(len(p.read_text().splitlines()) for p in counts.glob("*.log"))
    run = ledger.parents[1]
    wall, _ = apply_job(job, spec, "resume", run.name)
    started_total = sum(len(p.read_text().splitlines()) for p in counts.glob("*.log"))
    rows = (run / "step" / "outputs" / "out" / "parallel_run_step.txt").read_text().splitlines()
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    exactly_once = (sorted(rows) == sorted(listing(data)) and len(set(rows)) == len(rows)
                    and sorted(r["mb"] for r in records) == list(range(total)))
    return {"mini_batches": total, "workers": args.workers, "killed_after_seconds": round(killed_at, 2),
            "committed_before_kill": committed, "in_flight_at_kill": started_before - committed,
            "redone": started_total - total, "resume_seconds": round(wall, 2), "exactly_once": exactly_once}


def scale(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for count in args.sizes:
        data = make_files(args.work / f"files-{count}", count)
        rows.append({"files": count, "runner": run_ours(args.work, data, 10, args.workers)})
    return {"workers": args.workers, "mini_batch_size": 10, "rows": rows}


def _markdown(name: str, result: dict[str, Any]) -> str:
    lines = [f"# {name}", "", f"`{result['command']}` on {result['machine']}", ""]
    if name == "dispatch":
        lines += ["| mini_batch_size | runner mb/s | Pool mb/s | Ray Data mb/s | runner / Pool | runner / Ray | "
                  "runner driver RSS MB |", "|---|---|---|---|---|---|---|"]
        for row in result["rows"]:
            ray = row["ray_data"]["mini_batches_per_second"] if row.get("ray_data") else "-"
            lines.append(f"| {row['mini_batch_size']} | {row['runner']['mini_batches_per_second']} | "
                         f"{row['multiprocessing_pool']['mini_batches_per_second']} | {ray} | {row['ratio_vs_pool']} | "
                         f"{row.get('ratio_vs_ray') or '-'} | {row['runner']['driver_peak_rss_mb']} |")
    elif name == "mnist":
        lines += ["| mini_batch_size | files | runner files/s | plain loop files/s (limit) | Ray Data files/s | "
                  "runner / limit | runner / Ray |", "|---|---|---|---|---|---|---|"]
        for row in result["rows"]:
            ray = row.get("ray_data", {}).get("files_per_second", "-")
            lines.append(f"| {row['mini_batch_size']} | {row['files']:,} | {row['runner']['files_per_second']} | "
                         f"{row['plain_loop']['files_per_second']} | {ray} | {row['ratio_vs_limit']} | "
                         f"{row.get('ratio_vs_ray', '-')} |")
    elif name == "resume":
        lines += ["| mini-batches | committed before kill | in flight at kill | redone | resume s | exactly once |",
                  "|---|---|---|---|---|---|",
                  f"| {result['mini_batches']:,} | {result['committed_before_kill']} | {result['in_flight_at_kill']} | "
                  f"{result['redone']} | {result['resume_seconds']} | {result['exactly_once']} |"]
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
    parser.add_argument("name", choices=["dispatch", "mnist", "scale", "resume"])
    parser.add_argument("--copies", type=int, default=20, help="mnist: copies of the 360 test images")
    parser.add_argument("--repeat", type=int, default=3, help="mnist: runs of each, the best kept")
    parser.add_argument("--no-ray", action="store_true", help="leave Ray Data out (not installed)")
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/runner-bench"))
    args = parser.parse_args()
    result = {"dispatch": dispatch, "mnist": mnist, "scale": scale, "resume": resume}[args.name](args)
    result["command"] = "python -m bench " + " ".join(sys.argv[1:])
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    result["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"{args.name}.md").write_text(_markdown(args.name, result))
    print(_markdown(args.name, result))


if __name__ == "__main__":
    main()
