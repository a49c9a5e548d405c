"""What a spec change does, for review: `runner diff OLD NEW` and `runner plan SPEC
--against REF`. Both sides are planned in full (variants merged, templates rendered,
defaults filled in), so a reviewer sees the job's change, not the YAML's: each field
that changes (with the file:line that sets it on the new side), the parameters, the
work (mini-batches), and with --target the compiled pipeline as a unified diff.
Rendered as text, as Markdown for a pull request comment, or as JSON. Secrets are ***
on both sides, as in `plan`."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from runner.inputs.work import StepWork
from runner.plan.plan import Plan
from runner.render import redacted_spec, secret_values, work_text
from runner.runs.outcome import Compiled
from runner.spec.diagnostics import Path_, format_path
from runner.spec.tree import Mapping, lookup

_ABSENT = object()


@dataclass
class Change:
    field: str  # steps[0].parallel_run.mini_batch_size
    old: Any
    new: Any
    where: str = ""  # where the new value is written (file:line:col), or "default"

    @property
    def kind(self) -> str:
        return "added" if self.old is _ABSENT else "removed" if self.new is _ABSENT else "changed"


@dataclass
class Side:
    """One side of a comparison: its plan, work and compiled pipeline."""

    name: str  # how it is named: "specs/a.yaml", "specs/a.yaml at origin/main"
    plan: Plan | None  # None: the spec does not exist on that side
    work: list[StepWork] = field(default_factory=list)
    compiled: Compiled | None = None
    tree: Mapping | None = None  # the loaded spec's marks (new side)


@dataclass
class Review:
    old: str
    new: str
    fields: list[Change]
    parameters: list[Change]
    work: list[Change]
    compiled: str  # unified diff of the compiled YAML ("" when not compiled or unchanged)
    target: str
    added: bool = False  # the old side has no such spec: everything is new
    secrets: list[str] = field(default_factory=list)  # both sides' secret values: views hide them

    @property
    def changed(self) -> bool:
        return bool(self.fields or self.compiled)


def compare(old: Side, new: Side) -> Review:
    assert new.plan is not None
    before = redacted_spec(old.plan) if old.plan else {}
    after = redacted_spec(new.plan)
    fields = [Change(format_path(path), a, b, _where(new.tree, path, a, b))
              for path, a, b in _differences(before, after, ())]
    params_old = {p.name: p for p in old.plan.parameters} if old.plan else {}
    params_new = {p.name: p for p in new.plan.parameters}
    parameters = [Change(name, _param(params_old.get(name)), _param(params_new.get(name)),
                         params_new[name].set_by if name in params_new else "")
                  for name in [*params_new, *(n for n in params_old if n not in params_new)]
                  if _param(params_old.get(name)) != _param(params_new.get(name))]
    works_old = {w.step: work_text(w) for w in old.work}
    work = [Change(w.step, works_old.get(w.step, _ABSENT), work_text(w)) for w in new.work
            if works_old.get(w.step) != work_text(w)]
    secrets = [*secret_values(new.plan), *(secret_values(old.plan) if old.plan else [])]
    return Review(old.name, new.name, fields, parameters, work, _compiled_diff(old, new), new.plan.target,
                  added=old.plan is None, secrets=secrets)


def _param(parameter: Any) -> Any:
    if parameter is None:
        return _ABSENT
    return "***" if parameter.secret else parameter.value


def _differences(a: Any, b: Any, path: Path_) -> list[tuple[Path_, Any, Any]]:
    """Leaf by leaf; a list of plain values is one value (an argument list reads whole)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in [*b, *(k for k in a if k not in b)]:
            out += _differences(a.get(key, _ABSENT), b.get(key, _ABSENT), (*path, key))
        return out
    if isinstance(a, list) and isinstance(b, list) and any(isinstance(x, dict) for x in (*a, *b)):
        out = []
        for index in range(max(len(a), len(b))):
            out += _differences(a[index] if index < len(a) else _ABSENT, b[index] if index < len(b) else _ABSENT,
                                (*path, index))
        return out
    # A section added or removed (absent, or null as a default) reads field by field.
    if isinstance(b, dict) and (a is _ABSENT or a is None):
        return [(p, _ABSENT, v) for p, _, v in _differences({}, b, path)] or [(path, a, b)]
    if isinstance(a, dict) and (b is _ABSENT or b is None):
        return [(p, v, _ABSENT) for p, v, _ in _differences(a, {}, path)] or [(path, a, b)]
    return [] if a == b else [(path, a, b)]


