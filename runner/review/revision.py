"""What a review compares besides the spec: the code each step runs, its models and its
inputs, on each side. With `--against REF` the old side is what git has at REF (the
code folder's files and its ignore file, a model's files, a dataset's files: `git
ls-tree`, `git cat-file`); what git does not hold cannot have an old side and is said so
("inputs not in git: counted once"). With `diff OLD NEW` both sides are on disk.

The code is compared as a snapshot takes it (runner/inputs/snapshot.py: the same ignore
rules, the same digest), file by file, so a commit that touches only an entry script
is a change and names the file. At a revision, files git does not hold (ignored, or
never added: a build's output, a CI job's own files) are left out of the comparison."""

from __future__ import annotations

import copy
import math
import os

from runner.inputs.snapshot import IGNORE_FILES, IgnoreRules, SnapshotError, code_digest, digest_of
from runner.inputs.work import StepWork, table_batches
from runner.plan.plan import Plan, StepPlan
from runner.plan.references import MLTABLE, InputPlan, Secret, is_remote
from runner.review.compare import FilesChange
from runner.spec.gitref import Revision, TreeFile

NOT_IN_GIT = "inputs not in git: counted once"


def _on_disk(plan: Plan, path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(plan.cwd, path)


def files_changes(old: Plan, new: Plan, rev: Revision | None) -> list[FilesChange]:
    """Each step's code (and, at a revision, each local model's files), old against new."""
    olds = {s.name: s for s in old.steps}
    out = [_code(olds.get(step.name), step, old, new, rev) for step in new.steps]
    seen: set[str] = set()
    if rev is None:
        return [change for change in out if change.any or change.note]
    for step in new.steps:
        for name, path in step.models.items():
            if isinstance(path, Secret) or is_remote(path) or path in seen:
                continue
            seen.add(path)
            out.append(_model(step.name, name, path, _on_disk(new, path), rev))
    return [change for change in out if change.any or change.note]


def _code(before: StepPlan | None, step: StepPlan, old: Plan, new: Plan, rev: Revision | None) -> FilesChange:
    change = FilesChange(step.name, "code", step.source_directory)
    folder = _on_disk(new, step.source_directory)
    try:
        change.new_digest, now = code_digest(folder, ())
    except SnapshotError as exc:
        change.note = str(exc)
        return change
    if before is None:
        return change  # a new step: its fields say so
    old_folder = _on_disk(old, before.source_directory)
    if rev is None:
        if os.path.realpath(old_folder) == os.path.realpath(folder):
            return change
        try:
            change.old_digest, then = code_digest(old_folder, ())
        except SnapshotError as exc:
            change.note = str(exc)
            return change
    else:
        rel = rev.rel(old_folder)
        if rel is None or not (rev.tree(rel) or rev.tracked(rel)):
            change.note = "not in git: not compared"
            return change
        change.old_digest, then = code_at(rev, rel)
        # What git does not hold (build output, a CI job's own files) has no old side.
        untracked = rev.untracked(rel) if rev.rel(folder) == rel else set()
        folders = tuple(entry for entry in untracked if entry.endswith("/"))
        now = {name: digest for name, digest in now.items() if name in then or not (
            name in untracked or name.startswith(folders))}
    change.old_files, change.new_files = len(then), len(now)
    change.added = sorted(set(now) - set(then))
    change.removed = sorted(set(then) - set(now))
    change.changed = sorted(name for name in set(now) & set(then) if now[name] != then[name])
    return change


def code_at(rev: Revision, rel: str) -> tuple[str, dict[str, str]]:
    """The snapshot digest and each file's content digest of folder `rel` at the revision,
    by the snapshot's rules: its ignore file as the revision has it."""
    import hashlib

    tree = rev.tree(rel)
    name = next((n for n in IGNORE_FILES if n in tree), None)
    lines = rev.blobs([tree[name].blob])[tree[name].blob].decode("utf-8", "surrogateescape").splitlines() \
        if name else []
    rules = IgnoreRules(lines)
    kept = {path: item for path, item in tree.items() if not rules.leaves_out(path)}
    contents = rev.blobs(item.blob for item in kept.values())
    files = {path: contents.get(item.blob, b"") for path, item in kept.items()}
    return digest_of(files.items()), {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}


def _model(step: str, name: str, path: str, folder: str, rev: Revision) -> FilesChange:
    change = FilesChange(step, f"model {name}", path)
    rel = rev.rel(folder)
    before = rev.tree(rel) if rel is not None else {}
    if rel is None or not (before or rev.tracked(rel)):
        change.note = "not in git: not compared"
        return change
    change.old_files = len(before)
    for kind, inside in rev.changes(rel):
        {"A": change.added, "D": change.removed}.get(kind, change.changed).append(inside)
    return change


def work_at(rev: Revision, plan: Plan, work: list[StepWork]) -> tuple[list[StepWork], list[str]]:
    """The old side's work as the revision had its inputs, where git holds them; where it
    does not, today's count stands for both sides, and a note says so."""
    counted = copy.deepcopy(work)
    notes: list[str] = []
    by_name = {item.step: item for item in counted}
    for step in plan.steps:
        item = by_name.get(step.name)
        if item is None:
            continue
        for source, count in zip(step.inputs, item.inputs, strict=False):
            if count.files is None or source.step is not None or source.manifest or source.secret \
                    or is_remote(source.location):
                continue
            tree = _input_tree(rev, _on_disk(plan, source.location))
            if tree is None:
                notes = [NOT_IN_GIT]
                continue
            if source.kind == "tabular":
                tree = {p: f for p, f in tree.items() if os.path.basename(p) != MLTABLE}
            count.files, count.bytes = len(tree), sum(f.size for f in tree.values())
            count.mini_batches, count.rows = _batches(source, step, tree), None
        batches = [i.mini_batches for i in item.inputs]
        item.mini_batches = None if None in batches else sum(b for b in batches if b is not None)
    return counted, notes


def _input_tree(rev: Revision, location: str) -> dict[str, TreeFile] | None:
    from runner.inputs.listing import is_glob

    rel = None if is_glob(location) else rev.rel(location)
    if rel is None:
        return None
    tree = rev.tree(rel)
    # Data git holds only in part (a tracked .gitkeep beside ignored files) is not in git.
    return tree if (tree or rev.tracked(rel)) and not rev.untracked(rel) else None


def _batches(source: InputPlan, step: StepPlan, tree: dict[str, TreeFile]) -> int | None:
    if step.partition_keys:
        return None  # keys are read from paths or columns: counted at run time
    batch = step.mini_batch_size or 1
    if source.kind == "file":
        return math.ceil(len(tree) / batch)
    return sum(table_batches(source, path, item.size, batch) for path, item in tree.items())


def removed_specs(rev: Revision, folder: str) -> list[str]:
    """The specs below `folder` the revision has and the working tree has not, nor under
    a new name (paths as the working tree would name them)."""
    from runner.spec.discover import SUFFIXES, is_spec_text

    rel = rev.rel(folder)
    if rel is None:
        return []
    gone = {path: item for path, item in rev.tree(rel).items() if path.endswith(SUFFIXES)
            and not any(part.startswith((".", "_")) for part in path.split("/"))
            and not os.path.exists(os.path.join(folder, path))}
    moved = set(rev.renames().values())
    gone = {path: item for path, item in gone.items() if (path if rel == "." else f"{rel}/{path}") not in moved}
    texts = rev.blobs(item.blob for item in gone.values())
    return [os.path.normpath(os.path.join(folder, path)) for path, item in sorted(gone.items())
            if is_spec_text(texts.get(item.blob, b"").decode("utf-8", "replace"))]
