"""The local engine: run a job's steps in a run folder, or resume one.

Per step: pre-flight checks (entry script, inputs, output folder), streaming partition to
minibatches.jsonl, reuse of an identical earlier step (allow_reuse), the supervisor's
loop, then reports. Ctrl-C (or SIGTERM) stops workers and leaves a resumable run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from runner.errors import RunnerError, explained, file_system_error, remedy
from runner.inputs.listing import InputError
from runner.local import job as jobs
from runner.local.driver import headstart, report_writer
from runner.local.driver import snapshot as snapshots
from runner.local.driver.checks import PreflightError, hide_secrets, thresholds, within
from runner.local.driver.stop import Stop
from runner.local.driver.supervisor import Supervisor, Task
from runner.local.output.ledger import Ledger
from runner.local.output.reports import OutputError, finish_parquet, staged_output, write_reports
from runner.local.partition.descriptors import DescriptorError, encode, task_fields
from runner.local.partition.identity import shown
from runner.local.partition.sources import Partitioner
from runner.local.progress.tracker import Progress
from runner.local.reuse import incremental
from runner.local.reuse.commit import commit_reused
from runner.local.reuse.fingerprint import find_reusable, fingerprint, link_outputs, parts
from runner.local.reuse.items import Matching
from runner.local.transport.base import Transports
from runner.local.transport.processes import local_processes
from runner.plan.plan import StepPlan
from runner.runs.display import counted, reuse_text
from runner.runs.folder import RunFolder, StepFolder, list_runs, no_links
from runner.runs.inspect import take_lock
from runner.runs.outcome import RunError, RunResult, StepResult
from runner.runs.records import JobRecord, RecordError, StepRecord, StepSummary
from runner.runs.status import Status

class RunBusy(RunError):
    """Another driver holds the run (exit 2)."""


def execute(run: RunFolder, runs_root: Path, stream: IO[str] | None = None,
            prepare: Callable[[], None] | None = None, written: JobRecord | None = None,
            transports: Transports = local_processes) -> RunResult:
    """Run (or resume) every step of the run folder's job.json, in order. One driver at a
    time: the run folder's lock is held until the run ends (the OS drops it if we die).
    `prepare` changes the run's records first, under the lock (`runner retry`). `written`: the
    job.json a new run just wrote (not read back: decoding it checked costs ~15 ms).
    `transports`: each step's worker transport (the ray target's: Ray actors)."""
    try:
        lock = open(run.lock, "a", opener=no_links)  # noqa: SIM115 - held for the whole run
    except OSError as exc:  # nothing ran, nothing changed
        raise file_system_error(exc) from exc
    if not take_lock(lock):
        lock.close()
        raise RunBusy(f"run {run.id} is being run by another driver")
    try:
        if prepare is not None:
            prepare()
        result = _execute(run, runs_root, stream or sys.stderr, written, transports)
    finally:
        lock.close()
    report_writer.start(run, run.step(result.steps[-1].name) if result.steps else None)
    return result


def _execute(run: RunFolder, runs_root: Path, stream: IO[str], written: JobRecord | None,
             transports: Transports) -> RunResult:
    steps = (written or run.job()).steps
    for job in steps:  # a damaged record stops the run here, before it is marked running
        run.step(job.name).read()
    before = run.read()
    resumed = before.resumed + (before.status != Status.CREATED)
    results: list[StepResult] = []
    try:
        run.update(status=Status.RUNNING, driver_pid=os.getpid(), resumed=resumed, finished=None, reason="")
        snapshots.take_all(run, steps, [str(runs_root)])
    except OSError as exc:  # `runner resume` while the disk is still full, a read-only run folder...
        step = next((job.name for job in steps if not run.step(job.name).read().status.ok), steps[0].name)
        return _ended(run, Status.ERROR, [StepResult(step, Status.ERROR, _cannot_write(run, exc))])
    fingerprints: dict[str, str] = {}
    status = Status.SUCCEEDED
    with Stop(lambda: run.cancel_requested(os.getpid(), consume=False)) as stop:
        for job in steps:
            try:
                result = _run_step_safely(run, job, runs_root, fingerprints, stop, stream, transports)
            except RunnerError as exc:  # a damaged run folder: recorded, then said with its own exit code
                _ended(run, Status.ERROR, [*results, StepResult(job.name, Status.ERROR, str(exc))])
                raise
            if result.status in (Status.INTERRUPTED, Status.CANCELED) and run.cancel_requested(os.getpid()):
                result = dataclasses.replace(result, status=Status.CANCELED, reason="by `runner cancel`")
            results.append(result)
            if not result.status.ok:
                status = result.status
                break
            with contextlib.suppress(OSError):
                run.step(job.name).update(status=result.status, reason=result.reason, reused_from=result.reused_from)
    if status == Status.SUCCEEDED and results and all(r.status == Status.REUSED for r in results):
        status = Status.REUSED
    return _ended(run, status, results)


def _ended(run: RunFolder, status: Status, results: list[StepResult]) -> RunResult:
    """The run's end in its records: the last step's, then run.json. Where the file system
    refuses these too (a full disk, a read-only mount), the run shows as interrupted and
    resumes all the same."""
    run_result = RunResult(run, status, results)
    last = results[-1] if results else None
    with contextlib.suppress(OSError, RunnerError):
        if last is not None and not last.status.ok:
            run.step(last.name).update(status=last.status, reason=last.reason, reused_from=last.reused_from)
    with contextlib.suppress(OSError, RunnerError):
        run.update(status=status, finished=time.time(), driver_peak_rss_mb=_peak_rss_mb(), reason=run_result.reason,
                   steps={r.name: StepSummary(r.status, r.output, r.reused_from) for r in results})
    return run_result


def _run_step_safely(run: RunFolder, job: StepPlan, runs_root: Path, fingerprints: dict[str, str], stop: Stop,
                     stream: IO[str], transports: Transports) -> StepResult:
    """A step's result, whatever stopped it: a failed pre-flight, a second Ctrl-C, a write
    the file system refused (a full disk, a read-only mount, too many open files...)."""
    try:
        return _run_step(run, job, runs_root, fingerprints, stop, stream, transports)
    except PreflightError as exc:
        return StepResult(job.name, Status.PREFLIGHT, str(exc))
    except KeyboardInterrupt:  # a second Ctrl-C: workers are already stopped
        return StepResult(job.name, Status.INTERRUPTED, "interrupted (Ctrl-C twice)")
    except OSError as exc:
        return StepResult(job.name, Status.ERROR, _cannot_write(run, exc))


def _cannot_write(run: RunFolder, exc: OSError) -> str:
    """An OSError as the step's reason: the path, the cause and the way on."""
    return f"{explained(exc)}. What was committed is kept: {remedy(exc)}, then `runner resume {run.id}` goes on " \
           "from there"


