"""Typed views of runs: what `Backend.status()` returns, `runner status` shows, `status
--json` and `runs --json` print and `status --watch` compares.

Records (runner/runs/records.py) are what a run folder stores, one type per file,
shaped for the disk; a view is what a reader gets: a run with its steps, their progress
and code versions, and what a target's service says of it, put together once
(runner/runs/inspect.py). Views are frozen, so a backend adds what it knows while one is
built (inspect.status's parameters), never by patching one after. The JSON of a view is
the view serialised, and its JSON Schema (schema/, `runner schema`) comes from the same
types: the printed JSON and its schema cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from runner.runs.status import Status

if TYPE_CHECKING:  # `runner --help` imports this (through display): only what it needs at run time
    from pydantic import TypeAdapter

    from runner.runs.records import ProgressRecord, RetryRecord, RunRecord, StepRecord, StepSummary

# Bumped when a field of a view changes meaning or goes: readers of `status --json` check it.
VIEW_VERSION = 1
STATUS_SCHEMA_FILE = "runner-status.schema.json"
RUNS_SCHEMA_FILE = "runner-runs.schema.json"


class LogChunk(NamedTuple):
    """Text of a log file (`runner logs`), or what it gained (`logs -f`)."""

    path: str
    text: str


@dataclass(frozen=True)
class MiniBatchesView:
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    in_flight: int = 0
    retrying: int = 0

    @property
    def left(self) -> int:
        return self.total - self.succeeded - self.failed


@dataclass(frozen=True)
class ItemsView:
    total: int | None = None  # None: rows of a table, known only as workers read them
    succeeded: int = 0
    failed: int = 0
    estimate: int | None = None  # a table's total scaled from the bytes read so far

    @property
    def left(self) -> int | None:
        return None if self.total is None else self.total - self.succeeded - self.failed


@dataclass(frozen=True)
class ProgressView:
    """A step's numbers (progress.json, brought up to date from the ledger once stopped)."""

    step: str
    status: Status = Status.RUNNING
    mini_batches: MiniBatchesView = MiniBatchesView()
    items: ItemsView = ItemsView()
    rows_written: int = 0
    retries: int = 0
    worker_restarts: int = 0
    mini_batches_per_second: float = 0.0
    items_per_second: float = 0.0
    eta_seconds: float | None = None
    elapsed_seconds: float = 0.0
    updated: float = 0.0

    @classmethod
    def of(cls, record: ProgressRecord) -> ProgressView:
        return _copy(cls, record, mini_batches=_copy(MiniBatchesView, record.mini_batches),
                     items=_copy(ItemsView, record.items))

    def settled(self) -> ProgressView:
        """Without what moves while a step runs though nothing was done: the rates, the
        time left and taken, when it was written, the work in flight."""
        return dataclasses.replace(self, mini_batches_per_second=0.0, items_per_second=0.0, eta_seconds=None,
                                   elapsed_seconds=0.0, updated=0.0,
                                   mini_batches=dataclasses.replace(self.mini_batches, in_flight=0, retrying=0))


@dataclass(frozen=True)
class CodeVersion:
    """A code version a retried step ran (0: the run's snapshot, n: retry n's with
    --update-code): which attempts ran it, and how much of the output it made."""

    code: int
    snapshot: str
    attempts: tuple[int, ...]
    mini_batches: int = 0
    rows: int = 0


@dataclass(frozen=True)
class RetryView:
    attempt: int
    started: float
    code: int = 0
    snapshot: str = ""
    changes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemReuseView:
    """An incremental step's item reuse (runner/runs/records.py ItemReuse)."""

    run: str | None
    new: int = 0
    changed: int = 0
    reused: int = 0
    gone: int = 0
    failed_before: int = 0
    grown: int = 0
    unit_rerun: int = 0
    unit: str = "items"
    why: str = ""


@dataclass(frozen=True)
class StepView:
    """A step as step.json records it, with its progress and, once retried, its code versions."""

    name: str
    status: Status = Status.PENDING
    reason: str = ""
    reused_from: str | None = None
    fingerprint: str = ""
    snapshot: str = ""
    snapshot_files: int | None = None
    snapshot_bytes: int | None = None
    started: float | None = None
    mini_batches: int | None = None
    items: int | None = None
    files: int | None = None
    listing: str = ""
    parts: Mapping[str, str] = field(default_factory=dict)
    partition_seconds: float | None = None
    retried: tuple[RetryView, ...] = ()
    progress: ProgressView | None = None  # None: the step has not started
    code_versions: tuple[CodeVersion, ...] = ()  # () unless retried (local runs)
    incremental: str = ""  # an incremental step's fingerprint without its input listing
    item_reuse: ItemReuseView | None = None  # what an incremental step reuses of an earlier run

    @classmethod
    def of(cls, record: StepRecord, status: Status, progress: ProgressView | None,
           code_versions: tuple[CodeVersion, ...]) -> StepView:
        """`status`: the record's, unless the run says more (a killed driver's step is interrupted)."""
        return _copy(cls, record, status=status, parts=dict(record.parts),
                     retried=tuple(_retry(r) for r in record.retried), progress=progress, code_versions=code_versions,
                     item_reuse=_copy(ItemReuseView, record.item_reuse) if record.item_reuse else None)


