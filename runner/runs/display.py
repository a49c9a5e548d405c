"""How a run's status reads in a terminal: `runner status` prints it once, `status
--watch` redraws it, and the live progress bar formats its numbers the same way. Kept
apart from the CLI so every view of a run says the same."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from runner.runs.status import Status

if TYPE_CHECKING:  # `runner --help` imports this module: the views are only annotations here
    from runner.runs.records import ItemReuse
    from runner.runs.views import ItemReuseView
    from runner.runs.views import CodeVersion, ProgressView, RunSummary, RunView, StepView


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 mini-batch', '2 mini-batches', '3,000 items'."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def reuse_text(reuse: ItemReuse | ItemReuseView, planned: bool = False) -> str:
    """An incremental step's item reuse, as `plan` says it (`planned`) and as `apply`,
    `status` and the step's records say it: 'would run 1,000 new and 12 changed items,
    reuse 998,988 from run X (same code, model and definition); 40 items gone'."""
    run, reuse_ = ("would run", "reuse") if planned else ("runs", "reuses")
    if reuse.run is None:
        return f"no earlier run to reuse ({reuse.why}): {run} every item" if reuse.why else \
            f"no earlier run to reuse: {run} every item"
    unit = reuse.unit
    text = (f"{run} {reuse.new:,} new and {reuse.changed:,} changed {unit}, {reuse_} {reuse.reused:,} from run "
            f"{reuse.run} (same code, model and definition); {counted(reuse.gone, unit[:-1])} gone")
    if reuse.grown:
        text += (f"; {counted(reuse.grown, 'file')} only grew: the earlier rows are reused, "
                 f"the appended ones {'would run' if planned else 'run'}")
    if reuse.failed_before:
        text += f"; {counted(reuse.failed_before, unit[:-1])} that failed there {'run' if planned else 'runs'} again"
    if reuse.unit_rerun:
        text += (f"; {counted(reuse.unit_rerun, 'unchanged ' + unit[:-1], 'unchanged ' + unit)} run again with "
                 "their mini-batch, which did not return one row per item")
    return text


def clock(seconds: float) -> str:
    """A duration as a clock: 0:07, 12:30, 1:02:05."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def rate(per_second: float) -> str:
    """A rate with as many digits as it deserves: 0.42, 4.2, 42, 4200."""
    if per_second >= 100:
        return f"{per_second:,.0f}"
    return f"{per_second:.1f}" if per_second >= 1 else f"{per_second:.2f}"


def when(seconds: float) -> str:
    """A time as `runner runs` and `status` show it: local, to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


RUNS_HEADER = ("RUN", "STATUS", "TARGET", "STARTED", "DURATION", "SPEC")


def runs_table(runs: list[RunSummary]) -> list[str]:
    """`runner runs`: a header, then a row per run, columns as wide as their widest cell.
    A run that succeeded with items failed within its thresholds says how many."""
    if not runs:
        return []
    rows = [RUNS_HEADER]
    for run in runs:
        state = str(run.status)
        if run.failed_items:
            state += f" ({counted(run.failed_items, 'failed item')})"
        duration = clock(run.duration) if run.duration is not None else "-"
        rows.append((run.id, state, run.target, when(run.started), duration, run.spec or run.name))
    widths = [max(len(row[i]) for row in rows) for i in range(len(RUNS_HEADER) - 1)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
            for row in rows]


def status_text(status: str, reason: str = "") -> str:
    """`interrupted (Ctrl-C)`, not `interrupted (interrupted (Ctrl-C))`: a reason that
    already starts with the status word is shown alone. Only the reason's first line."""
    first = reason.strip().split("\n", 1)[0]
    if not first:
        return status
    if first == status or first.startswith(f"{status} ") or first.startswith(f"{status}:"):
        return first
    return f"{status} ({first})"


def outcome_text(status: str, reason: str = "") -> str:
    """`failed: <reason>` (every line of it), or the reason alone when it starts with the
    status word: `interrupted (Ctrl-C)`, not `interrupted: interrupted (Ctrl-C)`."""
    reason = reason.strip()
    if not reason:
        return status
    if status_text(status, reason) == reason.split("\n", 1)[0]:
        return reason
    return f"{status}: {reason}"


