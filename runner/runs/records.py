"""The typed records of a run folder, one type per file, each versioned.

    run.json   RunRecord    what ran, where (target), its status, times, driver, Azure ids
    job.json   JobRecord    the plan's steps with real values (mode 0600: it may hold
                            secrets), so `runner resume` runs exactly what was started
    <step>/step.json  StepRecord   a step's status, partitioning totals, fingerprint, reuse
    <step>/progress.json  ProgressRecord   the numbers `runner status` shows

Local and Azure runs write the same types. A file written by another version of runner,
or damaged, raises RecordError naming the file: never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from runner.plan.plan import REDACTED, Plan, StepPlan
from runner.plan.references import ArgumentPlan, InputPlan
from runner.runs.errors import RunError
from runner.runs.status import Status

VERSION = 1


class RecordError(RunError):
    """A record that is missing, damaged or of a version this runner cannot read (exit 2)."""


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
    version: int = VERSION

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
    # would run again (runner/local/explain.py).
    parts: dict[str, str] = field(default_factory=dict)
    partition_seconds: float | None = None
    retried: list[RetryRecord] = field(default_factory=list)  # each `runner retry`, in order
    version: int = VERSION

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
    # While running: the rates of the last RATE_WINDOW seconds (runner/local/progress.py);
    # once stopped, the average over the driver's run. Fields added later have defaults:
    # older progress.json files read as before.
    mini_batches_per_second: float = 0.0
    items_per_second: float = 0.0
    eta_seconds: float | None = None
    elapsed_seconds: float = 0.0
    updated: float = 0.0
    version: int = VERSION


@dataclass
class JobRecord:
    """What a run executes: the plan's steps, paths absolute, values real."""

    target: str
    steps: list[StepPlan]
    version: int = VERSION

    def step(self, name: str) -> StepPlan | None:
        return next((s for s in self.steps if s.name == name), None)


R = TypeVar("R", RunRecord, StepRecord, JobRecord, ProgressRecord)


# What a field of a record may hold on disk, by its annotation; a file with anything else
# is damaged (a hand edit, another tool), and says so instead of failing later.
_SHAPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
    "str | None": (str, type(None)), "int | None": (int, type(None)), "float | None": (int, float, type(None)),
    "list[str]": (list,), "list[str] | None": (list, type(None)), "dict[str, Any]": (dict,),
    "dict[str, str]": (dict,), "dict[str, StepSummary]": (dict,), "list[InputPlan]": (list,),
    "list[ArgumentPlan]": (list,), "InputPlan | None": (dict, type(None)),
}


def _check_shapes(cls: type, values: dict[str, Any]) -> None:
    for item in dataclasses.fields(cls):
        shape = _SHAPES.get(str(item.type))
        value = values.get(item.name)
        if item.name in values and shape and (not isinstance(value, shape) or
                                              isinstance(value, bool) and bool not in shape):
            raise TypeError(f"{item.name} is {type(value).__name__}, not {item.type}")


def _decode_job(data: dict[str, Any]) -> JobRecord:
    steps: list[dict[str, Any]] = data["steps"]
    for raw in steps:
        _check_shapes(StepPlan, raw)
        for item in (*raw["inputs"], *raw["side_inputs"]):
            _check_shapes(InputPlan, item)
        for arg in raw["arguments"]:
            _check_shapes(ArgumentPlan, arg)
    return JobRecord(data["target"], [StepPlan.from_dict(s) for s in steps], data["version"])


def _decode(cls: type[R], data: dict[str, Any]) -> R:
    if cls is JobRecord:
        return _decode_job(data)  # type: ignore[return-value]  # R is JobRecord here
    known = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in data.items() if k in known}
    _check_shapes(cls, values)
    if "status" in values:
        values["status"] = Status(values["status"])
    if cls is RunRecord:
        values["steps"] = {name: StepSummary(Status(s["status"]), s.get("output"), s.get("reused_from"))
                           for name, s in values.get("steps", {}).items()}
    if cls is StepRecord:
        retried = values.get("retried", [])
        for item in retried:
            _check_shapes(RetryRecord, item)
        values["retried"] = [RetryRecord(**item) for item in retried]
    if cls is ProgressRecord:
        values["mini_batches"] = MiniBatchCounts(**values.get("mini_batches", {}))
        values["items"] = ItemCounts(**values.get("items", {}))
    return cls(**values)


def read_record(path: Path, cls: type[R]) -> R:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError as exc:
        raise RecordError(f"{path} is missing") from exc
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path} cannot be read ({exc}); the run folder is damaged") from exc
    if not isinstance(data, dict) or "version" not in data:
        raise RecordError(f"{path} was written by an older runner (it has no version); "
                          "apply the spec again to make a new run")
    if data["version"] != VERSION:
        raise RecordError(f"{path} is version {data['version']} of {cls.__name__}; this runner reads "
                          f"version {VERSION}")
    try:
        return _decode(cls, data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordError(f"{path} is damaged ({type(exc).__name__}: {exc})") from exc


def write_record(path: Path, record: RunRecord | StepRecord | JobRecord | ProgressRecord,
                 private: bool = False, durable: bool = True) -> None:
    """Atomic and (unless not `durable`) durable: a reader, a killed driver or a machine
    crash sees the old file or the new one, never half.
    `private` files (job.json: real values, secrets included) are mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(dataclasses.asdict(record), indent=1, default=str) + "\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        if durable:  # else a machine crash can leave an empty file behind the rename
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)
