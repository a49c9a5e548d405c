"""The views of a review (text, Markdown for a pull request comment, JSON for tools),
of several (`runner plan specs/ --against REF`), and `runner plan --format markdown`."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from runner.inputs.work import StepWork
from runner.plan.plan import Plan
from runner.plan.ray import ray_layout
from runner.render import gpu_lines, ray_lines, redacted_spec, work_text
from runner.review.compare import ABSENT, Change, FilesChange, Review
from runner.runs.outcome import Compiled

_MARKS = {"added": "+", "removed": "-", "changed": "~"}


def _diff_value(value: Any) -> str:
    """A field's value in a change: `(none)` where a side lacks it, text as written, the
    rest as JSON (render's _param_value quotes text: a plan table lists typed values)."""
    if value is ABSENT:
        return "(none)"
    if isinstance(value, StepWork):
        return work_text(value)
    return value if isinstance(value, str) else json.dumps(value)


def _headline(review: Review) -> str:
    if review.added:
        return f"{review.new} is new: {review.old} does not exist (target {review.target})"
    renamed = f", renamed from {review.renamed_from}" if review.renamed_from else ""
    return f"Changes from {review.old} to {review.new}{renamed} (target {review.target})"


def _files_summary(change: FilesChange) -> str:
    if change.note:
        return change.note
    count = len(change.added) + len(change.removed) + len(change.changed)
    return f"{count} file{'s' if count != 1 else ''} changed"


def _files_lines(change: FilesChange) -> list[tuple[str, str]]:
    return [*(("+", n) for n in change.added), *(("-", n) for n in change.removed),
            *(("~", n) for n in change.changed)]


def review_text(review: Review) -> str:
    if review.removed:
        return f"{review.new} is removed: {review.old} had it.\n"
    if not review.changed:
        return f"No changes from {review.old} to {review.new}.\n"
    sections = [[_headline(review)]]
    width = max(len(c.field) for c in review.fields) if review.fields else 0
    sections.append([f"  {c.field:<{width}}  {_diff_value(c.old)} -> {_diff_value(c.new)}"
                     + (f"  ({c.where})" if c.where else "") for c in review.fields])
    sections.append(["Parameters", *(f"  {c.field}: {_diff_value(c.old)} -> {_diff_value(c.new)}"
                                     + (f"  ({c.where})" if c.where else "") for c in review.parameters)]
                    if review.parameters else [])
    files = ["Code and models"] if review.files else []
    for item in review.files:
        files.append(f"  {item.what} of step {item.step} ({item.folder}): {_files_summary(item)}")
        files += [f"    {mark} {name}" for mark, name in _files_lines(item)]
    sections.append(files)
    work = ["Work"] if review.work else []
    for change in review.work:
        work += [f"  step {change.field}", f"    before  {_diff_value(change.old)}",
                 f"    after   {_diff_value(change.new)}"]
    sections.append(work + review.notes)
    if review.compiled:
        sections.append([f"Compiled pipeline ({review.target}), unified diff:", review.compiled.rstrip("\n")])
    return "\n\n".join("\n".join(lines) for lines in sections if lines) + "\n"


def _cell(value: Any, limit: int | None = 80) -> str:
    text = _diff_value(value).replace("|", "\\|").replace("\n", " ")
    text = text if limit is None or len(text) <= limit else text[:limit - 3] + "..."
    return f"`{text}`" if "`" not in text else text


def review_markdown(review: Review) -> str:
    """A pull request comment: the table of changes first, the compiled pipeline folded."""
    head = f"### Changes to the job: `{review.old}` → `{review.new}`"
    if review.removed:
        return f"### Removed spec: `{review.new}`\n\n`{review.old}` had it; it no longer runs.\n"
    if review.added:
        head = f"### New spec: `{review.new}`"
    if not review.changed:
        return f"{head}\n\nNo changes to the job.\n"
    plural = "s" if len(review.fields) != 1 else ""
    summary = f"{len(review.fields)} field{plural} of the spec change (target `{review.target}`)."
    if not review.fields:
        summary = f"No field of the spec changes (target `{review.target}`)."
    if review.added:
        summary = f"`{review.old}` does not exist (target `{review.target}`): every field is new."
    elif review.renamed_from:
        summary = f"Renamed from `{review.renamed_from}`; {summary[0].lower()}{summary[1:]}"
    lines = [head, "", summary]
    if review.fields:
        lines += ["", "| | field | before | after | set at |", "|---|---|---|---|---|"]
        lines += [f"| {_MARKS[c.kind]} | `{c.field}` | {_cell(c.old)} | {_cell(c.new)} | {c.where or ''} |"
                  for c in review.fields]
    if review.parameters:
        lines += ["", "| parameter | before | after |", "|---|---|---|"]
        lines += [f"| `{c.field}` | {_cell(c.old)} | {_cell(c.new)} |" for c in review.parameters]
    if review.files:
        lines += ["", "| step | what | folder | file |", "|---|---|---|---|"]
        for files in review.files:
            rows = [f"{mark} `{name}`" for mark, name in _files_lines(files)] or [files.note]
            lines += [f"| `{files.step}` | {files.what} | {_cell(files.folder)} | {row} |" for row in rows]
    if review.work:
        lines += ["", "| step | work before | work after |", "|---|---|---|"]
        lines += [f"| `{c.field}` | {_cell(c.old, None)} | {_cell(c.new, None)} |" for c in review.work]
    lines += ["", *(f"_{note}_" for note in review.notes)] if review.notes else []
    if review.compiled:
        fence = "````" if "```" in review.compiled else "```"
        lines += ["", f"<details><summary>Compiled pipeline ({review.target}): diff</summary>", "",
                  f"{fence}diff", review.compiled.rstrip("\n"), fence, "", "</details>"]
    return "\n".join(lines) + "\n"


def review_data(review: Review) -> dict[str, Any]:
    """The review as JSON data; work as `plan --format json` has it (numbers, not prose)."""
    def value(item: Any) -> Any:
        return None if item is ABSENT else dataclasses.asdict(item) if isinstance(item, StepWork) else item

    def change(c: Change) -> dict[str, Any]:
        return {"field": c.field, "kind": c.kind, "old": value(c.old), "new": value(c.new), "where": c.where}

    def files(f: FilesChange) -> dict[str, Any]:
        return {key: getattr(f, key) for key in ("step", "folder", "added", "removed", "changed", "old_files",
                                                 "new_files", "old_digest", "new_digest", "note")}

    return {"old": review.old, "new": review.new, "target": review.target, "changed": review.changed,
            "added": review.added, "removed": review.removed, "renamed_from": review.renamed_from or None,
            "fields": [change(c) for c in review.fields],
            "parameters": [change(c) for c in review.parameters],
            "code": [files(f) for f in review.files if f.what == "code"],
            "models": [{"model": f.what.split(" ", 1)[1], **files(f)} for f in review.files if f.what != "code"],
            "work": [{"step": c.field, "old": value(c.old), "new": value(c.new)} for c in review.work],
            "notes": review.notes, "compiled_diff": review.compiled}


def review_json(review: Review) -> str:
    return json.dumps(review_data(review), indent=2) + "\n"


def reviews_text(reviews: list[Review]) -> str:
    return "\n".join(review_text(r) for r in reviews)


def reviews_markdown(reviews: list[Review]) -> str:
    """The changed specs, one section each; the unchanged named in one line."""
    changed = [review_markdown(r) for r in reviews if r.changed]
    same = [f"`{r.new}`" for r in reviews if not r.changed]
    tail = [f"Unchanged: {', '.join(same)}.\n"] if same else []
    return "\n".join([*changed, *tail]) if changed or tail else "No specs.\n"


def reviews_json(reviews: list[Review]) -> str:
    return json.dumps([review_data(r) for r in reviews], indent=2) + "\n"


def plan_markdown(plan: Plan, work: list[StepWork], compiled: Compiled | None) -> str:
    """`runner plan --format markdown`: a table of the steps' work and reuse first, what
    Azure ML gets (with an Azure target), the resolved spec and the compiled pipeline
    folded."""
    import yaml

    lines = [f"### `runner` plan: `{plan.source}` (target `{plan.target}`)", "",
             "| step | inputs | mini-batches | workers | reuse |", "|---|---|---|---|---|"]
    for item in work:
        inputs, _, rest = work_text(item).partition(" -> ")
        batches = rest.split(" on ")[0]
        lines.append(f"| `{item.step}` | {_cell(inputs)} | {_cell(batches)} | {item.workers or '-'} | "
                     f"{_cell(item.reuse or '-', None)} |")
    gpus = [f"{step.name}: {line.strip().removeprefix('gpus').strip()}"
            for step in plan.steps for line in gpu_lines(step, plan.target)]
    if gpus:
        lines += ["", "GPUs: which device each worker sees", "", "```text", *gpus, "```"]
    layout = ray_layout(plan)
    if layout is not None:
        section = ray_lines(layout)
        lines += ["", f"{section[0]}: the actors, what is shipped and what every node reads", "", "```text",
                  *[line.strip() for line in section[1:]], "```"]
    if compiled is not None and compiled.description:
        lines += ["", f"Azure ML ({compiled.target}): what `runner apply` creates, reuses and submits", "",
                  "```text", *compiled.description, "```"]
    resolved = yaml.safe_dump(redacted_spec(plan), sort_keys=False, default_flow_style=False, width=100)
    lines += ["", "<details><summary>Resolved spec</summary>", "", "```yaml", resolved.rstrip("\n"), "```", "",
              "</details>"]
    if compiled is not None:
        fence = "````" if "```" in compiled.text else "```"
        lines += ["", f"<details><summary>Compiled pipeline ({compiled.target})</summary>", "", f"{fence}yaml",
                  compiled.text.rstrip("\n"), fence, "", "</details>"]
    return "\n".join(lines) + "\n"