def status_lines(view: RunView) -> list[str]:
    """The lines `runner status` prints for a run (Backend.status). The run's reason is
    said once: in the header when it is one line (`run X: interrupted (Ctrl-C)`), else
    whole under the step that gave it."""
    reason = view.reason.strip()
    by_step = any(reason == s.reason.strip() for s in view.steps)
    header = reason if "\n" not in reason else ""
    out = [f"run {view.id}: " + status_text(str(view.status), header)]
    if reason and not header and not by_step:
        out += [f"  {line}" for line in reason.split("\n")]
    if view.started:
        out.append(_times(view.started, view.finished if view.status.finished else None))
    if view.azure_run_id:
        out.append(f"  {view.target} run {view.azure_run_id}: {view.portal_url or ''}")
    if view.note:  # an Azure run's state could not be read from the service
        out.append(f"  {view.note}")
    running = view.status == Status.RUNNING
    for step in view.steps:
        out += _step_lines(step, running, said=header)
    return out


def _times(started: float, finished: float | None) -> str:
    """`  started ..., ended ..., took 1:02:05`; `  started ...` while it runs."""
    if finished is None:
        return f"  started {when(started)}"
    return f"  started {when(started)}, ended {when(finished)}, took {clock(finished - started)}"


def _step_lines(step: StepView, run_running: bool, said: str) -> list[str]:
    status, reason = str(step.status), step.reason.strip()
    if reason == said:
        reason = ""  # the header said it
    one_line = status_text(status, reason)
    inline = "\n" not in reason and one_line == reason  # the reason says the status itself
    out = [f"  step {step.name}: {one_line if inline else status}"]
    if step.reused_from:
        out.append(f"    reused the output of run {step.reused_from}")
    if step.item_reuse is not None:
        out.append(f"    {reuse_text(step.item_reuse)}")
    if step.progress is not None:
        out += progress_lines(step.progress, run_running and step.status == Status.RUNNING)
    if step.code_versions:
        out.append("    code: " + "; ".join(_code_version(v) for v in step.code_versions))
    if reason and not inline:
        out += [f"    {line}" for line in reason.split("\n")]
    return out


def _code_version(version: CodeVersion) -> str:
    """`the run's snapshot 1a2b3c4d5e6f, attempts 0, 1: 7 mini-batches, 35 rows`: which
    code made how much of a retried step's output (`runner retry --update-code`)."""
    attempts = version.attempts
    name = "the run's snapshot" if version.code == 0 else f"retry {version.code}'s snapshot"
    return (f"{name} {version.snapshot[:12]}, attempt{'s' if len(attempts) != 1 else ''} "
            f"{', '.join(str(a) for a in attempts)}: {counted(version.mini_batches, 'mini-batch', 'mini-batches')}, "
            f"{counted(version.rows, 'row')}")


def items_total(total: int | None, estimate: int | None) -> str:
    """`300`, `~310` (estimated from the bytes read so far) or `?`."""
    if total is not None:
        return f"{total:,}"
    return f"~{estimate:,}" if estimate is not None else "?"


def progress_lines(progress: ProgressView, running: bool) -> list[str]:
    """A step's numbers: what is done, failed and left, the rates (now, while it runs; the
    average over the run once it stopped) and, while it runs, the time left."""
    mb, items = progress.mini_batches, progress.items
    total = items_total(items.total, items.estimate)
    left = ", of" if items.left is None else f", {items.left:,} left of"
    estimated = " (estimated from the bytes read so far)" if total.startswith("~") else ""
    out = [f"    mini-batches: {mb.succeeded:,} succeeded, {mb.failed:,} failed, {mb.left:,} left of {mb.total:,}; "
           f"{rate(progress.mini_batches_per_second)} mini-batches/s",
           f"    items: {items.succeeded:,} succeeded, {items.failed:,} failed{left} {total}{estimated}; "
           f"{rate(progress.items_per_second)} items/s"]
    if running:
        eta = progress.eta_seconds
        out.append(f"    ETA {clock(eta) if eta is not None else '(not known yet)'}; "
                   f"running for {clock(progress.elapsed_seconds)}")
    out.append(f"    retries: {progress.retries:,}; worker restarts: {progress.worker_restarts:,}")
    return out