def _where(tree: Mapping | None, path: Path_, old: Any, new: Any) -> str:
    """Where the new value is written; for a list, where its first changed item is (an
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
    return str(node.mark) if matched == path else "default"


def _compiled_diff(old: Side, new: Side) -> str:
    if new.compiled is None:
        return ""
    before = old.compiled.text.splitlines(keepends=True) if old.compiled else []
    after = new.compiled.text.splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, fromfile=old.name, tofile=new.name))


# --- views --------------------------------------------------------------------------

def _diff_value(value: Any) -> str:
    """A field's value in a change: `(none)` where a side lacks it, text as written, the
    rest as JSON (render's _param_value quotes text: a plan table lists typed values)."""
    if value is _ABSENT:
        return "(none)"
    return value if isinstance(value, str) else json.dumps(value)


def review_text(review: Review) -> str:
    if not review.changed:
        return f"No changes from {review.old} to {review.new}.\n"
    lines = [f"Changes from {review.old} to {review.new} (target {review.target})", ""]
    if review.added:
        lines[0] = f"{review.new} is new: {review.old} does not exist (target {review.target})"
    width = max(len(c.field) for c in review.fields) if review.fields else 0
    for change in review.fields:
        where = f"  ({change.where})" if change.where else ""
        lines.append(f"  {change.field:<{width}}  {_diff_value(change.old)} -> {_diff_value(change.new)}{where}")
    if review.parameters:
        lines += ["", "Parameters"]
        lines += [f"  {c.field}: {_diff_value(c.old)} -> {_diff_value(c.new)}" + (f"  ({c.where})" if c.where else "")
                  for c in review.parameters]
    if review.work:
        lines += ["", "Work"]
        for change in review.work:
            lines += [f"  step {change.field}", f"    before  {_diff_value(change.old)}", f"    after   {change.new}"]
    if review.compiled:
        lines += ["", f"Compiled pipeline ({review.target}), unified diff:", review.compiled.rstrip("\n")]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    text = _diff_value(value).replace("|", "\\|").replace("\n", " ")
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"`{text}`" if "`" not in text else text


def review_markdown(review: Review) -> str:
    """A pull request comment: the table of changes first, the compiled pipeline folded."""
    head = f"### Changes to the job: `{review.old}` → `{review.new}`"
    if not review.changed:
        return f"{head}\n\nNo changes to the job.\n"
    lines = [head, "", f"{len(review.fields)} field{'s' if len(review.fields) != 1 else ''} change "
                       f"(target `{review.target}`).", "",
             "| | field | before | after | set at |", "|---|---|---|---|---|"]
    marks = {"added": "+", "removed": "-", "changed": "~"}
    for change in review.fields:
        lines.append(f"| {marks[change.kind]} | `{change.field}` | {_cell(change.old)} | {_cell(change.new)} | "
                     f"{change.where or ''} |")
    if review.parameters:
        lines += ["", "| parameter | before | after |", "|---|---|---|"]
        lines += [f"| `{c.field}` | {_cell(c.old)} | {_cell(c.new)} |" for c in review.parameters]
    if review.work:
        lines += ["", "| step | work before | work after |", "|---|---|---|"]
        lines += [f"| `{c.field}` | {_cell(c.old)} | {_cell(c.new)} |" for c in review.work]
    if review.compiled:
        fence = "````" if "```" in review.compiled else "```"
        lines += ["", f"<details><summary>Compiled pipeline ({review.target}): diff</summary>", "",
                  f"{fence}diff", review.compiled.rstrip("\n"), fence, "", "</details>"]
    return "\n".join(lines) + "\n"


def review_json(review: Review) -> str:
    def change(c: Change) -> dict[str, Any]:
        return {"field": c.field, "kind": c.kind, "old": None if c.old is _ABSENT else c.old,
                "new": None if c.new is _ABSENT else c.new, "where": c.where}

    return json.dumps({"old": review.old, "new": review.new, "target": review.target, "changed": review.changed,
                       "fields": [change(c) for c in review.fields],
                       "parameters": [change(c) for c in review.parameters],
                       "work": [change(c) for c in review.work], "compiled_diff": review.compiled}, indent=2) + "\n"


def plan_markdown(plan: Plan, work: list[StepWork], compiled: Compiled | None) -> str:
    """`runner plan --format markdown`: a table of the steps' work and reuse first, the
    resolved spec and the compiled pipeline folded."""
    import yaml

    lines = [f"### `runner` plan: `{plan.source}` (target `{plan.target}`)", "",
             "| step | inputs | mini-batches | workers | reuse |", "|---|---|---|---|---|"]
    for item in work:
        inputs, _, rest = work_text(item).partition(" -> ")
        batches = rest.split(" on ")[0]
        lines.append(f"| `{item.step}` | {_cell(inputs)} | {_cell(batches)} | {item.workers or '-'} | "
                     f"{_cell(item.reuse or '-')} |")
    resolved = yaml.safe_dump(redacted_spec(plan), sort_keys=False, default_flow_style=False, width=100)
    lines += ["", "<details><summary>Resolved spec</summary>", "", "```yaml", resolved.rstrip("\n"), "```", "",
              "</details>"]
    if compiled is not None:
        fence = "````" if "```" in compiled.text else "```"
        lines += ["", f"<details><summary>Compiled pipeline ({compiled.target})</summary>", "", f"{fence}yaml",
                  compiled.text.rstrip("\n"), fence, "", "</details>"]
    return "\n".join(lines) + "\n"