def _peak_rss_mb() -> float:
    """The driver's own peak RSS. ru_maxrss would also count the parent's memory copied at
    fork (Linux keeps it across exec); VmHWM belongs to this program alone."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _run_step(run: RunFolder, job: StepPlan, runs_root: Path, fingerprints: dict[str, str], stop: Stop,
              stream: IO[str], transports: Transports) -> StepResult:
    folder = run.step(job.name)
    info = folder.read()
    found = run.output_file(job)
    output = str(found) if found else None
    if info.status.ok:  # resuming a later step
        fingerprints[job.name] = info.fingerprint
        return StepResult(job.name, info.status, output=output, reused_from=info.reused_from)
    _, info = snapshots.checked(job, folder, output, [str(runs_root)])  # pre-flight, on the code that runs
    # Workers start importing the script and calling init() while the inputs are listed.
    workers = headstart.ahead(job, folder, run, output, transports, runs_root, fingerprints, info)
    try:
        return _plan_and_run(run, job, runs_root, fingerprints, stop, stream, info, output, workers)
    finally:
        workers.close()  # what the supervisor did not take


def _plan_and_run(run: RunFolder, job: StepPlan, runs_root: Path, fingerprints: dict[str, str], stop: Stop,
                  stream: IO[str], info: StepRecord, output: str | None, workers: headstart.Workers) -> StepResult:
    folder = run.step(job.name)
    if not info.partitioned:
        matching = incremental.earlier_items(run, job, runs_root, fingerprints, info) if job.incremental else None
        info = _partition(job, folder, stream, matching)
    if not info.fingerprint:  # once, from the snapshot: a resumed step runs, and is reused as, the same code
        code = info.retried[-1].snapshot if info.code else info.snapshot  # the code this attempt runs
        info = folder.update(fingerprint=fingerprint(job, info.listing, fingerprints, code),
                             parts=parts(job, fingerprints, code, info.parts.get("inputs", "")))
    fingerprints[job.name] = info.fingerprint
    if job.allow_reuse and not info.started:
        earlier = find_reusable(list_runs(runs_root), job.name, fingerprints[job.name], exclude=run.id)
        if earlier is not None:
            link_outputs(earlier.step(job.name).outputs, folder.outputs)
            origin = earlier.step(job.name).read().reused_from or earlier.id  # the run that ran it
            return StepResult(job.name, Status.REUSED, output=output, reused_from=origin)
    info = folder.update(started=info.started or time.time(), status=Status.RUNNING, reason="")
    return _supervise(job, folder, output, info, stop, stream, runs_root, workers)


def _supervise(job: StepPlan, folder: StepFolder, output: str | None, info: StepRecord, stop: Stop,
               stream: IO[str], runs_root: Path, workers: headstart.Workers) -> StepResult:
    total = info.mini_batches or 0
    _check_minibatches(folder, total)
    ledger = Ledger(folder.ledger, staged_output(output, job.row_format) if output else None, total, info.attempt)
    log = _driver_log(folder)
    _say_what_runs(job.name, info.attempt, ledger, total, log, stream)
    _copy_reused(job, folder, ledger, info, runs_root)
    # What the ledger already holds counts: every mini-batch committed, or a threshold
    # already exceeded before the driver stopped (the supervisor checks only new failures).
    tripped = thresholds(job, total)(ledger) if ledger.recovered else None
    if ledger.recovered >= total or tripped:
        return _nothing_left(job, folder, output, ledger, tripped)
    # A table's rows are known when every range was counted at planning (not for Parquet,
    # partitions or files read whole): then progress shows "of N" rows too.
    progress = Progress(folder, job.name, total, info.items if job.kind == "file" or info.items else None, stream)
    transport = workers.transport
    if workers.devices is not None and workers.devices.ids:
        log(workers.devices.summary())
    # No more workers than mini-batches left: a process that would get no work costs
    # its start-up (interpreter, imports, init()) and a core while the others start.
    count = min(jobs.workers(job), total - ledger.recovered)
    supervisor = Supervisor(
        workers=count, per_node=workers.per_node, tasks=_tasks(folder, ledger, job.kind),
        ledger=ledger, run_max_try=job.run_max_try, timeout=float(job.run_invocation_timeout),
        thresholds=thresholds(job, total), worker_config=workers.config, worker_env=workers.env, log=log,
        interrupted=lambda: stop.requested, tick=progress.tick, event=_events(folder), transport=transport,
        prestarted=workers.take(count))
    try:
        outcome = supervisor.run()
    except BaseException:
        supervisor.stop_all(graceful=False)
        # Keep what is committed; a write that fails again here (a full disk) changes nothing:
        # rows past the last ledger line are cut on resume.
        with contextlib.suppress(OSError):
            ledger.close()
        with contextlib.suppress(OSError):
            progress.close(supervisor, Status.INTERRUPTED)
        raise
    ledger.close()
    if outcome.status == "preflight":
        progress.close(supervisor, Status.FAILED)
        raise PreflightError(outcome.reason)
    status = Status(outcome.status)
    reason = outcome.reason or within(job, ledger, folder.failed_items)
    problem = _finish_output(job, folder, output, ledger) if status != Status.INTERRUPTED else None
    if problem:
        status, reason = Status.FAILED, problem
    if status == Status.INTERRUPTED and stop.canceled():  # the driver log says what the run records
        status, reason = Status.CANCELED, "by `runner cancel`"
    snap = progress.close(supervisor, status)
    not_run = write_reports(folder, stopped=status == Status.FAILED)
    if not_run:
        reason += _never_ran(not_run)
    log(f"step {status}: {reason}" if reason else f"step {status}")
    return StepResult(job.name, status, reason, snap, output)


def _nothing_left(job: StepPlan, folder: StepFolder, output: str | None, ledger: Ledger,
                  tripped: str | None) -> StepResult:
    """A resumed step whose ledger already holds every mini-batch, or a tripped threshold."""
    ledger.close()
    # A driver killed after the last commit, or a full disk, may have left no Parquet file yet.
    problem = _finish_output(job, folder, output, ledger)
    not_run = write_reports(folder, stopped=tripped is not None)
    if tripped and not_run:
        tripped += _never_ran(not_run)
    reason = problem or tripped or within(job, ledger, folder.failed_items)
    return StepResult(job.name, Status.FAILED if tripped or problem else Status.SUCCEEDED, reason, output=output)


def _copy_reused(job: StepPlan, folder: StepFolder, ledger: Ledger, info: StepRecord, runs_root: Path) -> None:
    """An incremental step's reused rows, committed before any worker starts (counted as
    recovered: nothing runs for them)."""
    if info.item_reuse is None or info.item_reuse.run is None:
        return
    try:
        ledger.recovered += commit_reused(folder, ledger, runs_root, job)
    except BaseException:
        with contextlib.suppress(OSError):
            ledger.close()
        raise


def _say_what_runs(step: str, attempt: int, ledger: Ledger, total: int, log: Callable[[str], None],
                   stream: IO[str]) -> None:
    """A retry's (`runner retry`) or a resume's start, in the driver log and to the user."""
    if ledger.reopened or attempt and ledger.recovered < total:
        message = (f"retry {attempt}: {counted(ledger.reopened, 'failed mini-batch', 'failed mini-batches')} run again, "
                   f"{total - ledger.recovered - ledger.reopened} never ran; {ledger.recovered} of {total} stay")
        log(message)
        print(f"{step}: {message}", file=stream)
    elif ledger.recovered:
        log(f"resuming: {ledger.recovered} of {total} mini-batches were already committed")
        print(f"{step}: resuming, {ledger.recovered} of {total} mini-batches already done", file=stream)


def _never_ran(count: int) -> str:
    return (f"\n{count} mini-batches never ran; failed_items.jsonl lists them with the failed ones: "
            "`runner retry` runs both into this run's output (a dataset with `manifest: true` over it, in a new run)")


def _finish_output(job: StepPlan, folder: StepFolder, output: str | None, ledger: Ledger) -> str | None:
    """Parquet is written whole once every mini-batch is committed, and again by each
    resume that finds them so (finishing is idempotent). Returns why it cannot be, or
    why the output is not what the ledger committed."""
    changed = ledger.output_problem()
    if changed:
        return changed
    if output is None or job.row_format != "parquet" or ledger.totals.mini_batches.left:
        return None
    try:
        finish_parquet(output, folder.ledger)
    except OutputError as exc:
        return str(exc)
    return None


def _check_minibatches(folder: StepFolder, total: int) -> None:
    """The descriptors the ledger's ids refer to, whole (checked on resume: a first run
    has just written them)."""
    if not os.path.exists(folder.minibatches):
        raise RecordError(f"{folder.minibatches} is missing: the run folder is damaged, and its ledger's "
                          "mini-batch ids refer to that file. Apply the spec again for a new run")
    if os.path.exists(folder.ledger):
        with open(folder.minibatches, "rb", opener=no_links) as handle:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        if lines != total:
            raise RecordError(f"{folder.minibatches} has {lines} mini-batches where {folder.step_json} says "
                              f"{total}: the run folder is damaged. Apply the spec again for a new run")


def _tasks(folder: StepFolder, ledger: Ledger, kind: str) -> Iterator[Task]:
    offset, total = 0, len(ledger.state)
    with open(folder.minibatches, "rb", opener=no_links) as handle:
        for number, line in enumerate(handle, 1):
            try:
                mb, files = task_fields(line, kind)
            except DescriptorError as exc:
                raise RecordError(f"{folder.minibatches} line {number}: {exc}; the run folder is damaged. "
                                  "Apply the spec again for a new run") from exc
            if not 0 <= mb < total:
                raise RecordError(f"{folder.minibatches} line {number}: mini-batch id {mb} is not one of this "
                                  f"step's 0 to {total - 1}; the run folder is damaged. Apply the spec again")
            if not ledger.done(mb):
                yield Task(mb, offset, files)
            offset += len(line)


def _partition(job: StepPlan, folder: StepFolder, stream: IO[str], matching: Matching | None = None) -> StepRecord:
    hashed = {i for i, item in enumerate(job.inputs) if item.step is None}  # another step's output: not hashed
    partitioner = Partitioner(job.mini_batch_size or 0, job.partition_keys, hashed, identities=job.incremental,
                              reused=incremental.reuse_hook(matching, job) if matching and job.kind != "file" else None)
    tmp = folder.minibatches.with_name(folder.minibatches.name + ".tmp")
    started = time.monotonic()
    try:
        with open(tmp, "w", encoding="utf-8", opener=no_links) as out:
            if matching is not None:
                count, items = incremental.write(job, partitioner, matching, out, folder.path)
            else:
                for descriptor in partitioner.descriptors(job.inputs):
                    out.write(encode(descriptor))
                count, items = partitioner.count, partitioner.items
    except InputError as exc:
        raise PreflightError(hide_secrets(str(exc), job)) from exc
    os.replace(tmp, folder.minibatches)
    if partitioner.skipped:
        _skipped_warning(job.name, partitioner.skipped, folder, stream)
    items = items if job.kind == "file" or (partitioner.rows_known and matching is None) else 0
    info = folder.update(mini_batches=count, items=items, files=partitioner.files,
                         listing=partitioner.digest.hexdigest(),
                         parts={"inputs": partitioner.files_digest.hexdigest()},
                         partition_seconds=round(time.monotonic() - started, 3),
                         **({"item_reuse": matching.reuse} if matching is not None else {}))
    if info.item_reuse is not None:  # what `runner plan` said it would do, as the driver found it
        message = f"{job.name}: {reuse_text(info.item_reuse)}"
        _driver_log(folder)(message)
        print(message, file=stream)
    return info


def _skipped_warning(step: str, skipped: list[str], folder: StepFolder, stream: IO[str]) -> None:
    """Devices, FIFOs and sockets in an input folder are never read (one could never end,
    or block forever): say which, so a missing input is not a mystery."""
    more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    names = ", ".join(shown(path) for path in skipped[:5]) + more
    message = f"warning: {step}: skipped {len(skipped)} inputs that are not regular files: {names}"
    _driver_log(folder)(message)
    print(message, file=stream)


def _events(folder: StepFolder) -> Callable[[dict[str, object]], None]:
    """The supervisor's rare events into the step's events file; one the disk refuses is
    lost, and the run goes on (the report shows less)."""
    def event(fields: dict[str, object]) -> None:
        with contextlib.suppress(OSError):
            folder.log_event(fields)
    return event


def _driver_log(folder: StepFolder) -> Callable[[str], None]:
    def log(message: str) -> None:
        folder.log_driver([message])

    return log
