"""The code an Azure step uploads: exactly the listing `runner.inputs.snapshot` makes of its
source_directory (what `runner plan` counts and the local engine runs), copied into the
run folder, and that copy handed to the SDK as the step's source_directory (v1's
snapshot) or the task's code (v2's code asset).

Both SDKs honour the folder's top .amlignore/.gitignore themselves, but not the rest of
what a snapshot leaves out: `.runner/` (earlier runs, staged inputs) and `.git/` in a
repository root, which `source_directory: ..` would upload with every run. The copy
holds the listed files only; the ignore file copied with them excludes nothing of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from pathlib import Path

from runner.inputs.snapshot import CodeListing, SnapshotError, copy_code, list_code
from runner.plan.plan import Plan
from runner.runs.errors import RunError


class CodeError(RunError):
    """source_directory cannot be listed or copied (exit 2)."""


def stage_code(plan: Plan, dest: Callable[[int], Path], exclude: Collection[str] = ()) -> dict[str, str]:
    """Copy each step's code into dest(n) (the run folder's code/<n>/: steps sharing a
    source_directory share a copy); step name -> the copy's folder."""
    copies: dict[str, str] = {}
    staged: dict[str, str] = {}
    for step in plan.steps:
        source = os.path.abspath(step.source_directory)
        if source not in copies:
            folder = dest(len(copies))
            copy_listing(listing_of(step.source_directory, exclude), folder)
            copies[source] = str(folder)
        staged[step.name] = copies[source]
    return staged


def listing_of(source_directory: str, exclude: Collection[str] = ()) -> CodeListing:
    try:
        return list_code(source_directory, exclude)
    except SnapshotError as exc:
        raise CodeError(str(exc)) from exc


def copy_listing(listing: CodeListing, folder: Path) -> None:
    """The listed files, copied as the local engine copies a run's snapshot (not linked:
    a file saved in place while the SDK uploads must not change what it reads)."""
    try:
        copy_code(listing, folder)
    except SnapshotError as exc:
        raise CodeError(str(exc)) from exc
