"""allow_reuse: a step whose definition, inputs and code are unchanged since an earlier
successful run reuses that run's output instead of running again (as Azure ML reuses a
step). The fingerprint covers the step's resolved definition, the listing of its inputs
(paths, sizes, modification times), its code snapshot (the digest step.json keeps of
what the workers run: runner.local.driver.snapshot), and the models and side inputs (listing).
It is taken once per run, before the step's first mini-batch: a resumed step keeps it,
whatever was edited since, because it still runs the same snapshot."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from runner.local.job import side_inputs
from runner.plan.plan import StepPlan
from runner.runs.folder import RunFolder
from runner.runs.records import RecordError

# "incremental" says how a step reuses, not what it computes (and earlier runs, planned
# before it existed, keep their fingerprints).
_PRESENTATION = ("bindings", "mini_batch", "workers", "secret_env", "incremental", "reuse_items")


def definition(job: StepPlan, upstream: dict[str, str]) -> dict[str, Any]:
    """The step as it computes: its resolved fields, without what only says how a value
    was written. Another step's output stands as its producer's fingerprint."""
    data = asdict(job)
    # Another step's output lives in this run's folder, a new path each run: its producer's
    # fingerprint stands for it, wherever it is read (input, side input or argument).
    items: list[dict[str, Any]] = [*data["inputs"], *data["side_inputs"],
                                   *[a["input"] for a in data["arguments"] if a["input"]]]
    for item in items:
        if item["step"] is not None:
            item["location"] = upstream.get(item["step"], "")
    for argument in data["arguments"]:
        if argument["input"] and argument["input"]["step"] is not None:
            argument["value"] = argument["input"]["location"]
    # What says how a value was written, not what runs: renaming a parameter, or binding a
    # field to one, changes nothing a step computes.
    for key in _PRESENTATION:
        data.pop(key, None)
    for item in (*items, *data["arguments"]):
        item.pop("parameter", None)
        item.pop("secret", None)
    return data


def _read_paths(job: StepPlan) -> list[str]:
    """The models and side inputs a step reads (not another step's output)."""
    produced = {item.location for item in job.side_inputs if item.step is not None}
    return sorted({*job.models.values(), *side_inputs(job).values()} - produced)


def models_digest(job: StepPlan) -> str:
    digest = hashlib.sha256()
    for path in _read_paths(job):
        digest.update(_listing_digest(path).encode())
    return digest.hexdigest()


def fingerprint(job: StepPlan, listing: str, upstream: dict[str, str], code: str) -> str:
    """`code`: the digest of the step's code snapshot (StepRecord.snapshot). The same
    value as before `definition` was factored out, so earlier runs are still reused."""
    digest = hashlib.sha256(json.dumps(definition(job, upstream), sort_keys=True).encode())
    digest.update(listing.encode())
    digest.update(code.encode())
    for path in _read_paths(job):
        digest.update(_listing_digest(path).encode())
    return digest.hexdigest()


def incremental_fingerprint(job: StepPlan, upstream: dict[str, str], code: str) -> str:
    """What an incremental step must share with an earlier run to reuse its rows item by
    item: everything the fingerprint covers but the listing of its inputs."""
    digest = hashlib.sha256(b"incremental\0")
    computes = definition(job, upstream)
    computes.pop("allow_reuse")  # whether a whole step may be reused changes no row
    digest.update(json.dumps(computes, sort_keys=True).encode())
    digest.update(code.encode())
    digest.update(models_digest(job).encode())
    return digest.hexdigest()


def parts(job: StepPlan, upstream: dict[str, str], code: str, inputs: str) -> dict[str, str]:
    """The fingerprint's parts, kept in step.json: `runner plan` finds which changed.
    `inputs` digests the input files alone (Partitioner.files_digest)."""
    return {"definition": hashlib.sha256(json.dumps(definition(job, upstream), sort_keys=True).encode()).hexdigest(),
            "code": code, "models": models_digest(job), "inputs": inputs}


def _listing_digest(path: str) -> str:
    digest = hashlib.sha256()
    paths = [path] if os.path.isfile(path) else sorted(
        os.path.join(root, f) for root, _, files in os.walk(path) for f in files)
    for item in paths:
        try:
            st = os.stat(item)
        except OSError:
            continue
        digest.update(f"{item}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def find_reusable(runs: list[RunFolder], step: str, fingerprint_: str, exclude: str) -> RunFolder | None:
    """The latest run whose step with this fingerprint succeeded (or itself reused one)."""
    for run in reversed(runs):
        if run.id == exclude:
            continue
        try:
            info = run.step(step).read() if (run.path / step).is_dir() else None
        except RecordError:
            continue  # another version's run, or damaged: never reused
        if info is not None and info.fingerprint == fingerprint_ and info.status.ok:
            if run.step(step).outputs.is_dir():
                return run
    return None


def link_outputs(source: Path, target: Path) -> None:
    """Hard links where the file system allows (no copy, no extra space), else copies."""
    if target.exists():
        shutil.rmtree(target)

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)
