"""`python -m bench incremental`: the same job again tomorrow. `--files` files (the
benchmark's own copy under --work, made once: it changes them) are scored once by an
incremental step with the no-op script (one row per file), then 1,000 files are added and
1,000 modified and the job is applied again (each `--repeat` times, the fastest kept: the
second applies and the listings interleaved). Recorded: the full run's time, the listing's
(the second state's inputs listed as the engine lists them, with each file's identity,
and cut into mini-batches: no matching, nothing written; `runner plan`'s wall time over
the second state besides), the second apply's time, its ratio to the full run and
(second - listing) / full (target: under 5%), and the driver's peak RSS of each apply
(VmHWM, as `bench scale` reads it). Each
output is checked: every current file's row exactly once (an order-free digest of the
rows against one of the listing).

`--script noop` (the default) returns each path: the runner's own cost alone, against a
full run that costs little more than its listing. `--script mnist` scores the files
with the worked example's entry script and model (entry_scripts/digit_identification.py,
TensorFlow): the files are names for the example's 360 test PNGs (hard links, so a
million inputs cost no million images' data), a modified one is replaced by another
digit's image, and each row is the file's name and its digit."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from bench.common import NOOP, PER_FOLDER, REPO, job_spec, make_files, mnist_example

CHANGED = 1_000  # files added, and files modified
SCRIPT = "entry_scripts/digit_identification.py"


def incremental(args: argparse.Namespace) -> dict[str, Any]:
    count, size, rounds = args.files, args.mini_batch_size, max(1, args.repeat)
    job = args.work / f"job-incremental-{args.script}-{count}"
    shutil.rmtree(job, ignore_errors=True)
    (job / "code").mkdir(parents=True)
    if args.script == "mnist":
        root = mnist_example(args.work)
        pngs = sorted((root / "data" / "mnist").glob("*.png"))
        data = _digit_files(args.work / f"incremental-digits-{count}", count, pngs)
        spec_text = job_spec(data, REPO, SCRIPT, size, args.workers, ["--model", str(root / "models" / "mnist")])
    else:
        pngs = []
        data = make_files(args.work / f"incremental-files-{count}", count)
        shutil.copy(NOOP, job / "code" / "noop.py")
        spec_text = job_spec(data, job / "code", "noop.py", size, args.workers)
    added = data / "new"  # last invocation's additions go: the first apply lists `count` files
    shutil.rmtree(added, ignore_errors=True)
    spec = yaml.safe_load(spec_text)
    spec["steps"][0]["incremental"] = True
    (job / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    named = bool(pngs)  # rows name each file by its base name (the example's script), else by its path

    fulls: list[dict[str, Any]] = []
    for _ in range(rounds):  # each a full run: the one before is removed (the last stays, the base)
        if fulls:
            shutil.rmtree(fulls[-1]["run"])
        fulls.append(_apply(job))
        _check_rows(fulls[-1], data, count, named)
    picked = _change(data, added, count, pngs)
    modified = len(picked)
    plan_seconds, plan_says = _plan(job)
    listings: list[float] = []
    seconds: list[dict[str, Any]] = []
    expected = {"new": CHANGED, "changed": modified, "reused": count - modified, "gone": 0}
    for round_ in range(rounds):  # interleaved: the machine's load falls on both alike
        listings.append(_listing(job))
        seconds.append(_apply(job))
        _check_rows(seconds[-1], data, count + CHANGED, named)
        if named:
            _check_scored(fulls[-1], seconds[-1], picked)
        reuse = seconds[-1]["step"]["item_reuse"]
        counts = {key: reuse.get(key) for key in ("new", "changed", "reused", "gone")}
        if counts != expected:
            raise SystemExit(f"the second apply reused other than expected: {counts}, not {expected}")
        if round_ < rounds - 1:  # the next one reuses from the full run again
            shutil.rmtree(seconds[-1]["run"])
    full, second, listing = _best(fulls), _best(seconds), min(listings)
    return {"script": args.script, "files": count, "added": CHANGED, "modified": modified, "mini_batch_size": size,
            "workers": args.workers, "rounds": rounds, "full": _figures(full, fulls), "second": _figures(second, seconds),
            "listing_seconds": listing, "listing_rounds": listings, "plan_command_seconds": plan_seconds,
            "plan_says": plan_says, "item_reuse": expected, "second_to_full": round(second["wall"] / full["wall"], 4),
            "on_top_of_listing_to_full": round((second["wall"] - listing) / full["wall"], 4)}


def _best(applied: list[dict[str, Any]]) -> dict[str, Any]:
    return min(applied, key=lambda one: float(one["wall"]))


def _digit_files(folder: Path, count: int, pngs: list[Path]) -> Path:
    """`count` names for the PNGs, file i for pngs[i % len(pngs)], laid out as
    make_files lays its files out (their base names unique: each row names one), made once."""
    marker = folder.with_name(folder.name + ".complete")
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    for start in range(0, count, PER_FOLDER):
        sub = folder / f"d{start // PER_FOLDER:04d}"
        sub.mkdir(parents=True)
        for i in range(start, min(count, start + PER_FOLDER)):
            os.link(pngs[i % len(pngs)], sub / f"{i:07d}.png")
    marker.write_text(f"{time.perf_counter() - started:.1f}\n")
    return folder


def _change(data: Path, added: Path, count: int, pngs: list[Path]) -> list[int]:
    """CHANGED new files, and CHANGED earlier ones spread over the whole listing changed,
    each with a modification time of its own (never hidden by the file system's
    granularity): made one byte longer, or with `pngs` (the files are links to them)
    replaced by the image of the file after it. Returns the modified ones' numbers."""
    added.mkdir()
    for i in range(CHANGED):
        if pngs:
            os.link(pngs[i % len(pngs)], added / f"n{i:06d}.png")
        else:
            (added / f"{i:07d}.png").touch()
    step = max(1, count // CHANGED)
    picked = list(range(0, count, step))[:CHANGED]
    now = time.time_ns()
    for n, i in enumerate(picked):
        path = data / f"d{i // PER_FOLDER:04d}" / f"{i:07d}.png"
        if pngs:  # a new file in its place: its links to the PNG stay as they were
            fresh = path.with_name(path.name + ".new")
            shutil.copyfile(pngs[(i + 1) % len(pngs)], fresh)
            os.replace(fresh, path)
        else:
            with open(path, "ab") as handle:
                handle.write(b"x")
        os.utime(path, ns=(now + n * 1_000, now + n * 1_000))
    return picked


def _apply(job: Path) -> dict[str, Any]:
    """`runner apply` of the job: wall seconds, the run folder and its records."""
    before = set((job / ".runner" / "runs").iterdir()) if (job / ".runner" / "runs").is_dir() else set()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "runner", "apply", "spec.yaml"], cwd=job, capture_output=True,
                          text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"runner apply failed:\n{done.stderr}")
    [run] = set((job / ".runner" / "runs").iterdir()) - before
    info = json.loads((run / "run.json").read_text())
    step = json.loads((run / "step" / "step.json").read_text())
    progress = json.loads((run / "step" / "progress.json").read_text())
    return {"wall": wall, "run": run, "step": step, "plan_seconds": step["partition_seconds"],
            "run_seconds": progress["elapsed_seconds"], "rss": info["driver_peak_rss_mb"]}


