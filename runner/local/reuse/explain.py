"""Why a step would, or would not, reuse an earlier run: what `runner plan` says about
allow_reuse before anything runs.

A run keeps the parts its fingerprint was made of (StepRecord.parts: the step's
definition, its code snapshot, its models and side inputs, its input files). Here the
same parts are computed for the plan, cheaply (a listing of the inputs and a read of the
code, not of the data), and compared: equal parts make the same fingerprint, so the step
would be reused; otherwise the latest earlier run of the step says what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.inputs.listing import InputError
from runner.inputs.snapshot import code_digest
from runner.inputs.snapshot import SnapshotError
from runner.local.job import executable_steps
from runner.local.partition.sources import input_files, listing_line, manifest_line
from runner.local.reuse.fingerprint import definition, parts
from runner.local.reuse.incremental import choose, count, matching
from runner.plan.plan import Plan, StepPlan
from runner.runs.folder import RunFolder, list_runs
from runner.runs.display import reuse_text
from runner.runs.records import ItemReuse, RecordError, StepRecord


@dataclass
class _Earlier:
    run: RunFolder
    record: StepRecord


def decisions(plan: Plan, runs_root: Path) -> dict[str, str]:
    """step -> "would reuse run X (nothing changed)" or "runs: <why>"."""
    runs = list_runs(runs_root)
    steps = executable_steps(plan, RunFolder(runs_root / "(plan)"))
    upstream: dict[str, str] = {}  # fingerprints of the steps that would be reused
    out: dict[str, str] = {}
    for job in steps:
        out[job.name] = _decide(job, runs, upstream, [str(runs_root)])
    return out


def _decide(job: StepPlan, runs: Sequence[RunFolder], upstream: dict[str, str], exclude: list[str]) -> str:
    decision = _whole(job, runs, upstream, exclude)
    if job.incremental and not decision.startswith("would reuse"):
        return _items(job, list(runs), upstream, exclude)
    return decision


def _items(job: StepPlan, runs: list[RunFolder], upstream: dict[str, str], exclude: list[str]) -> str:
    """An incremental step's item reuse, counted as the engine would count it."""
    if job.output_action == "summary_only":
        return "runs every item: summary_only writes no rows to reuse"
    fresh = [name for name in _producers(job) if name not in upstream]
    if fresh:
        return f"no earlier run to reuse: it reads the output of step {fresh[0]}, which runs: would run every item"
    try:
        code, _ = code_digest(job.source_directory, exclude)
        _, earlier, why = choose(job, runs, upstream, code, "")
        if earlier is None:
            return reuse_text(ItemReuse(None, why=why), planned=True)
        items = matching(earlier, job)
        count(job, items)
    except (InputError, SnapshotError, OSError, RecordError) as exc:
        return f"runs every item (cannot compare with earlier runs: {exc})"
    return reuse_text(items.reuse, planned=True)


def _producers(job: StepPlan) -> list[str]:
    return [i.step for i in (*job.inputs, *job.side_inputs, *(a.input for a in job.arguments if a.input))
            if i is not None and i.step is not None]


def _whole(job: StepPlan, runs: Sequence[RunFolder], upstream: dict[str, str], exclude: list[str]) -> str:
    if not job.allow_reuse:
        return "runs: allow_reuse is false"
    fresh = [name for name in _producers(job) if name not in upstream]
    if fresh:
        return f"runs: it reads the output of step {fresh[0]}, which runs"
    earlier = [e for e in (_earlier(run, job.name) for run in reversed(runs)) if e is not None]
    if not earlier:
        return "runs: no earlier successful run of this step"
    try:
        now = _now(job, upstream, exclude)
    except (InputError, SnapshotError, OSError) as exc:
        return f"runs (cannot compare with earlier runs: {exc})"
    for item in earlier:
        if item.record.parts == now.parts:
            upstream[job.name] = item.record.fingerprint
            return f"would reuse run {item.record.reused_from or item.run.id} (nothing changed)"
    recorded = [e for e in earlier if e.record.parts]
    if not recorded:
        return f"runs: run {earlier[0].run.id} predates the records that say what changed"
    latest = recorded[0]
    return f"runs: {'; '.join(_reasons(job, latest, now, upstream))} since run {latest.run.id}"


