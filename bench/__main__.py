"""Benchmarks of the local engine, side by side in one run (this machine is shared and
noisy: compare ratios from one run, not figures across runs).

    python -m bench dispatch [--files 100000]     no-op run(): mini-batches/s, end-to-end time
                                                  and CPU per mini-batch, ours vs
                                                  multiprocessing.Pool (chunksize 1, and tuned)
                                                  vs Ray Data map_batches
    python -m bench endtoend [--counts 60000,100000] [--runs 5]
                                                  one-file no-op mini-batches end to end, ours
                                                  vs the tuned Pool: medians of interleaved
                                                  fresh commands, wall and CPU
    python -m bench mnist [--copies 20]           the tutorial's entry script on PNGs: files/s,
                                                  ours vs a plain loop in 2 processes (the
                                                  limit, leaving as our workers do) vs Ray
                                                  Data, mini_batch_size 5 and 64
    python -m bench scale [--sizes 10000,100000,1000000] [--mini-batch-size 10]
                                                  planning, run and end-to-end time and driver
                                                  peak RSS of a no-op run as inputs grow
    python -m bench resume                        SIGKILL the driver half way, resume: work
                                                  redone vs in flight, exactly-once checked
    python -m bench startup [--runs 20]           a one-file job, --help, validate, import:
                                                  median wall times; -X importtime's top list
    python -m bench ray [--copies 20] [--ray-sizes 5,64] [--repeat 3]
                                                  a 3-node Ray cluster on this machine: the
                                                  MNIST job through --target ray vs Ray Data
                                                  map_batches vs --target local; a node
                                                  removed mid-run: time to recover
    python -m bench incremental --files 1000000 --mini-batch-size 100 [--script mnist]
                                                  an incremental step scored once, then 1,000
                                                  files added and 1,000 modified: the second
                                                  apply's time against the full run's

Results: bench/results/<name>.json and <name>.md (--out elsewhere). Data is made under --work (default
/tmp/runner-bench) and reused across invocations.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import dispatch, incremental, ray_target, startup
from bench.common import (COUNT, REPO, RESULTS, apply_job, job_spec, listing, made_seconds, make_files, mnist_inputs,
                          run_ours, runner_version)
from bench.peer_cmd import in_fresh_process
from bench.peers import run_plain_loop


def mnist(args: argparse.Namespace) -> dict[str, Any]:
    """The tutorial's job end to end: digits as PNG files, classified by its entry script."""
    data, root = mnist_inputs(args.work, args.copies)
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
            ray = None if args.no_ray else in_fresh_process("ray", data, size, args.workers, "--script", str(script),
                                                            "--argv", json.dumps(argv))
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
    """A no-op run as inputs grow: planning (listing and cutting into mini-batches), run
    phase, end to end, the driver's peak RSS. The files are hard links (make_files)."""
    rows = []
    for count in args.sizes:
        folder = args.work / f"linked-{count}"
        if not folder.with_name(folder.name + ".complete").exists():
            _check_room(args.work, count)
        data = make_files(folder, count, linked=True)
        ours = run_ours(args.work, data, args.mini_batch_size, args.workers)
        ours["plan_us_per_file"] = round(ours["plan_seconds"] / count * 1e6, 2)
        ours["other_seconds"] = round(ours["end_to_end_seconds"] - ours["plan_seconds"] - ours["run_seconds"], 2)
        rows.append({"files": count, "made_seconds": made_seconds(data), "runner": ours})
    return {"workers": args.workers, "mini_batch_size": args.mini_batch_size, "rows": rows}


def _check_room(work: Path, count: int) -> None:
    """Names for `count` files, and a run folder that lists them all (~200 bytes a file
    between descriptors, output rows and the ledger): refuse before filling the disk."""
    work.mkdir(parents=True, exist_ok=True)
    disk = os.statvfs(work)
    free_gb = disk.f_bavail * disk.f_frsize / 1e9
    if free_gb < 5 + count * 200 / 1e9 or disk.f_favail < count // 5_000 + 100_000:
        raise SystemExit(f"{work}: {free_gb:.1f} GB and {disk.f_favail:,} inodes free: too little for "
                         f"{count:,} files and their run (5 GB spare wanted)")


def _mnist_markdown(result: dict[str, Any]) -> list[str]:
    lines = ["Files/s is files over the end-to-end wall time (s in brackets). Ray Data runs as a fresh command; "
             "the limit's processes are spawned by the benchmark. The limit's processes leave as the runner's "
             "workers do: rows written and flushed, atexit functions run, then os._exit, so neither counts "
             "TensorFlow's teardown.", "",
             "| mini_batch_size | files | runner files/s (s) | plain loop files/s (s), the limit | "
             "Ray Data files/s (s) | runner / limit | runner / Ray |", "|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        cells = [f"{row[key]['files_per_second']} ({row[key]['end_to_end_seconds']})" if key in row else "-"
                 for key in ("runner", "plain_loop", "ray_data")]
        lines.append(f"| {row['mini_batch_size']} | {row['files']:,} | {' | '.join(cells)} | "
                     f"{row['ratio_vs_limit']} | {row.get('ratio_vs_ray', '-')} |")
    return lines


