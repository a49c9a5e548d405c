"""The dispatch benchmark: a no-op run() at mini_batch_size 1 and 10, the engine against
multiprocessing.Pool (chunksize 1, and a chunksize tuned by a sweep) and Ray Data.

Three figures per contender: the run-phase rate (mini-batches/s from the workers' start
to the last result), the end-to-end wall time of a fresh command (the interpreter, its
imports, listing, start-up, the run and the output) and that command's CPU per
mini-batch (user + system of the command and every process it waited for).

`endtoend` is the issue-25 figure alone: one-file no-op mini-batches end to end, the
runner against the tuned Pool, the medians of interleaved fresh commands.
"""

from __future__ import annotations

import argparse
import statistics
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
             "last result; the runner's workers start while it lists the inputs, so its run phase counts from the "
             "plan's end (when its progress starts) and leaves out the part of their start-up the listing covered, "
             "which the peers' run phases include (a Pool's spawn: ~0.1 s): compare end to end. End to end: the "
             "wall time of a fresh command. \"runner x faster\" is the peer's time over the runner's (above 1: the "
             "runner is faster).", "",
             "CPU: user + system seconds of the whole command and the processes it waited for (the runner's "
             "workers, the Pool's processes), per mini-batch.", "",
             "| mini_batch_size | contender | run-phase mb/s | run s | end to end s | CPU s | CPU µs/mb | "
             "runner x faster, run phase | runner x faster, end to end |", "|---|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        for key, label in CONTENDERS.items():
            r = row.get(key)
            if not r:
                continue
            if key == "pool_tuned":
                label = f"Pool, chunksize {r['chunksize']:,} (tuned)"
            ratio = row["runner_faster"].get(key, {})
            lines.append(f"| {row['mini_batch_size']} | {label} | {r['mini_batches_per_second']:,} | "
                         f"{r['run_seconds']} | {r['end_to_end_seconds']} | {r['cpu_seconds']} | "
                         f"{r['cpu_us_per_mini_batch']:,} | {ratio.get('run_phase', '-')} | "
                         f"{ratio.get('end_to_end', '-')} |")
    lines += ["", "The tuned chunksize is the best of one sweep (run-phase mb/s) made before the measured runs:"]
    for row in result["rows"]:
        sweep = row["pool_tuned"]["sweep_mini_batches_per_second"]
        lines.append(f"- size {row['mini_batch_size']}: " + ", ".join(f"chunksize {c:,}: {rate:,}"
                                                                       for c, rate in sweep.items()))
    lines += ["", "Driver peak RSS of the runner: " + ", ".join(
        f"{row['runner']['driver_peak_rss_mb']} MB at size {row['mini_batch_size']}" for row in result["rows"]) + "."]
    return lines


def end_to_end(args: argparse.Namespace) -> dict[str, Any]:
    """For each count: one-file no-op mini-batches through `runner apply` and through the
    tuned Pool, each a fresh command, `--runs` rounds interleaved (the order alternates
    each round); the medians of wall and CPU."""
    rows = []
    for count in args.counts:
        data = make_files(args.work / f"files-{count}", count)
        files = listing(data)
        sweep = sweep_chunksize([[f] for f in files], args.workers)  # the tuning, before and apart
        chosen = max(sweep, key=lambda c: sweep[c])
        runs: dict[str, list[dict[str, Any]]] = {"runner": [], "pool_tuned": []}
        for round_ in range(args.runs):
            order = ["runner", "pool_tuned"] if round_ % 2 == 0 else ["pool_tuned", "runner"]
            for name in order:
                runs[name].append(run_ours(args.work, data, 1, args.workers) if name == "runner" else
                                  in_fresh_process("pool", data, 1, args.workers, "--chunksize", str(chosen)))
        medians = {name: {key: round(statistics.median(r[key] for r in results), 2)
                          for key in ("end_to_end_seconds", "cpu_seconds")} for name, results in runs.items()}
        rows.append({"files": count, "chunksize": chosen, "sweep_mini_batches_per_second": sweep,
                     "medians": medians, "runs": runs,
                     "runner_over_pool": {key: round(medians["runner"][key] / medians["pool_tuned"][key], 2)
                                          for key in ("end_to_end_seconds", "cpu_seconds")}})
    return {"workers": args.workers, "runs": args.runs, "rows": rows}


def end_to_end_markdown(result: dict[str, Any]) -> list[str]:
    lines = [f"One-file no-op mini-batches end to end, {result['workers']} workers: `runner apply` against "
             "multiprocessing.Pool (spawn, imap_unordered, listing, start and rows written by the parent), "
             f"each a fresh command, medians of {result['runs']} interleaved rounds. CPU: user + system of the "
             "command and the processes it waited for. \"runner / Pool\" above 1: the runner takes longer "
             "(the issue-25 target: within 2x end to end).", "",
             "| files | contender | end to end s | CPU s | CPU µs/mb | runner / Pool, wall | runner / Pool, CPU |",
             "|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        ratio = row["runner_over_pool"]
        for name, label in (("runner", "runner"), ("pool_tuned", f"Pool, chunksize {row['chunksize']:,} (tuned)")):
            m = row["medians"][name]
            mine = name == "runner"
            lines.append(f"| {row['files']:,} | {label} | {m['end_to_end_seconds']} | {m['cpu_seconds']} | "
                         f"{round(m['cpu_seconds'] / row['files'] * 1e6, 1):,} | "
                         f"{ratio['end_to_end_seconds'] if mine else '-'} | {ratio['cpu_seconds'] if mine else '-'} |")
    return lines
