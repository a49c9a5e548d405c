"""What a spec change does, for review: `runner diff OLD NEW` and `runner plan SPEC
--against REF`. Both sides are planned in full (variants merged, templates rendered,
defaults filled in), so a reviewer sees the job's change, not the YAML's: each field
that changes (with the file:line that sets it on the new side, or set it on the old),
the parameters, the code each step runs (its snapshot, file by file), its models, the
work (mini-batches) and with --target the compiled pipeline as a unified diff. Secrets
are *** on both sides, as in `plan`."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from runner.inputs.work import StepWork
from runner.plan.plan import Plan
from runner.render import redacted_spec, secret_values, work_text
from runner.runs.outcome import Compiled
from runner.spec.diagnostics import Path_, format_path
from runner.spec.tree import Mapping, lookup

ABSENT: Any = object()  # a side that lacks the field (shown as `(none)`)


@dataclass
class Change:
    field: str  # steps[0].parallel_run.mini_batch_size
    old: Any
    new: Any
    where: str = ""  # where the new value is written (file:line:col), or where the old one was

    @property
    def kind(self) -> str:
        return "added" if self.old is ABSENT else "removed" if self.new is ABSENT else "changed"


@dataclass
class FilesChange:
    """A folder's files on each side: a step's code snapshot, or a model's path."""

    step: str
    what: str  # "code" or "model NAME"
    folder: str  # as the plan has it (relative to the working directory)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    old_files: int | None = None
    new_files: int | None = None
    old_digest: str = ""  # the snapshot digest a run would record (code only)
    new_digest: str = ""
    note: str = ""  # why it was not compared ("not in git")

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass
class Side:
    """One side of a comparison: its plan, work and compiled pipeline."""

    name: str  # how it is named: "specs/a.yaml", "specs/a.yaml at origin/main"
    plan: Plan | None  # None: the spec does not exist on that side
    work: list[StepWork] = field(default_factory=list)
    compiled: Compiled | None = None
    tree: Mapping | None = None  # the loaded spec's marks
    at: str = ""  # the revision it was read at ("" for a file on disk)


@dataclass
class Review:
    old: str
    new: str
    fields: list[Change]
    parameters: list[Change]
    work: list[Change]  # old and new: StepWork (ABSENT where a side lacks the step)
    compiled: str  # unified diff of the compiled YAML ("" when not compiled or unchanged)
    target: str
    added: bool = False  # the old side has no such spec: everything is new
    removed: bool = False  # the new side has no such spec (a folder's review): it no longer runs
    secrets: list[str] = field(default_factory=list)  # both sides' secret values: views hide them
    files: list[FilesChange] = field(default_factory=list)  # code and models, compared or said why not
    renamed_from: str = ""  # the spec's path at the revision, where it was renamed since
    notes: list[str] = field(default_factory=list)  # what the comparison could not see

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.fields or self.parameters or self.work or self.compiled
                    or any(f.any for f in self.files))


def removed(old: str, new: str) -> Review:
    """A spec the revision has and the working tree does not (nor under a new name)."""
    return Review(old, new, [], [], [], "", "", removed=True)


def compare(old: Side, new: Side, files: list[FilesChange] | None = None) -> Review:
    assert new.plan is not None
    before = redacted_spec(old.plan) if old.plan else {}
    after = redacted_spec(new.plan)
    fields = [Change(format_path(path), a, b, _where(new, old, path, a, b))
              for path, a, b in _differences(before, after, ())]
    params_old = {p.name: p for p in old.plan.parameters} if old.plan else {}
    params_new = {p.name: p for p in new.plan.parameters}
    parameters = [Change(name, _param(params_old.get(name)), _param(params_new.get(name)),
                         params_new[name].set_by if name in params_new else "")
                  for name in [*params_new, *(n for n in params_old if n not in params_new)]
                  if _param(params_old.get(name)) != _param(params_new.get(name))]
    works_old = {w.step: w for w in old.work}
    work = [Change(w.step, works_old.get(w.step, ABSENT), w) for w in new.work
            if w.step not in works_old or work_text(works_old[w.step]) != work_text(w)]
    secrets = [*secret_values(new.plan), *(secret_values(old.plan) if old.plan else [])]
    return Review(old.name, new.name, fields, parameters, work, _compiled_diff(old, new), new.plan.target,
                  added=old.plan is None, secrets=secrets, files=files or [])


def _param(parameter: Any) -> Any:
    if parameter is None:
        return ABSENT
    return "***" if parameter.secret else parameter.value


def _differences(a: Any, b: Any, path: Path_) -> list[tuple[Path_, Any, Any]]:
    """Leaf by leaf; a list of plain values is one value (an argument list reads whole)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in [*b, *(k for k in a if k not in b)]:
            out += _differences(a.get(key, ABSENT), b.get(key, ABSENT), (*path, key))
        return out
    if isinstance(a, list) and isinstance(b, list) and any(isinstance(x, dict) for x in (*a, *b)):
        out = []
        for index in range(max(len(a), len(b))):
            out += _differences(a[index] if index < len(a) else ABSENT, b[index] if index < len(b) else ABSENT,
                                (*path, index))
        return out
    # A section added or removed (absent, or null as a default) reads field by field.
    if isinstance(b, dict) and (a is ABSENT or a is None):
        return [(p, ABSENT, v) for p, _, v in _differences({}, b, path)] or [(path, a, b)]
    if isinstance(a, dict) and (b is ABSENT or b is None):
        return [(p, v, ABSENT) for p, v, _ in _differences(a, {}, path)] or [(path, a, b)]
    return [] if a == b else [(path, a, b)]


def _where(new: Side, old: Side, path: Path_, before: Any, after: Any) -> str:
    """Where the new value is written; where the new side writes nothing (a default now
    applies, or the field is gone), where the old side wrote it."""
    here = _mark(new.tree, path, before, after)
    if here:
        return here
    was = _mark(old.tree, path, after, before)
    at = f" at {old.at}" if old.at else ""
    if after is ABSENT:
        return f"was {was}{at}" if was else ""
    return f"default; was {was}{at}" if was else "default" if new.tree is not None else ""


def _mark(tree: Mapping | None, path: Path_, old: Any, new: Any) -> str:
    """Where `new` is written in `tree`; for a list, where its first changed item is (an
    input bound from a parameter is written where the parameter is set)."""
    if tree is None:
        return ""
    if isinstance(new, list):
        before = old if isinstance(old, list) else []
        changed = next((i for i, item in enumerate(new) if i >= len(before) or before[i] != item), None)
        if changed is not None:
            node, _, matched = lookup(tree, (*path, changed))
            if matched == (*path, changed):
                return str(node.mark)
    node, _, matched = lookup(tree, path)
    return str(node.mark) if matched == path else ""


def _compiled_diff(old: Side, new: Side) -> str:
    if new.compiled is None:
        return ""
    before = old.compiled.text.splitlines(keepends=True) if old.compiled else []
    after = new.compiled.text.splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, fromfile=old.name, tofile=new.name))
