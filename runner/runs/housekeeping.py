"""Removing runs: `runner rm` and `runner gc`, without breaking what other runs point to.

A step that reused an earlier run's output (allow_reuse, runner/local/reuse/fingerprint.py) holds
hard links to that run's output files (copies where links cannot be made), and its
step.json names the run that ran it (`reused_from`). Removing that earlier run keeps the
later run's rows (the links hold the data, and its disk space stays in use), but the
reused step's logs, reports and failed items were only in the earlier run, and
`runner status` of the later run names a run that is gone. So `rm` refuses such a run
unless forced, and `gc` keeps it, saying why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.runs.folder import STEP_FILE, RunFolder, list_runs
from runner.runs.inspect import find, read
from runner.runs.outcome import RunError
from runner.runs.records import RecordError, RunRecord
from runner.runs.status import Status


@dataclass(frozen=True)
class Reuse:
    later: str  # the run whose step reused the output
    step: str


def reused_by(runs: Sequence[RunFolder]) -> dict[str, list[Reuse]]:
    """run id -> the steps of other runs that reused its output."""
    found: dict[str, list[Reuse]] = {}
    for run in runs:
        for step_json in sorted(run.path.glob(f"*/{STEP_FILE}")):
            try:
                origin = run.step(step_json.parent.name).read().reused_from
            except RecordError:
                continue  # damaged or of another version: it points nowhere we can tell
            if origin and origin != run.id:
                found.setdefault(origin, []).append(Reuse(run.id, step_json.parent.name))
    return found


def _running(run: RunFolder) -> RunRecord | None:
    """run.json of a run whose driver (or the process following it on Azure) is alive."""
    try:
        record = read(run)
    except RunError:
        return None  # unreadable: nothing can be running it
    return record if not record.status.finished else None


def _reuse_text(run: str, reuses: Sequence[Reuse]) -> str:
    later = ", ".join(f"run {r.later} (step {r.step})" for r in reuses)
    return (f"{later} reused the output of run {run}: their rows stay (linked to the same data, whose disk space "
            f"is freed only when they go too), but the logs, reports and failed items of those steps are only "
            f"in {run}, and `runner status` of those runs would name a run that is gone")


def remove(root: Path, names: Sequence[str], force: bool = False) -> list[str]:
    """Delete the named runs' folders, all or none; says what was removed."""
    chosen = {run.id: run for run in (find(name, root) for name in names)}
    dependents = reused_by(list_runs(root))
    problems, notes = [], {}
    for run in chosen.values():
        running = _running(run)
        if running is not None:
            state = "running" if running.status == Status.RUNNING else f"starting ({running.status})"
            problems.append(f"run {run.id} is {state}, driver pid {running.driver_pid}: "
                            f"`runner cancel {run.id}` stops it first")
            continue
        reuses = [r for r in dependents.get(run.id, []) if r.later not in chosen]
        if reuses:
            notes[run.id] = _reuse_text(run.id, reuses)
            if not force:
                problems.append(f"{notes[run.id]}. `runner rm --force {run.id}` removes it anyway")
    if problems:
        raise RunError("nothing removed:\n  " + "\n  ".join(problems))
    said = []
    for run in chosen.values():
        shutil.rmtree(run.path)
        said.append(f"removed {run.id}" + (f"; {notes[run.id]}" if run.id in notes else ""))
    return said


def _spec_of(record: RunRecord) -> str:
    """The spec file a run was applied from, however it was named (from any folder)."""
    return os.path.normpath(os.path.join(record.cwd, record.spec)) if record.spec else record.name


def gc(root: Path, keep: int | None = None, dry_run: bool = False) -> list[str]:
    """Remove runs that failed their pre-flight checks and, with `keep`, every run but
    the newest `keep` finished runs of each spec. A running run is never removed and
    never counts as one of the `keep`; neither is one whose output a kept run reused (said, with why)."""
    runs = list_runs(root)  # oldest first
    records: dict[str, RunRecord] = {}
    said = []
    for run in runs:
        try:
            records[run.id] = read(run)
        except RunError as exc:
            said.append(f"left {run.id} alone: {exc}")
    doomed = {run.id for run in runs if run.id in records and records[run.id].status == Status.PREFLIGHT
              and not _ran(run)}
    if keep is not None:
        # Only finished runs count: a running run is never removed, and keeping it in
        # place of a finished one would leave a spec with no finished run at all.
        per_spec: dict[str, list[str]] = {}
        for run_id, record in records.items():
            if run_id not in doomed and record.status.finished:
                per_spec.setdefault(_spec_of(record), []).append(run_id)
        for ids in per_spec.values():
            doomed.update(ids[:max(0, len(ids) - keep)])
    said += _spare_reused(doomed, reused_by(runs))
    for run in runs:
        if run.id in doomed:
            what = "pre-flight failure" if records[run.id].status == Status.PREFLIGHT else records[run.id].status
            if not dry_run:
                shutil.rmtree(run.path)
            said.append(f"{'would remove' if dry_run else 'removed'} {run.id} ({what})")
    return said


def _ran(run: RunFolder) -> bool:
    """Whether a step of the run got past its pre-flight checks once (its inputs were
    listed into mini-batches): a run whose retry, or a later step, then failed them
    holds committed rows, and is no pre-flight failure for gc to remove."""
    for step_json in run.path.glob(f"*/{STEP_FILE}"):
        try:
            record = run.step(step_json.parent.name).read()
        except RecordError:
            return True  # cannot tell: kept
        if record.partitioned or record.retried or record.status.ok:
            return True
    return False


def _spare_reused(doomed: set[str], dependents: dict[str, list[Reuse]]) -> list[str]:
    """Take out of `doomed` each run whose output a run not doomed reused (again for
    what that keeps, until nothing changes); says which and why."""
    said = []
    changed = True
    while changed:
        changed = False
        for run_id in sorted(doomed):
            kept = [r for r in dependents.get(run_id, []) if r.later not in doomed]
            if kept:
                doomed.discard(run_id)
                changed = True
                later = ", ".join(f"{r.later} (step {r.step})" for r in kept)
                said.append(f"kept {run_id}: run {later} reused its output; that step's logs and reports are here")
    return said
