"""Reading runs back, whatever their target: find one, list them, a run's status with
its steps, a step's output rows, its log files. Nothing here writes."""

from __future__ import annotations

import csv
import fcntl
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from runner.runs.folder import (LATEST, Ambiguous, RunFolder, StepFolder, find_run, is_worker_log, list_runs, no_links,
                                pid_alive)
from runner.runs.outcome import Results, RunError
from runner.runs.records import (ItemCounts, JobRecord, MiniBatchCounts, ProgressRecord, RecordError, RunRecord,
                                 StepRecord, read_record)
from runner.runs.status import Status

if TYPE_CHECKING:  # built by the functions that return them: `runner apply` never pays for the views (~10 ms)
    from runner.runs.views import CodeVersion, LogChunk, RunSummary, RunView, ServiceState, StepView


def find(run: str, root: Path) -> RunFolder:
    try:
        found = find_run(root, run)
    except Ambiguous as exc:
        raise RunError(f"'{run}' could be any of: {', '.join(exc.args[0])}; give more of the id") from exc
    if found is None:
        if run in LATEST:
            raise RunError(f"no runs yet under {root}")
        raise RunError(f"no run named '{run}' under {root} (`runner runs` lists them)")
    return found


def read(folder: RunFolder) -> RunRecord:
    """run.json, with a run whose driver is gone before it ended (created, submitting or
    running) shown as interrupted."""
    record = folder.read()  # a RecordError is a RunError
    if not record.status.finished and not driver_alive(folder, record.driver_pid):
        record.status = Status.INTERRUPTED
        record.reason = "the driver stopped without finishing (killed?); `runner resume` continues it"
    return record


def driver_alive(folder: RunFolder, pid: int | None) -> bool:
    """Whether the run's driver is alive: a local driver holds the run's lock while it
    runs (the OS drops it when the driver dies, whereas its pid may be reused by another
    process); a run no local driver ever locked (an Azure run, followed by a process
    that holds no lock) is told by its pid."""
    if not pid_alive(pid):
        return False
    held = lock_held(folder)
    return True if held is None else held


# `lock_held` takes the lock for a few microseconds; a driver starting at that instant
# waits this long rather than taking the asker for another driver (a real one holds the
# lock for its whole run).
LOCK_GRACE = 0.5


def take_lock(handle: IO[str]) -> bool:
    """The run's lock, for a driver: False where another driver holds it."""
    deadline = time.monotonic() + LOCK_GRACE
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)


def lock_held(folder: RunFolder) -> bool | None:
    """Whether a driver holds the run's lock now; None where no local driver ever ran it
    (no lock file) or it cannot be told."""
    try:
        handle = open(folder.lock, "rb", opener=no_links)  # noqa: SIM115 - read only: asking creates no file
    except (OSError, RecordError):  # none; a link or a folder in its place (DamagedFolder)
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)  # let go as the file closes
        except BlockingIOError:
            return True
        except OSError:
            return None
    return False


def job(folder: RunFolder, step: str | None = None) -> JobRecord:
    """job.json; a step named but not in it is an error."""
    record = folder.job()
    if step is not None and record.step(step) is None:
        raise RunError(f"run {folder.id} has no step '{step}' (its steps: "
                       f"{', '.join(s.name for s in record.steps)})")
    return record


def list_all(root: Path) -> list[RunSummary]:
    """Every run, oldest first, with its status (one that cannot be read: error, and why)."""
    records = []
    for run in list_runs(root):
        try:
            records.append(read(run))
        except RunError as exc:
            records.append(RunRecord(id=run.id, name="", spec="", status=Status.ERROR, reason=str(exc)))
    from runner.runs.views import RunSummary

    return [RunSummary.of(record, _failed_items(RunFolder(root / record.id), record)) for record in records]


def _failed_items(folder: RunFolder, record: RunRecord) -> int:
    """Items that failed in the run's steps, as their progress.json last said."""
    failed = 0
    for name in record.steps:
        try:
            failed += read_record(folder.step(name).progress, ProgressRecord).items.failed
        except RecordError:
            continue  # not started, or damaged: nothing to count
    return failed


# Brings a stopped step's numbers up to date (a killed driver's last write is older than
# its ledger): the local engine reads its ledger; None leaves progress.json as it is.
ProgressOf = Callable[[StepFolder, ProgressRecord], None]
# The code versions a step ran (a target that retries with new code); None: none kept.
CodeVersionsOf = Callable[[StepFolder, StepRecord], "tuple[CodeVersion, ...]"]


def status(folder: RunFolder, progress_of: ProgressOf | None = None, code_versions_of: CodeVersionsOf | None = None,
           service: ServiceState | None = None) -> RunView:
    """The run with each step's record (and progress, where the step has one), as a
    backend knows them: `progress_of` and `code_versions_of` add what its own files hold,
    `service` what its service says of the run (see ServiceState)."""
    from runner.runs.views import RunView

    record = read(folder)
    steps = tuple(_step(folder, plan.name, record.status, progress_of, code_versions_of)
                  for plan in job(folder).steps)
    return RunView.of(record, steps, service)


