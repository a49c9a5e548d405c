"""The typed records of a run folder, one type per file, each versioned.

    run.json   RunRecord    what ran, where (target), its status, times, driver, Azure ids
    job.json   JobRecord    the plan's steps with real values (mode 0600: it may hold
                            secrets), so `runner resume` runs exactly what was started
    <step>/step.json  StepRecord   a step's status, partitioning totals, fingerprint, reuse
    <step>/progress.json  ProgressRecord   the numbers `runner status` shows

Local and Azure runs write the same types. Each type has its own version (the field
`version`); a file of an earlier one goes through that type's upgrade steps, one
version at a time, then is decoded by pydantic against the type's annotations. A file
of a later version, or a damaged one, raises RecordError naming the file: never a
traceback.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from runner.plan.plan import REDACTED, Plan, RayPlan, StepPlan
from runner.runs.errors import RunError
from runner.runs.status import Status

if TYPE_CHECKING:  # imported where records are read: `runner --help` and the workers never load pydantic
    from pydantic import TypeAdapter, ValidationError


class RecordError(RunError):
    """A record that is missing, damaged or of a version this runner cannot read (exit 2)."""


class DamagedFolder(RecordError):
    """A run folder's file that is not what runner wrote there (exit 2): a folder or a
    link where a file belongs, or bytes that cannot be what was committed. Nothing was
    written through it."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"run folder damaged: {path} {problem}")


@dataclass
class StepSummary:
    """A step's end, as run.json keeps it (the step's own step.json has the rest)."""

    status: Status
    output: str | None = None
    reused_from: str | None = None


@dataclass
class RunRecord:
    id: str
    name: str
    spec: str
    target: str = "local"
    status: Status = Status.CREATED
    experiment: str = ""
    chain: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float | None = None
    cwd: str = ""
    driver_pid: int | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    resumed: int = 0  # how many times `runner resume` went on with it
    reason: str = ""
    driver_peak_rss_mb: float | None = None
    steps: dict[str, StepSummary] = field(default_factory=dict)
    azure_run_id: str | None = None
    portal_url: str | None = None
    azure_status: str | None = None
    version: int = 2

    @classmethod
    def start(cls, run_id: str, plan: Plan, status: Status) -> RunRecord:
        """A new run of `plan` (parameters as the plan shows them: secrets hidden)."""
        return cls(id=run_id, name=plan.name, spec=plan.source, target=plan.target, status=status,
                   experiment=plan.experiment, chain=plan.chain, started=time.time(), cwd=plan.cwd,
                   driver_pid=os.getpid(),
                   parameters={p.name: REDACTED if p.secret else p.value for p in plan.parameters})


@dataclass
class RetryRecord:
    """One `runner retry` of a step: the attempt it is (1 for the first), the code it runs
    (0: the run's own snapshot/, n: snapshots/<n>/, taken by retry n with --update-code)
    and that code's digest, and the fields its --set and --set-param changed."""

    attempt: int
    started: float
    code: int = 0
    snapshot: str = ""
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ItemReuse:
    """What an incremental step (`incremental: true`) reuses from an earlier run, item by
    item: decided when its inputs are partitioned, kept for `runner status` and reports.
    `unit` is what was counted: "items" (files of a file dataset) or "files" (tables)."""

    run: str | None  # the earlier run reused from; None: none could be (`why` says)
    new: int = 0
    changed: int = 0
    reused: int = 0
    gone: int = 0
    failed_before: int = 0  # present and unchanged, but failed in that run: they run again
    grown: int = 0  # tables that only grew: their earlier rows are reused, the appended rows run
    unit_rerun: int = 0  # unchanged, but their mini-batch (the unit) holds a changed item: they run again
    unit: str = "items"
    why: str = ""