def _earlier(run: RunFolder, step: str) -> _Earlier | None:
    """The run's record of `step` when it succeeded (or reused) and has its output."""
    try:
        record = run.step(step).read() if (run.path / step).is_dir() else None
    except RecordError:
        return None
    if record is None or not record.status.ok or not run.step(step).outputs.is_dir():
        return None
    return _Earlier(run, record)


@dataclass
class _Now:
    """The step as it stands now: the parts the engine would record (reuse.parts), the
    code's files by name, and how many input files the listing found."""

    parts: dict[str, str]
    code_files: dict[str, str]
    input_files: int


def _now(job: StepPlan, upstream: dict[str, str], exclude: list[str]) -> _Now:
    code, files = code_digest(job.source_directory, exclude)
    digest = hashlib.sha256()
    count = 0
    for item in job.inputs:
        if item.step is not None:
            continue  # covered by the producer's fingerprint, in the definition
        if item.manifest:
            digest.update(manifest_line(item))
            continue
        for path, st in input_files(item):
            digest.update(listing_line(path, st))
            count += 1
    return _Now(parts(job, upstream, code, digest.hexdigest()), files, count)


def _reasons(job: StepPlan, earlier: _Earlier, now: _Now, upstream: dict[str, str]) -> list[str]:
    before, current = earlier.record.parts, now.parts
    reasons = []
    if before.get("definition") != current["definition"]:
        reasons.append(_definition_change(job, earlier, upstream))
    if before.get("code") != current["code"]:
        reasons.append(_code_change(earlier, now.code_files))
    if before.get("models") != current["models"]:
        reasons.append("a model or side input changed")
    definition_says = reasons[0] if reasons else ""
    if before.get("inputs") != current["inputs"] and "inputs " not in definition_says:
        reasons.append(_input_change(now.input_files, earlier.record))  # the same inputs, listed anew
    return reasons or ["its fingerprint differs"]


def _definition_change(job: StepPlan, earlier: _Earlier, upstream: dict[str, str]) -> str:
    try:
        old = earlier.run.job().step(job.name)
    except RecordError:
        old = None
    if old is None:
        return "its definition changed"
    new_data, old_data = definition(job, upstream), definition(old, upstream)
    changed = [key for key in new_data if new_data.get(key) != old_data.get(key)]
    shown = [f"{key} {_short(key, old_data.get(key))} -> {_short(key, new_data.get(key))}" for key in changed[:4]]
    more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
    return (", ".join(shown) + more + " changed") if shown else "its definition changed"


def _short(key: str, value: Any) -> str:
    if key in ("inputs", "side_inputs") and isinstance(value, list):  # by what they name
        value = [item.get("reference") if isinstance(item, dict) else item for item in value]
    if key == "arguments" and isinstance(value, list):
        value = [item.get("value") if isinstance(item, dict) else item for item in value]
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def _code_change(earlier: _Earlier, files: dict[str, str]) -> str:
    """Which files of the code differ from the earlier run's snapshot."""
    root = earlier.run.step(earlier.record.name).snapshot(earlier.record.code)
    old: dict[str, str] = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                old[os.path.relpath(path, root).replace(os.sep, "/")] = hashlib.sha256(handle.read()).hexdigest()
    changed = sorted(name for name in files.keys() & old.keys() if files[name] != old[name])
    added, removed = sorted(files.keys() - old.keys()), sorted(old.keys() - files.keys())
    said = [*(f"{name} changed" for name in changed[:3]), *(f"{name} added" for name in added[:3]),
            *(f"{name} removed" for name in removed[:3])]
    hidden = len(changed) + len(added) + len(removed) - len(said)
    return (", ".join(said) + (f" and {hidden} more files" if hidden > 0 else "")) if said else "its code changed"


def _input_change(count: int, record: StepRecord) -> str:
    before = record.files
    if before is None or before == count:
        return "input files changed (sizes or modification times)"
    delta = count - before
    noun = "input file" if abs(delta) == 1 else "input files"
    return f"{delta} {noun} added" if delta > 0 else f"{-delta} {noun} removed"
