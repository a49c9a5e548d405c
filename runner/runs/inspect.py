"""Reading runs back, whatever their target: find one, list them, a run's status with
its steps, a step's output rows, its log files. Nothing here writes."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from runner.plan.plan import StepPlan
from runner.runs.folder import Ambiguous, RunFolder, StepFolder, find_run, list_runs, pid_alive
from runner.runs.outcome import Results, RunError
from runner.runs.records import (ItemCounts, JobRecord, MiniBatchCounts, ProgressRecord, RecordError, RunRecord,
                                 read_record)
from runner.runs.status import Status


def find(run: str, root: Path) -> RunFolder:
    try:
        found = find_run(root, run)
    except Ambiguous as exc:
        raise RunError(f"'{run}' could be any of: {', '.join(exc.args[0])}; give more of the id") from exc
    if found is None:
        if run in ("latest", "last"):
            raise RunError(f"no runs yet under {root}")
        raise RunError(f"no run named '{run}' under {root} (`runner runs` lists them)")
    return found


def read(folder: RunFolder) -> RunRecord:
    """run.json, with a run whose driver is gone before it ended (created, submitting or
    running) shown as interrupted."""
    try:
        record = folder.read()
    except RecordError as exc:
        raise RunError(str(exc)) from exc
    if not record.status.finished and not pid_alive(record.driver_pid):
        record.status = Status.INTERRUPTED
        record.reason = "the driver stopped without finishing (killed?); `runner resume` continues it"
    return record


def job(folder: RunFolder, step: str | None = None) -> JobRecord:
    """job.json; a step named but not in it is an error."""
    try:
        record = folder.job()
    except RecordError as exc:
        raise RunError(str(exc)) from exc
    if step is not None and record.step(step) is None:
        raise RunError(f"run {folder.id} has no step '{step}' (its steps: "
                       f"{', '.join(s.name for s in record.steps)})")
    return record


def list_all(root: Path) -> list[RunRecord]:
    """Every run, oldest first, with its status (one that cannot be read: error, and why)."""
    records = []
    for run in list_runs(root):
        try:
            records.append(read(run))
        except RunError as exc:
            records.append(RunRecord(id=run.id, name="", spec="", status=Status.ERROR, reason=str(exc)))
    return records


def status(folder: RunFolder,
           progress_of: Callable[[StepFolder, ProgressRecord], None] | None = None) -> dict[str, Any]:
    """run.json with each step's record (and progress, where the step has one).
    `progress_of(step_folder, progress)` may bring a stopped step's numbers up to date."""
    record = read(folder)
    info = dataclasses.asdict(record)
    steps = []
    for plan in job(folder).steps:
        step = folder.step(plan.name)
        try:
            entry = dataclasses.asdict(step.read())
        except RecordError as exc:
            raise RunError(str(exc)) from exc
        if os.path.exists(step.progress):
            try:
                progress = read_record(Path(step.progress), ProgressRecord)
            except RecordError:  # not fsynced (rewritten every second): rebuilt from the step's own
                progress = ProgressRecord(plan.name, Status(entry["status"]),
                                          MiniBatchCounts(total=entry["mini_batches"] or 0),
                                          ItemCounts(total=entry["items"]))
            if record.status != Status.RUNNING and progress_of is not None:
                progress_of(step, progress)  # newer than a killed driver's last write
            entry["progress"] = dataclasses.asdict(progress)
        if entry["status"] == Status.RUNNING and record.status == Status.INTERRUPTED:
            entry["status"] = Status.INTERRUPTED
        steps.append(entry)
    info["steps"] = steps
    return info


class InputOrder(Protocol):
    """Rows in input order, from what an engine recorded of where each mini-batch's rows
    lie (the local engine: runner/local/input_order.py, over its ledger)."""

    def text_head(self, path: Path, ledger: str, head: int, is_csv: bool) -> list[str]: ...

    def parquet_rows(self, frame: Any, ledger: str, head: int) -> Any: ...


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
                       f"so its entry script wrote its own files, under {folder.path / named[-1].name / 'outputs'}")
    chosen = candidates[-1]
    if in_input_order and order is None:
        raise RunError(f"rows of run {folder.id} cannot be put in input order: only local runs keep a ledger "
                       "(Azure ML writes rows as mini-batches finish)")
    path = output_file(folder, chosen)
    assert path is not None
    if not path.exists():
        try:
            info = folder.step(chosen.name).read()
        except RecordError as exc:
            raise RunError(str(exc)) from exc
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


def _ledger(folder: RunFolder, step: str) -> str:
    """The ledger that says where a step's rows came from: its own, or that of the run
    whose output it reuses (allow_reuse links that run's output)."""
    try:
        origin = folder.step(step).read().reused_from
    except RecordError as exc:
        raise RunError(str(exc)) from exc
    return (RunFolder(folder.path.parent / origin) if origin else folder).step(step).ledger


def output_file(folder: RunFolder, step: StepPlan) -> Path | None:
    """Where a step's append_row file is kept, whatever the target."""
    if step.output is None or step.append_row_file is None:
        return None
    return folder.output_dir(step.name, step.output) / step.append_row_file


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


def log_files(folder: RunFolder, worker: int | None, system: bool, step: str | None) -> Iterator[tuple[str, str]]:
    """(path, text) of a run's logs kept in its folder: each worker's user logs, or the
    driver's (system)."""
    for path in log_paths(folder, worker, system, step):
        yield str(path), path.read_text(encoding="utf-8", errors="replace")


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
        base = folder.path / name / "logs"
        for path in sorted(base.glob("sys/*.log" if system else "user/**/*")):
            if not path.is_file():
                continue
            if worker is not None and not _is_worker(path, worker, per_node[name]):
                continue
            yield path


def _is_worker(path: Path, worker: int, per_node: int) -> bool:
    return path.parent.name == f"node{worker // per_node}" and path.name.startswith(f"process{worker % per_node:03d}")
