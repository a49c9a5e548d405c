"""The report's page: the numbers each section shows, computed from the run's data, put
into the template (runner/report/template.py; jinja2 escapes every value: errors and
paths are user text). Figures come from runner/report/plots.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from runner.local.output.ledger_line import LedgerLine
from runner.report.data import RunData, StepData
from runner.report.plots import Figures, figures, quantiles
from runner.runs.display import reuse_text

SLOWEST = 10  # mini-batches listed as the slowest
GROUP_ITEMS = 20  # items listed per error
ERROR_KEY_CHARS = 300


@dataclass
class ErrorGroup:
    key: str  # the error's last line: the exception and its message
    count: int = 0
    traceback: str = ""
    mini_batches: list[int] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)  # worker -> its log's file URI
    timeouts: int = 0


@dataclass
class Slow:
    mb: int
    secs: float
    worker: str
    items: list[str]


@dataclass
class StepPage:
    name: str
    status: str
    reason: str
    counts: dict[str, str]
    thresholds: dict[str, str]
    code: list[str]
    figures: Figures
    quantiles: tuple[float, float, float, float] | None
    slowest: list[Slow]
    errors: list[ErrorGroup]
    reuse: list[str]
    untimed: int  # lines of a runner before `t`: not on the timeline
    memory: dict[str, float]  # worker -> peak MB


def step_page(step: StepData, draw: bool) -> StepPage:
    lines = step.lines
    ok_secs = [float(line.secs) for line in lines if line.status == "ok" and line.secs is not None]
    counts = _counts(step) if draw else _recorded(step)
    return StepPage(step.name, str(step.record.status), step.record.reason, counts, _thresholds(step),
                    _code(step), figures(step) if draw else Figures("", "", False, ""),
                    quantiles(ok_secs) if ok_secs else None, _slowest(step), _errors(step), _reuse(step),
                    sum(1 for line in lines if line.t is None), step.worker_memory())


def _counts(step: StepData) -> dict[str, str]:
    lines, record = step.lines, step.record
    ok = sum(1 for line in lines if line.status == "ok")
    total = record.mini_batches
    counts = {
        "mini-batches": f"{ok:,} succeeded, {len(lines) - ok:,} failed" + (f" of {total:,}" if total is not None else ""),
        "items": f"{sum(line.ok for line in lines):,} succeeded, {sum(line.failed for line in lines):,} failed"
                 + (f" of {record.items:,}" if record.items is not None else ""),
        "retried": f"{sum(1 for line in lines if line.tries > 1):,} mini-batches needed more than one try "
                   f"({sum(max(0, line.tries - 1) for line in lines):,} tries again)",
    }
    if step.progress is not None:
        counts["worker restarts"] = f"{step.progress.worker_restarts:,}"
        counts["rows written"] = f"{step.progress.rows_written:,}"
    kept = sum(1 for line in lines if line.gen < record.attempt)
    if record.attempt:
        counts["reused"] = f"{kept:,} mini-batches kept from earlier attempts (retry {record.attempt})"
    if record.reused_from:
        counts["reused"] = f"the whole step: the output of run {record.reused_from}"
    return counts


def _recorded(step: StepData) -> dict[str, str]:
    """An Azure step's counts: what its folder's progress record holds, if anything."""
    progress = step.progress
    if progress is None:
        return {"counts": "not recorded here: see Azure ML studio"}
    batches, items = progress.mini_batches, progress.items
    return {"mini-batches": f"{batches.succeeded:,} succeeded, {batches.failed:,} failed of {batches.total:,}",
            "items": f"{items.succeeded:,} succeeded, {items.failed:,} failed"
                     + (f" of {items.total:,}" if items.total is not None else "")}


def _thresholds(step: StepData) -> dict[str, str]:
    plan = step.plan
    if plan is None:
        return {}
    found = {"error_threshold": str(plan.error_threshold), "run_max_try": str(plan.run_max_try),
             "run_invocation_timeout": f"{plan.run_invocation_timeout} s", "mini_batch": plan.mini_batch,
             "workers": str(plan.workers)}
    if plan.allowed_failed_count is not None:
        found["allowed_failed_count"] = str(plan.allowed_failed_count)
    if plan.allowed_failed_percent is not None:
        found["allowed_failed_percent"] = f"{plan.allowed_failed_percent:g}%"
    return found


def _code(step: StepData) -> list[str]:
    record = step.record
    versions = [f"the run's own: {record.snapshot[:16]}"] if record.snapshot else []
    versions += [f"retry {retry.attempt}: {retry.snapshot[:16] or 'the run’s own'}" for retry in record.retried]
    return versions


def _slowest(step: StepData) -> list[Slow]:
    ranked = sorted((line for line in step.lines if line.secs is not None), key=lambda line: -float(line.secs or 0))
    top = ranked[:SLOWEST]
    items = step.items_of({line.mb for line in top})
    return [Slow(line.mb, float(line.secs or 0), _worker(step, line), items.get(line.mb, [])[:GROUP_ITEMS])
            for line in top]


def _worker(step: StepData, line: LedgerLine) -> str:
    return step.worker_label(line.worker) if line.worker is not None else "?"


def _errors(step: StepData) -> list[ErrorGroup]:
    groups: dict[str, ErrorGroup] = {}
    for line in step.lines:
        if not line.error:
            continue
        key = _last_line(line.error)[:ERROR_KEY_CHARS]
        group = groups.setdefault(key, ErrorGroup(key, traceback=line.error))
        group.count += 1
        group.timeouts += step.is_timeout(line)
        if len(group.mini_batches) < GROUP_ITEMS:
            group.mini_batches.append(line.mb)
            group.items += (line.failed_files or [])[:GROUP_ITEMS - len(group.items)]
        if line.worker is not None and len(group.logs) < GROUP_ITEMS:
            for path in step.worker_logs(line.worker)[:1]:
                group.logs[step.worker_label(line.worker)] = path.resolve().as_uri()
    ordered = sorted(groups.values(), key=lambda group: -group.count)
    for group in ordered:
        if not group.items:  # which files failed is not known: the mini-batches' items
            found = step.items_of(set(group.mini_batches))
            group.items = [item for mb in group.mini_batches for item in found.get(mb, [])][:GROUP_ITEMS]
    return ordered


def _reuse(step: StepData) -> list[str]:
    record, said = step.record, []
    if record.reused_from:
        said.append(f"step {step.name} reused the output of run {record.reused_from} (same spec, inputs and code)")
    if record.item_reuse is not None:  # an incremental step: which rows were copied, not run
        said.append(f"step {step.name} (incremental) {reuse_text(record.item_reuse)}")
    for retry in record.retried:
        changes = ", ".join(f"{key}={value}" for key, value in retry.changes.items())
        said.append(f"retry {retry.attempt} ({_when(retry.started)}) ran the failed and unrun mini-batches again "
                    f"on code {retry.code or 'of the run'}" + (f", with {changes}" if changes else ""))
    by_gen: dict[int, int] = {}
    for line in step.lines:
        by_gen[line.gen] = by_gen.get(line.gen, 0) + 1
    if len(by_gen) > 1:
        said.append("mini-batches by the attempt that committed them: " +
                    ", ".join(f"{'the run' if gen == 0 else f'retry {gen}'}: {count}"
                              for gen, count in sorted(by_gen.items())))
    return said


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


def _duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}" if whole >= 60 else f"{seconds:.1f} s"


def render(data: RunData) -> str:
    """The whole page, self-contained."""
    from runner.report.template import page

    record = data.record
    header = {"run": record.id, "spec": record.spec, "target": record.target, "status": str(record.status),
              "started": _when(record.started), "ended": _when(record.finished),
              "duration": _duration(record.finished - record.started) if record.finished else "still running",
              "resumed": str(record.resumed)}
    steps = [step_page(step, draw=data.local) for step in data.steps]
    memory = f"{record.driver_peak_rss_mb:g} MB" if record.driver_peak_rss_mb is not None else "not recorded"
    return page(header=header, reason=record.reason, parameters=record.parameters, steps=steps, memory=memory,
                local=data.local, portal=record.portal_url or "", generated=_when(time.time()))

