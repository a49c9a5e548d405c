"""What `runner report` shows, read from a run folder into typed values: the run's
record, each step's plan, record, progress, ledger lines and rare events (retries, worker
restarts). Reading only: a run folder that lacks a file (an Azure run, a step that never
started, a ledger of a runner before `t`) gives a report with less in it, not an error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.local.output.ledger_line import LedgerLine, current_lines
from runner.local.partition.descriptors import ByteRange, DescriptorError, RowGroups, files_of, from_fields
from runner.plan.plan import StepPlan
from runner.runs.folder import RunFolder, StepFolder, no_links, worker_name
from runner.runs.records import ProgressRecord, RecordError, RunRecord, StepRecord, read_record

TIMEOUT_TEXT = "did not return within run_invocation_timeout"
MAX_EVENTS = 100_000  # a pathological events file is read this far


def ended(line: LedgerLine) -> float:
    """When the line was committed, in epoch seconds (0 for a line of a runner before `t`)."""
    return line.t / 1000 if line.t is not None else 0.0


@dataclass(frozen=True)
class Event:
    """One of the driver's rare events (runs/folder.py StepFolder.log_event)."""

    t: float
    kind: str  # retry | restart | start_failed | retired | peak_memory
    worker: int | None
    mb: int | None
    error: str
    mb_of_memory: float | None = None  # peak_memory: the worker's VmHWM as the step ended


@dataclass
class StepData:
    name: str
    folder: StepFolder
    plan: StepPlan | None
    record: StepRecord
    progress: ProgressRecord | None
    lines: list[LedgerLine] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def per_node(self) -> int:
        return (self.plan.process_count_per_node or 1) if self.plan else 1

    def worker_label(self, worker: int) -> str:
        return worker_name(worker // self.per_node, worker % self.per_node)

    def worker_logs(self, worker: int) -> list[Path]:
        """The user logs of worker `worker` that exist (stderr first: tracebacks go there)."""
        node, process = worker // self.per_node, worker % self.per_node
        paths = [self.folder.user_log(stream, node, process) for stream in ("stderr", "stdout", "entry_script_log")]
        return [path for path in paths if path.is_file()]

    def worker_memory(self) -> dict[str, float]:
        """Each worker's peak memory in MB, as the driver read it when the step ended."""
        found: dict[str, float] = {}
        for event in self.events:
            if event.kind == "peak_memory" and event.worker is not None and event.mb_of_memory is not None:
                label = self.worker_label(event.worker)
                found[label] = max(found.get(label, 0.0), event.mb_of_memory)
        return found

    def is_timeout(self, line: LedgerLine) -> bool:
        return line.status == "failed" and TIMEOUT_TEXT in (line.error or "")

    def span(self, line: LedgerLine) -> tuple[float, float] | None:
        """When the mini-batch's last try ran (start, end), where the line says when it
        ended; a timeout ran for the timeout, a failure of unknown length is a moment."""
        if line.t is None:
            return None
        secs = float(line.secs or 0.0)
        if self.is_timeout(line) and self.plan is not None:
            secs = float(self.plan.run_invocation_timeout)
        return ended(line) - secs, ended(line)

    def items_of(self, mbs: set[int]) -> dict[int, list[str]]:
        """What mini-batches `mbs` hold (files, or a file's byte range or row groups), read
        from minibatches.jsonl (a line per mini-batch, in order)."""
        found: dict[int, list[str]] = {}
        if not mbs or not os.path.exists(self.folder.minibatches):
            return found
        last = max(mbs)
        with open(self.folder.minibatches, "rb", opener=no_links) as handle:
            for index, raw in enumerate(handle):
                if index in mbs:
                    found[index] = _described(raw)
                if index >= last:
                    break
        return found


@dataclass
class RunData:
    folder: RunFolder
    record: RunRecord
    steps: list[StepData]

    @property
    def local(self) -> bool:
        return self.record.target == "local"


def read_run(folder: RunFolder) -> RunData:
    """The run as its folder records it; a damaged run.json is the RecordError it raises."""
    record = folder.read()
    try:
        plans = {plan.name: plan for plan in folder.job().steps}
    except (RecordError, OSError):
        plans = {}
    names = list(plans) or list(record.steps)
    return RunData(folder, record, [_read_step(folder.step(name), plans.get(name)) for name in names])


def _read_step(folder: StepFolder, plan: StepPlan | None) -> StepData:
    try:
        record = folder.read()
    except (RecordError, OSError):
        record = StepRecord(folder.name)
    progress = None
    if os.path.exists(folder.progress):
        try:
            progress = read_record(folder.progress, ProgressRecord)
        except (RecordError, OSError):
            pass
    try:
        lines = list(current_lines(folder.ledger, retried=bool(record.retried)))
    except (RecordError, OSError):
        lines = []
    return StepData(folder.name, folder, plan, record, progress, lines, _events(folder))


def _events(folder: StepFolder) -> list[Event]:
    events: list[Event] = []
    if not os.path.exists(folder.events):
        return events
    with open(folder.events, "rb", opener=no_links) as handle:
        for raw in handle:
            if len(events) >= MAX_EVENTS:
                break
            try:
                fields: dict[str, Any] = json.loads(raw)
                memory = fields.get("mb") if fields["kind"] == "peak_memory" else None
                events.append(Event(float(fields["t"]), str(fields["kind"]), _int(fields.get("worker")),
                                    None if memory is not None else _int(fields.get("mb")),
                                    str(fields.get("error", "")), float(memory) if memory is not None else None))
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line (the driver killed mid-write): the rest still shows
    return events


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _described(raw: bytes) -> list[str]:
    try:
        descriptor = from_fields(json.loads(raw))
    except (ValueError, DescriptorError):
        return ["(its descriptor could not be read)"]
    files = files_of(descriptor)
    if files is not None:
        return files
    if isinstance(descriptor, ByteRange):
        return [f"{descriptor.path} bytes {descriptor.start}-{descriptor.end}"]
    if isinstance(descriptor, RowGroups):
        return [f"{descriptor.path} row groups {descriptor.row_groups}"]
    return []  # pragma: no cover - every descriptor kind is named above