def _resume_markdown(result: dict[str, Any]) -> list[str]:
    return ["| mini-batches | committed before kill | in flight at kill | redone | resume s | exactly once |",
            "|---|---|---|---|---|---|",
            f"| {result['mini_batches']:,} | {result['committed_before_kill']} | {result['in_flight_at_kill']} | "
            f"{result['redone']} | {result['resume_seconds']} | {result['exactly_once']} |"]


def _scale_markdown(result: dict[str, Any]) -> list[str]:
    lines = [f"A no-op run(), mini_batch_size {result['mini_batch_size']}, {result['workers']} workers. Plan: "
             "listing the inputs and writing their mini-batch descriptors (the step's partition_seconds). Run: "
             "the run phase. Other: the rest of the end-to-end wall (start-up, checks, closing). Made: seconds "
             "to make the input files (hard links, 10,000 a folder), once; '-' where they were made before "
             "and reused without a record of it.", "",
             "| files | made s | plan s | plan µs/file | run s | other s | end to end s | CPU s | "
             "driver peak RSS MB | mb/s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        r = row["runner"]
        made = row.get("made_seconds")
        lines.append(f"| {row['files']:,} | {made if made is not None else '-'} | {r['plan_seconds']} | "
                     f"{r['plan_us_per_file']} | {r['run_seconds']} | {r['other_seconds']} | "
                     f"{r['end_to_end_seconds']} | {r['cpu_seconds']} | {r['driver_peak_rss_mb']} | "
                     f"{r['mini_batches_per_second']} |")
    return lines


BENCHMARKS: dict[str, tuple[Callable[[argparse.Namespace], dict[str, Any]],
                            Callable[[dict[str, Any]], list[str]]]] = {
    "dispatch": (dispatch.dispatch, dispatch.markdown), "endtoend": (dispatch.end_to_end, dispatch.end_to_end_markdown),
    "mnist": (mnist, _mnist_markdown),
    "scale": (scale, _scale_markdown), "resume": (resume, _resume_markdown),
    "startup": (startup.startup, startup.markdown),
    "incremental": (incremental.incremental, incremental.markdown),
    "ray": (ray_target.ray_target, ray_target.markdown),
}


def _markdown(name: str, result: dict[str, Any]) -> str:
    lines = [f"# {name}", "", f"`{result['command']}` on {result['machine']}, {result['when']}, runner at "
             f"{result.get('runner_version') or result['commit']}; {result['benchmark_seconds']} s in all, load "
             f"average {result['load_average'][0]} before, {result['load_average'][1]} after", "",
             *BENCHMARKS[name][1](result)]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=list(BENCHMARKS))
    parser.add_argument("--copies", type=int, default=20, help="mnist, ray: copies of the 360 test images")
    parser.add_argument("--repeat", type=int, default=3, help="mnist, incremental: runs of each, the best kept; "
                        "ray: interleaved rounds, the median kept")
    parser.add_argument("--ray-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[5, 64],
                        help="ray: mini_batch_size of the MNIST job, comma-separated")
    parser.add_argument("--no-ray", action="store_true", help="leave Ray Data out (not installed)")
    parser.add_argument("--files", type=int, default=100_000, help="dispatch, incremental: input files")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000, 1_000_000],
                        help="scale: input files, comma-separated")
    parser.add_argument("--mini-batch-size", type=int, default=10, help="scale, incremental: files per mini-batch")
    parser.add_argument("--runs", type=int, help="startup: runs of each command, the median kept (default 20); "
                        "endtoend: interleaved rounds (default 5)")
    parser.add_argument("--counts", type=lambda s: [int(x) for x in s.split(",")], default=[60_000, 100_000],
                        help="endtoend: one-file mini-batches, comma-separated")
    parser.add_argument("--source", type=Path, help="startup: measure the runner package under this folder "
                        "(put first on PYTHONPATH), e.g. an unpacked `git archive` of an older commit")
    parser.add_argument("--note", help="startup: what --source is, for the results (default: its git state)")
    parser.add_argument("--script", choices=["noop", "mnist"], default="noop",
                        help="incremental: the no-op script, or the worked example's TensorFlow one (results then "
                        "go to incremental-mnist.json and .md)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/runner-bench"), help="where inputs and jobs go")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where <name>.json and <name>.md go")
    return parser


def main() -> None:
    args = _parser().parse_args()
    if args.runs is None:
        args.runs = 5 if args.name == "endtoend" else 20
    # Bytecode as an installed package has it (pip compiles on install); this machine sets
    # PYTHONDONTWRITEBYTECODE, so every fresh command would otherwise compile the sources.
    for package in ("runner", "bench"):
        compileall.compile_dir(str(REPO / package), quiet=1)
    # No end-of-run report: its writer is a detached process (~1-2 s of CPU with matplotlib)
    # that would run on beside the next contender's timed run. Its own cost is in bench/README.md.
    os.environ["RUNNER_REPORT"] = "0"
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    result = BENCHMARKS[args.name][0](args)
    result["command"] = "python -m bench " + shlex.join(sys.argv[1:])
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    result["when"] = time.strftime("%Y-%m-%d %H:%M")
    result["commit"] = runner_version(args.work)
    result["benchmark_seconds"] = round(time.perf_counter() - started, 1)
    result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]  # 1 min, before and after
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.name}-{args.script}" if args.name == "incremental" and args.script != "noop" else args.name
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(_markdown(args.name, result))
    print(_markdown(args.name, result))


if __name__ == "__main__":
    main()