@dataclass
class StepRecord:
    name: str
    status: Status = Status.PENDING
    reason: str = ""
    reused_from: str | None = None  # the run whose output this step reuses
    fingerprint: str = ""
    snapshot: str = ""  # digest of the step's code snapshot (<step>/snapshot/), taken as the run started
    snapshot_files: int | None = None
    snapshot_bytes: int | None = None
    started: float | None = None
    mini_batches: int | None = None  # set once the inputs are partitioned
    items: int | None = None
    files: int | None = None
    listing: str = ""  # a digest of the input listing
    # What the fingerprint was made of, each a digest: definition, code, models, inputs
    # (the files' paths, sizes and times). `runner plan` compares them to say why a step
    # would run again (runner/local/reuse/explain.py).
    parts: dict[str, str] = field(default_factory=dict)
    partition_seconds: float | None = None
    retried: list[RetryRecord] = field(default_factory=list)  # each `runner retry`, in order
    # incremental steps: the fingerprint without the input listing (runner/local/reuse/
    # fingerprint.py), which an earlier run must share to be reused item by item; and what
    # this run reuses of that one
    incremental: str = ""
    item_reuse: ItemReuse | None = None
    version: int = 3

    @property
    def partitioned(self) -> bool:
        return self.mini_batches is not None

    @property
    def attempt(self) -> int:
        """0 for the run itself; n once retried n times (the ledger's `gen`)."""
        return len(self.retried)

    @property
    def code(self) -> int:
        """The code version the step runs now (see RetryRecord)."""
        return self.retried[-1].code if self.retried else 0


@dataclass
class MiniBatchCounts:
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    in_flight: int = 0
    retrying: int = 0

    @property
    def left(self) -> int:
        return self.total - self.succeeded - self.failed


@dataclass
class ItemCounts:
    total: int | None = None  # None: rows of a table, known only as workers read them
    succeeded: int = 0
    failed: int = 0
    # Where the total is not known: rows so far scaled by the input bytes of all the
    # mini-batches over those of the finished ones (None until one finished).
    estimate: int | None = None


@dataclass
class ProgressRecord:
    """A running step's numbers, rewritten about once a second and at the end."""

    step: str
    status: Status = Status.RUNNING
    mini_batches: MiniBatchCounts = field(default_factory=MiniBatchCounts)
    items: ItemCounts = field(default_factory=ItemCounts)
    rows_written: int = 0
    retries: int = 0
    worker_restarts: int = 0
    # While running: the rates of the last RATE_WINDOW seconds (runner/local/progress/tracker.py);
    # once stopped, the average over the driver's run.
    mini_batches_per_second: float = 0.0
    items_per_second: float = 0.0
    eta_seconds: float | None = None
    elapsed_seconds: float = 0.0
    updated: float = 0.0
    version: int = 2


@dataclass
class JobRecord:
    """What a run executes: the plan's steps, paths absolute, values real."""

    target: str
    steps: list[StepPlan]
    version: int = 4
    ray: RayPlan | None = None  # the ray target's cluster and what each actor asks (None: another target)

    def step(self, name: str) -> StepPlan | None:
        return next((s for s in self.steps if s.name == name), None)


R = TypeVar("R", RunRecord, StepRecord, JobRecord, ProgressRecord)
Upgrade = Callable[[dict[str, Any]], dict[str, Any]]


def upgrade_1_to_2(cls: type[R]) -> Upgrade:
    """Version 1 of every record came in several shapes: fields were added with defaults
    while the version stayed 1 (a step's snapshot, retried and parts; the progress rates
    and item estimate; a plan's row_format, models and secret_env...), and readers filled
    what an older file lacked. Version 2 files hold every field. The step gives a
    version-1 file the values those readers gave it (each field's default), its types
    checked as for version 2."""
    def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
        return {**_encoded(adapter(cls).validate_json(json.dumps(raw), strict=True)), "version": 2}
    return upgrade


def with_defaults(cls: type[R], version: int) -> Upgrade:
    """A step to `version` for a shape that only added fields with defaults: each takes
    its default, the types checked as for the new version."""
    def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
        return {**_encoded(adapter(cls).validate_json(json.dumps(raw), strict=True)), "version": version}
    return upgrade


# Each record's upgrade steps, by the version they read (dbt's schema_version habit): a
# new shape moves the record's `version` default and adds a step here, so readers never
# carry a branch for an older file.
_UPGRADES: dict[type, dict[int, Upgrade]] = {
    RunRecord: {1: upgrade_1_to_2(RunRecord)},
    # 3: an incremental step's fingerprint and item reuse (StepRecord), StepPlan.incremental (JobRecord)
    StepRecord: {1: upgrade_1_to_2(StepRecord), 2: with_defaults(StepRecord, 3)},
    # 4: the ray target's settings (JobRecord.ray)
    JobRecord: {1: upgrade_1_to_2(JobRecord), 2: with_defaults(JobRecord, 3), 3: with_defaults(JobRecord, 4)},
    ProgressRecord: {1: upgrade_1_to_2(ProgressRecord)},
}


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def adapter(shape: Any) -> TypeAdapter[Any]:
    """The pydantic adapter of a type (a record, a ledger line, a view), built on first
    use and kept: a process that reads none never builds one."""
    found = _ADAPTERS.get(shape)
    if found is None:
        from pydantic import TypeAdapter

        found = _ADAPTERS[shape] = TypeAdapter(shape)
    return found


