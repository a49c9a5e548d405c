"""The dispatch benchmark: a no-op run() at mini_batch_size 1 and 10, the engine against
multiprocessing.Pool (chunksize 1, and a chunksize tuned by a sweep) and Ray Data.

Two figures per contender: the run-phase rate (mini-batches/s from the workers' start to
the last result) and the end-to-end wall time of a fresh command (the interpreter, its
imports, listing, start-up, the run and the output).
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.common import NOOP, listing, make_files, run_ours
from bench.peer_cmd import in_fresh_process
from bench.peers import sweep_chunksize

CONTENDERS = {"runner": "runner", "pool_chunksize_1": "Pool, chunksize 1", "pool_tuned": "Pool, tuned",
              "ray_data": "Ray Data"}


def _ratios(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, float]:
    """How many times faster the runner is: on the run-phase rate, and end to end."""
    return {"run_phase": round(ours["mini_batches_per_second"] / peer["mini_batches_per_second"], 2),
            "end_to_end": round(peer["end_to_end_seconds"] / ours["end_to_end_seconds"], 2)}


def _one_size(args: argparse.Namespace, data: Any, files: list[str], size: int) -> dict[str, Any]:
    batches = [files[i:i + size] for i in range(0, len(files), size)]
    sweep = sweep_chunksize(batches, args.workers)  # the tuning, done before and apart from the measurement
    chosen = max(sweep, key=lambda c: sweep[c])
    row: dict[str, Any] = {"mini_batch_size": size, "runner": run_ours(args.work, data, size, args.workers)}
    row["pool_chunksize_1"] = in_fresh_process("pool", data, size, args.workers, "--chunksize", "1")
    row["pool_tuned"] = {**in_fresh_process("pool", data, size, args.workers, "--chunksize", str(chosen)),
                         "sweep_mini_batches_per_second": sweep}
    row["ray_data"] = None if args.no_ray else in_fresh_process("ray", data, size, args.workers,
                                                                 "--script", str(NOOP))
    row["runner_faster"] = {key: _ratios(row["runner"], row[key]) for key in CONTENDERS
                            if key != "runner" and row[key]}
    return row


def dispatch(args: argparse.Namespace) -> dict[str, Any]:
    data = make_files(args.work / f"files-{args.files}", args.files)
    files = listing(data)
    return {"files": args.files, "workers": args.workers,
            "rows": [_one_size(args, data, files, size) for size in (1, 10)]}


def markdown(result: dict[str, Any]) -> list[str]:
    lines = [f"{result['files']:,} files, {result['workers']} workers. Run phase: from the workers' start to the "
             "last result. End to end: the wall time of a fresh command. \"runner x faster\" is the peer's time "
             "over the runner's (above 1: the runner is faster).", "",
             "| mini_batch_size | contender | run-phase mb/s | run s | end to end s | runner x faster, run phase | "
             "runner x faster, end to end |", "|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        for key, label in CONTENDERS.items():
            r = row.get(key)
            if not r:
                continue
            if key == "pool_tuned":
                label = f"Pool, chunksize {r['chunksize']:,} (tuned)"
            ratio = row["runner_faster"].get(key, {})
            lines.append(f"| {row['mini_batch_size']} | {label} | {r['mini_batches_per_second']:,} | "
                         f"{r['run_seconds']} | {r['end_to_end_seconds']} | {ratio.get('run_phase', '-')} | "
                         f"{ratio.get('end_to_end', '-')} |")
    lines += ["", "The tuned chunksize is the best of one sweep (run-phase mb/s) made before the measured runs:"]
    for row in result["rows"]:
        sweep = row["pool_tuned"]["sweep_mini_batches_per_second"]
        lines.append(f"- size {row['mini_batch_size']}: " + ", ".join(f"chunksize {c:,}: {rate:,}"
                                                                       for c, rate in sweep.items()))
    lines += ["", "Driver peak RSS of the runner: " + ", ".join(
        f"{row['runner']['driver_peak_rss_mb']} MB at size {row['mini_batch_size']}" for row in result["rows"]) + "."]
    return lines