def _step(folder: RunFolder, name: str, run_status: Status, progress_of: ProgressOf | None,
          code_versions_of: CodeVersionsOf | None) -> StepView:
    from runner.runs.views import ProgressView, StepView

    step = folder.step(name)
    record = step.read()
    progress = None
    if step.progress.exists():
        try:
            read_progress = read_record(step.progress, ProgressRecord)
        except RecordError:  # not fsynced (rewritten every second): rebuilt from the step's own
            read_progress = ProgressRecord(name, record.status, MiniBatchCounts(total=record.mini_batches or 0),
                                           ItemCounts(total=record.items))
        if run_status != Status.RUNNING and progress_of is not None:
            progress_of(step, read_progress)  # newer than a killed driver's last write
        progress = ProgressView.of(read_progress)
    status = Status.INTERRUPTED if record.status == Status.RUNNING and run_status == Status.INTERRUPTED else \
        record.status
    versions = code_versions_of(step, record) if code_versions_of is not None else ()
    return StepView.of(record, status, progress, versions)


class InputOrder(Protocol):
    """Rows in input order, from what an engine recorded of where each mini-batch's rows
    lie (the local engine: runner/local/output/input_order.py, over its ledger)."""

    def text_head(self, path: Path, ledger: Path, head: int, is_csv: bool) -> list[str]: ...

    def parquet_rows(self, frame: Any, ledger: Path, head: int) -> Any: ...


def results(folder: RunFolder, head: int = 10, step: str | None = None, in_input_order: bool = False,
            order: InputOrder | None = None) -> Results:
    """The output rows of a step (the last step with an append_row output by default):
    how many, and the first `head` as committed or, `in_input_order`, by input (through
    `order`: an engine that keeps no record of it has none)."""
    plans = job(folder, step).steps
    candidates = [s for s in plans if s.append_row_file and s.output and step in (None, s.name)]
    if not candidates:
        named = [s for s in plans if step in (None, s.name)]
        raise RunError(f"run {folder.id} has no append_row output: step '{named[-1].name}' is summary_only, "
                       f"so its entry script wrote its own files, under {folder.step(named[-1].name).outputs}")
    chosen = candidates[-1]
    if in_input_order and order is None:
        raise RunError(f"rows of run {folder.id} cannot be put in input order: only local runs keep a ledger "
                       "(Azure ML writes rows as mini-batches finish)")
    path = folder.output_file(chosen)
    if path is None:  # chosen for its append_row output
        raise RunError(f"step '{chosen.name}' has no append_row output")
    if not path.exists():
        info = folder.step(chosen.name).read()
        if info.status == Status.PREFLIGHT:
            raise RunError(f"step '{chosen.name}' failed its pre-flight checks, so it has no output: {info.reason}")
        raise RunError(f"run {folder.id} has no output yet ({path} does not exist)")
    if chosen.row_format == "parquet":
        import pandas as pd

        frame = pd.read_parquet(path)
        shown = order.parquet_rows(frame, _ledger(folder, chosen.name), head) if order and in_input_order else \
            frame.head(head)
        return Results(str(path), len(frame), shown.to_string(index=False).splitlines())
    rows, first = _count_and_head(path, head, chosen.row_format == "csv")
    if order and in_input_order:
        first = order.text_head(path, _ledger(folder, chosen.name), head, chosen.row_format == "csv")
    return Results(str(path), rows, first)


def _ledger(folder: RunFolder, step: str) -> Path:
    """The ledger that says where a step's rows came from: its own, or that of the run
    whose output it reuses (allow_reuse links that run's output)."""
    origin = folder.step(step).read().reused_from
    return (RunFolder(folder.path.parent / origin) if origin else folder).step(step).ledger


def _count_and_head(path: Path, head: int, is_csv: bool) -> tuple[int, list[str]]:
    """Rows and the first few as text (CSV records may span lines: count records)."""
    rows, first = 0, list[str]()
    with open(path, encoding="utf-8", errors="replace", newline="" if is_csv else None) as handle:
        if is_csv:
            for record in csv.reader(handle):
                rows += 1
                if len(first) < head + 1:
                    line = io.StringIO()
                    csv.writer(line, lineterminator="").writerow(record)
                    first.append(line.getvalue())
            return max(0, rows - 1), first
        for text in handle:
            rows += 1
            if len(first) < head:
                first.append(text.rstrip("\n"))
    return rows, first


def log_files(folder: RunFolder, worker: int | None, system: bool, step: str | None) -> Iterator[LogChunk]:
    """The text of a run's logs kept in its folder: each worker's user logs, or the
    driver's (system)."""
    from runner.runs import views

    for path in log_paths(folder, worker, system, step):
        yield views.LogChunk(str(path), path.read_text(encoding="utf-8", errors="replace"))


def log_paths(folder: RunFolder, worker: int | None, system: bool, step: str | None) -> Iterator[Path]:
    """The log files `log_files` reads, as they are now (`logs -f` asks again as they appear)."""
    plans = {s.name: s for s in job(folder, step).steps}
    per_node = {name: s.process_count_per_node or 1 for name, s in plans.items()}
    workers = max(s.node_count * per_node[s.name] for s in plans.values())
    if worker is not None and worker >= workers:
        raise RunError(f"run {folder.id} has workers 0 to {workers - 1}")
    for name in plans:
        if step not in (None, name):
            continue
        logs = folder.step(name)
        for path in sorted(logs.sys_logs.glob("*.log") if system else logs.user_logs.glob("**/*")):
            if not path.is_file():
                continue
            if worker is not None and not is_worker_log(path, *divmod(worker, per_node[name])):
                continue
            yield path