@dataclass(frozen=True)
class _RunFields:
    """What run.json says of a run, shared by the status of one run and the list of runs."""

    id: str
    name: str
    spec: str
    target: str = "local"
    status: Status = Status.CREATED
    experiment: str = ""
    chain: tuple[str, ...] = ()
    started: float = 0.0
    finished: float | None = None
    cwd: str = ""
    driver_pid: int | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    resumed: int = 0
    reason: str = ""
    driver_peak_rss_mb: float | None = None
    azure_run_id: str | None = None
    portal_url: str | None = None
    azure_status: str | None = None  # as the service said it when last asked
    version: int = VIEW_VERSION


@dataclass(frozen=True)
class ServiceState:
    """What a target's service knows of a run better than its folder: an Azure run goes
    on after the process that applied it stopped following it (`status` None: as the
    folder says), and `note` says why the service could not be asked."""

    status: Status | None = None
    reason: str = ""
    note: str = ""


@dataclass(frozen=True)
class RunView(_RunFields):
    """A run and its steps: what `runner status` shows."""

    steps: tuple[StepView, ...] = ()
    note: str = ""  # why the target's service was not asked (Azure ML out of reach)

    @classmethod
    def of(cls, record: RunRecord, steps: tuple[StepView, ...], service: ServiceState | None = None) -> RunView:
        """The run as `record` says, unless the service says otherwise: then every step
        goes on with the run (the service tells the run's state, not each step's)."""
        status, reason, note = record.status, record.reason, ""
        if service is not None:
            note = service.note
            if service.status is not None:
                status, reason = service.status, service.reason
                steps = tuple(dataclasses.replace(s, status=service.status, reason="") for s in steps)
        return _copy(cls, record, status=status, reason=reason, chain=tuple(record.chain),
                     parameters=dict(record.parameters), steps=steps, note=note, version=VIEW_VERSION)

    def settled(self) -> RunView:
        """The view less what moves every second while nothing is done (`status --watch`
        into a log writes a new block only when this changes)."""
        return dataclasses.replace(self, steps=tuple(
            dataclasses.replace(s, progress=s.progress.settled() if s.progress else None) for s in self.steps))


@dataclass(frozen=True)
class StepEnd:
    """A step's end as run.json keeps it (`runs --json`)."""

    status: Status
    output: str | None = None
    reused_from: str | None = None


@dataclass(frozen=True)
class RunSummary(_RunFields):
    """A run as `runner runs` lists it: run.json, and each step's progress.json for the
    items that failed (a run that succeeded within its thresholds may have failures)."""

    steps: Mapping[str, StepEnd] = field(default_factory=dict)
    failed_items: int = 0  # over every step: what `succeeded` alone would hide

    @classmethod
    def of(cls, record: RunRecord, failed_items: int = 0) -> RunSummary:
        return _copy(cls, record, chain=tuple(record.chain), parameters=dict(record.parameters),
                     steps={name: _end(s) for name, s in record.steps.items()}, failed_items=failed_items,
                     version=VIEW_VERSION)

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; None while it runs (or never recorded its end)."""
        return None if self.finished is None else max(0.0, self.finished - self.started)


def status_json(view: RunView) -> str:
    """`status --json`: the view serialised (indented, ASCII, as the records are written)."""
    return json.dumps(_adapter(RunView).dump_python(view, mode="json"), indent=1)


def runs_json(runs: list[RunSummary]) -> str:
    """`runs --json`: the list serialised."""
    return json.dumps(_adapter(list[RunSummary]).dump_python(runs, mode="json"), indent=1)


def status_schema() -> dict[str, Any]:
    return _schema(RunView, "runner status --json")


def runs_schema() -> dict[str, Any]:
    return _schema(list[RunSummary], "runner runs --json")


def _schema(shape: Any, title: str) -> dict[str, Any]:
    schema = _adapter(shape).json_schema(mode="serialization")
    # Every field is printed, and nothing else: a reader may count on each key, and a
    # field added to a view without its schema regenerated fails the schema's check.
    for definition in (schema, *schema.get("$defs", {}).values()):
        if "properties" in definition:  # an object (not an enum, not the list of runs)
            definition["required"] = list(definition["properties"])
            definition["additionalProperties"] = False
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": title}


def _adapter(shape: Any) -> TypeAdapter[Any]:
    # The records' module is imported on first use: the progress bar's display imports
    # this module's types, and only readers serialise.
    from runner.runs.records import adapter

    return adapter(shape)


V = TypeVar("V")


def _copy(cls: type[V], source: object, **given: Any) -> V:
    """A view of a record: each field of `cls` from the record's attribute of the same
    name, unless `given`. A record field renamed or gone fails here (AttributeError), not
    silently as a default."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]  # V is always a dataclass
    return cls(**{name: given[name] if name in given else getattr(source, name) for name in names})


def _retry(record: RetryRecord) -> RetryView:
    # A retry before secrets were refused may have recorded one: never shown.
    from runner.spec.secrets import REDACTED, credential_kind, looks_secret

    changes = {name: REDACTED if (name.startswith("environment_variables.") and looks_secret(name.split(".", 1)[1]))
               or (isinstance(value, str) and credential_kind(value)) else value
               for name, value in record.changes.items()}
    return _copy(RetryView, record, changes=changes)


def _end(summary: StepSummary) -> StepEnd:
    return _copy(StepEnd, summary)