def _figures(applied: dict[str, Any], every: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest apply's figures, each apply's wall time, and the highest peak RSS."""
    return {"seconds": round(applied["wall"], 2), "plan_seconds": applied["plan_seconds"],
            "run_seconds": applied["run_seconds"], "rounds": [round(one["wall"], 2) for one in every],
            "driver_peak_rss_mb": max(one["rss"] for one in every)}


def _plan(job: Path) -> tuple[float, str]:
    """`runner plan`'s wall time (a listing and the matching, nothing run) and what it says."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "runner", "plan", "spec.yaml", "--json"], cwd=job,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"runner plan failed:\n{done.stderr}")
    return round(wall, 2), str(json.loads(done.stdout)["work"][0]["reuse"])


_LIST = """
import sys, time
from runner import api
from runner.local.partition.sources import Partitioner
job = api.plan("spec.yaml").steps[0]
partitioner = Partitioner(job.mini_batch_size or 0, [], None, identities=job.incremental)
started = time.perf_counter()
for _ in partitioner.descriptors(job.inputs):
    pass
print(time.perf_counter() - started)
"""


def _listing(job: Path) -> float:
    """The listing alone: the step's inputs listed and cut as an apply's planning does
    (each file's stat and identity), without the matching or writing anything, in a
    process of its own (its imports not counted)."""
    done = subprocess.run([sys.executable, "-c", _LIST], cwd=job, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"listing the inputs failed:\n{done.stderr}")
    return round(float(done.stdout.strip().splitlines()[-1]), 3)


def _check_rows(applied: dict[str, Any], data: Path, files: int, named: bool) -> None:
    """Every file listed now has its row (the no-op returns the path; `named`: the
    example's script writes `<base name>: <digit>`), exactly once."""
    output = applied["run"] / "step" / "outputs" / "out" / "parallel_run_step.txt"
    with open(output, "rb") as handle:
        lines = (line.rstrip(b"\n") for line in handle)
        rows, digest = _digest(line.rsplit(b": ", 1)[0] for line in lines) if named else _digest(lines)
    paths = (os.path.join(top, name).encode() for top, _, names in os.walk(data) for name in names)
    listed, expected = _digest(os.path.basename(path) for path in paths) if named else _digest(paths)
    if (rows, digest) != (listed, expected) or rows != files:
        raise SystemExit(f"{output}: {rows:,} rows, not one for each of the {listed:,} files listed")


def _check_scored(full: dict[str, Any], second: dict[str, Any], picked: list[int]) -> None:
    """Each modified file was scored again, as what it holds now: its digit in the second
    run is the one the full run gave the file after it, whose image it now holds."""
    def digits(applied: dict[str, Any], names: set[bytes]) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        with open(applied["run"] / "step" / "outputs" / "out" / "parallel_run_step.txt", "rb") as handle:
            for line in handle:
                name, _, digit = line.rstrip(b"\n").rpartition(b": ")
                if name in names:
                    found[name] = digit
        return found
    now = digits(second, {f"{i:07d}.png".encode() for i in picked})
    then = digits(full, {f"{i + 1:07d}.png".encode() for i in picked})
    wrong = [i for i in picked if now.get(f"{i:07d}.png".encode()) != then.get(f"{i + 1:07d}.png".encode())]
    if wrong:
        raise SystemExit(f"{len(wrong)} modified files were not scored as what they hold now, e.g. {wrong[:3]}")


def _digest(lines: Iterable[bytes]) -> tuple[int, int]:
    """How many, and a digest that ignores their order (a sum of 64-bit hashes)."""
    count = total = 0
    for line in lines:
        count += 1
        total += int.from_bytes(hashlib.blake2b(line, digest_size=8).digest(), "big")
    return count, total % (1 << 64)


def markdown(result: dict[str, Any]) -> list[str]:
    full, second = result["full"], result["second"]
    rounds = result.get("rounds", 1)
    script = ("the worked example's entry script and model (TensorFlow)" if result.get("script") == "mnist"
              else "the no-op script")
    return [f"{result['files']:,} files scored by {script} (mini_batch_size {result['mini_batch_size']}, "
            f"{result['workers']} workers), then {result['added']:,} added and {result['modified']:,} modified "
            "and applied again. Listing: the second state's inputs listed and cut into mini-batches as "
            f"the engine's planning does, without matching or writing: {result['listing_seconds']} s. "
            f"The full apply, the second and the listing each ran {rounds} times (second applies and listings "
            "interleaved, each second apply against the same full run): the fastest is shown, each round's time "
            "in the last column, and the highest peak RSS.", "",
            "| apply | seconds | planning s | run s | driver peak RSS MB | every round s |", "|---|---|---|---|---|---|",
            f"| full | {full['seconds']} | {full['plan_seconds']} | {full['run_seconds']} | "
            f"{full['driver_peak_rss_mb']} | {', '.join(map(str, full.get('rounds', [])))} |",
            f"| second | {second['seconds']} | {second['plan_seconds']} | {second['run_seconds']} | "
            f"{second['driver_peak_rss_mb']} | {', '.join(map(str, second.get('rounds', [])))} |",
            f"| listing | {result['listing_seconds']} | | | | {', '.join(map(str, result.get('listing_rounds', [])))} |",
            "",
            f"- `runner plan` over the second state: {result['plan_command_seconds']} s; it says: "
            f"{result['plan_says']}",
            f"- second / full: {result['second_to_full']}",
            f"- (second - listing) / full: {result['on_top_of_listing_to_full']} (target: under 0.05)"]
