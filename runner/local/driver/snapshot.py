"""A run's copy of each step's code, taken when the run starts, as Azure ML snapshots
source_directory at submit: workers import the entry script from the copy and run in
it, so a file the snapshot leaves out is not there for the script, exactly as on Azure,
and `runner resume` runs the same code whatever was edited since. The snapshot's digest
in step.json stands for the code in the step's reuse fingerprint.

    <step>/snapshot/      the files runner.inputs.snapshot lists, copied
    <step>/snapshots/<n>/ the code as `runner retry --update-code` found it, for retry n
                          (step.json's `retried` says which code each attempt runs)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Collection

from runner.inputs.snapshot import CodeListing, SnapshotError, copy_code, ignore_rules, list_code
from runner.inputs.units import size_text
from runner.local.driver.checks import PreflightError, preflight
from runner.plan.plan import StepPlan
from runner.runs.folder import RunFolder, StepFolder
from runner.runs.records import StepRecord


def in_snapshot(job: StepPlan, folder: StepFolder, code_version: int | None = None) -> StepPlan:
    """The step as its workers run it: source_directory and entry_script in the snapshot
    of the code version it runs now (or `code_version`)."""
    code = folder.snapshot(folder.read().code if code_version is None else code_version)
    script = os.path.relpath(job.entry_script, job.source_directory)
    return dataclasses.replace(job, source_directory=str(code), entry_script=str(code / script))


def take_all(run: RunFolder, steps: list[StepPlan], exclude: Collection[str]) -> None:
    """Every step's snapshot at once, when the run starts (Azure uploads each step's code
    at submit, not when the step's turn comes). A step whose snapshot cannot be taken now
    tries again when it starts, and says why there."""
    for job in steps:
        folder = run.step(job.name)
        info = folder.read()
        if not info.snapshot and not info.status.ok and os.path.isdir(job.source_directory):
            with contextlib.suppress(OSError, SnapshotError, PreflightError):
                _take(job, folder, exclude)


def checked(job: StepPlan, folder: StepFolder, output: str | None,
            exclude: Collection[str]) -> tuple[StepPlan, StepRecord]:
    """prepare(), then the pre-flight checks on the code that will run, their messages
    naming the user's files (the snapshot is a copy of them)."""
    earlier = bool(folder.read().snapshot)
    code, info = prepare(job, folder, exclude)
    try:
        preflight(code, folder, output)
    except PreflightError as exc:
        text = str(exc).replace(code.source_directory + os.sep, job.source_directory + os.sep)
        if earlier and code is not job and "entry_script" in text:
            text += ("\n(as it is in the run's code snapshot; to run the code as it is now, `runner retry "
                     f"{folder.path.parent.name} --update-code`, or apply the spec again)")
        raise PreflightError(text) from exc
    return code, info


def prepare(job: StepPlan, folder: StepFolder, exclude: Collection[str]) -> tuple[StepPlan, StepRecord]:
    """The step pointed into its snapshot (taken now if the run has none yet), and its
    record. Without a source_directory the step is returned as it is: the pre-flight
    checks say what is missing, with every other problem."""
    info = folder.read()
    if not info.snapshot:
        if not os.path.isdir(job.source_directory):
            return job, info
        info = _take(job, folder, exclude)
    code = in_snapshot(job, folder, info.code)
    if not folder.snapshot(info.code).is_dir():
        raise PreflightError(f"the run's code snapshot {folder.snapshot(info.code)} is gone; the run cannot go "
                             "on with other code: apply the spec again for a new run")
    if not os.path.isfile(code.entry_script):
        return _missing_entry_script(job, code), info
    return code, info


def _missing_entry_script(job: StepPlan, code: StepPlan) -> StepPlan:
    script = os.path.relpath(job.entry_script, job.source_directory)
    try:
        name, rules = ignore_rules(job.source_directory)
    except SnapshotError as exc:
        raise PreflightError(str(exc)) from exc
    if name is not None and rules.leaves_out(script.replace(os.sep, "/")):
        raise PreflightError(f"entry_script {job.entry_script} is left out of the step's code snapshot by "
                             f"{os.path.join(job.source_directory, name)}, as Azure ML would leave it out of its "
                             "upload: change that file's patterns")
    if os.path.isfile(job.entry_script):
        raise PreflightError(f"entry_script {script} was not in {job.source_directory} when the run started, so "
                             f"its code snapshot {code.source_directory} has none; apply the spec again")
    return job  # the pre-flight checks say it does not exist


def _take(job: StepPlan, folder: StepFolder, exclude: Collection[str]) -> StepRecord:
    """Copy the code into <step>/snapshot and record its digest. Until step.json holds
    the digest no worker has run from the copy, so a copy cut short is taken again."""
    digest, files, size = take_version(job, folder, exclude, 0)
    return folder.update(snapshot=digest, snapshot_files=files, snapshot_bytes=size)


def take_version(job: StepPlan, folder: StepFolder, exclude: Collection[str], code: int) -> tuple[str, int, int]:
    """Copy source_directory as it is now into code version `code`'s folder (replacing a
    copy cut short); returns its digest, files and bytes. The caller records it."""
    try:
        listing = list_code(job.source_directory, exclude)
        copied = copy_code(listing, folder.snapshot(code))
    except SnapshotError as exc:
        raise PreflightError(str(exc)) from exc
    _log(folder, listing, copied.size)
    return copied.digest, copied.files, copied.size


def _log(folder: StepFolder, listing: CodeListing, size: int) -> None:
    """What the snapshot holds and left out, in the driver log (the plan shows the same)."""
    lines = [f"code snapshot of {listing.folder}: {listing.summary()}; copied {size_text(size)}"]
    if listing.left_out:
        more = len(listing.left_out) - 20
        lines.append("left out of the snapshot: " + ", ".join(listing.left_out[:20])
                     + (f" and {more} more" if more > 0 else ""))
    warning = listing.limit_warning()
    if warning:
        lines.append(f"warning: {warning}")
    folder.log_driver(lines)