def _current(cls: type[R]) -> int:
    """The version a type's files have now: its `version` field's default."""
    default = cls.__dataclass_fields__["version"].default
    if not isinstance(default, int):
        raise TypeError(f"{cls.__name__}.version has no default")  # a programming error
    return default


def _encoded(record: RunRecord | StepRecord | JobRecord | ProgressRecord) -> dict[str, Any]:
    """A record as its file holds it (values of no JSON type, in a parameter: as text)."""
    data: dict[str, Any] = adapter(type(record)).dump_python(record, mode="json", fallback=str)
    return data


def read_record(path: Path, cls: type[R]) -> R:
    """A record file, upgraded to its type's current version and checked against every
    annotation of the type (nested ones too); anything else is a RecordError naming it."""
    from pydantic import ValidationError

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except FileNotFoundError as exc:
        raise RecordError(f"{path} is missing") from exc
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path} cannot be read ({exc}); the run folder is damaged") from exc
    if not isinstance(data, dict) or "version" not in data:
        raise RecordError(f"{path} was written by an older runner (it has no version); "
                          "apply the spec again to make a new run")
    version, current = data["version"], _current(cls)
    if type(version) is int and version > current:
        raise RecordError(f"{path} is version {version} of {cls.__name__}; this runner reads versions 1 to "
                          f"{current}: a newer runner wrote it, and reads it")
    if type(version) is not int or version != current and version not in _UPGRADES[cls]:
        raise RecordError(f"{path} is damaged (its version is {json.dumps(version)}, not one of {cls.__name__}'s)")
    try:
        while data["version"] < current:
            data = _UPGRADES[cls][data["version"]](data)
        record: R = adapter(cls).validate_json(text if data["version"] == version else json.dumps(data),
                                                strict=True)
    except ValidationError as exc:
        raise RecordError(f"{path} is damaged ({_explained(exc)})") from exc
    absent = _absent(_encoded(record), data)
    if absent:
        raise RecordError(f"{path} is damaged (it has no {absent}, which version {current} files hold)")
    return record


def _explained(exc: ValidationError) -> str:
    """The first problem, where it is and what the file holds there."""
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "the file"
    if error["type"] == "missing":
        return f"it has no {where}"
    return f"{where} is {json.dumps(error['input'], default=str)[:80]}: {error['msg'][0].lower()}{error['msg'][1:]}"


def _absent(written: Any, raw: Any, where: str = "") -> str | None:
    """The first field a file of this version holds that `raw` lacks (a field left out
    would read as its default: a hand edit, or a writer that forgot to move the version)."""
    if isinstance(written, dict) and isinstance(raw, dict):
        for key, value in written.items():
            if key not in raw:
                return f"{where}{key}"
            found = _absent(value, raw[key], f"{where}{key}.")
            if found:
                return found
    elif isinstance(written, list) and isinstance(raw, list):
        for index, (item, got) in enumerate(zip(written, raw)):
            found = _absent(item, got, f"{where}{index}.")
            if found:
                return found
    return None


def write_record(path: Path, record: RunRecord | StepRecord | JobRecord | ProgressRecord,
                 private: bool = False, durable: bool = True) -> None:
    """Atomic and (unless not `durable`) durable: a reader, a killed driver or a machine
    crash sees the old file or the new one, never half.
    `private` files (job.json: real values, secrets included) are mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # Written with the standard library, read back through the adapter (every field
    # checked): building the adapters to write costs `runner apply` ~30 ms of start-up
    # (8%), and tests/runs/test_records.py reads every record type back after writing it.
    text = json.dumps(dataclasses.asdict(record), indent=1, default=str) + "\n"
    try:  # never through a link planted in its place: it would truncate a file outside the run
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600 if private else 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DamagedFolder(tmp, "is a link, expected a file (nothing was written through it): remove it") from exc
        raise
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        if durable:  # else a machine crash can leave an empty file behind the rename
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)
