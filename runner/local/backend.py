"""LocalBackend: the embedded engine behind the Backend protocol (`runner.runs.backend`)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

from runner.local import retry as retries
from runner.local.driver.engine import execute
from runner.local.transport.base import Transports
from runner.local.transport.processes import local_processes
from runner.local.job import executable_steps
from runner.local.output import input_order
from runner.local.output.ledger_line import Totals, current_lines
from runner.inputs.listing import glob_root, is_glob
from runner.local.partition.descriptors import DescriptorError, decode, files_of, task_fields
from runner.local.partition.identity import changed_inputs, shown
from runner.plan.plan import Plan
from runner.render import plan_json, plan_text
from runner.runs import follow, inspect
from runner.runs.folder import RunFolder, StepFolder, new_run, no_links, pid_alive
from runner.runs.outcome import ApplyOptions, Compiled, Results, RunError, RunResult
from runner.runs.records import JobRecord, ProgressRecord, RecordError, RunRecord, StepRecord
from runner.runs.status import Status

if TYPE_CHECKING:  # the views cost apply ~10 ms to import; only status and logs build them
    from runner.runs.views import CodeVersion, LogChunk, RunView

CANCEL_WAIT = 30.0  # seconds `runner cancel` waits to say the run stopped
START_WAIT = 5.0  # seconds it waits for a starting driver to record itself, to stop it


class LocalBackend:
    target = "local"
    processes_per_node: int | None = os.cpu_count() or 1  # Azure's default: one per core

    def transports(self, job: JobRecord) -> Transports:
        """Each step's worker transport: processes on this machine (RayBackend: actors)."""
        return local_processes

    def compile(self, plan: Plan, base_dir: str = ".", reveal: bool = False) -> Compiled | None:
        return None  # the plan is what runs

    def stage(self, compiled: Compiled) -> None:
        return None  # nothing is compiled

    def reuse(self, plan: Plan, root: Path) -> dict[str, str]:
        from runner.local.reuse.explain import decisions

        return decisions(plan, root)

    def apply(self, plan: Plan, root: Path, stream: IO[str] | None,
              options: ApplyOptions | None = None) -> RunResult:
        options = options or ApplyOptions()
        plan = plan if options.reuse else plan.without_reuse()  # job.json keeps it: a resume reuses nothing either
        run = new_run(root, plan.name)
        job = JobRecord(self.target, executable_steps(plan, run), ray=plan.ray)
        run.write_job(job)
        run.plan_text.write_text(plan_text(plan), encoding="utf-8")
        run.plan_json.write_text(plan_json(plan), encoding="utf-8")
        run.write(RunRecord.start(run.id, plan, Status.CREATED))
        if options.started is not None:
            options.started(run)
        return execute(run, root, stream, written=job, transports=self.transports(job))

    def resume(self, run: RunFolder, root: Path, stream: IO[str] | None,
               accept_changed_inputs: bool = False) -> RunResult:
        info = inspect.read(run)
        if info.status == Status.RUNNING and pid_alive(info.driver_pid) and info.driver_pid != os.getpid():
            raise RunError(f"run {run.id} is still running (driver pid {info.driver_pid})")
        if info.status.ok:
            raise RunError(f"run {run.id} already {info.status}; nothing to resume")
        if info.status == Status.FAILED:
            first = info.reason.split("\n")[0]
            raise RunError(f"run {run.id} failed ({first}); "
                           "resuming would count the same failures again. `runner retry` runs what failed and what "
                           "never ran into this run's output (its failed_items.jsonl lists them: a dataset with "
                           "`manifest: true` over it runs just those in a new run), or apply the spec again")
        _check_inputs(run, accept_changed_inputs, stream)
        _check_paths(run)
        # RunBusy, RecordError, DescriptorError: RunErrors (exit 2)
        return execute(run, root, stream, transports=self.transports(run.job()))

    def retry(self, run: RunFolder, root: Path, stream: IO[str] | None, update_code: bool = False,
              sets: Sequence[str] = (), set_params: Sequence[str] = (),
              accept_changed_inputs: bool = False) -> RunResult:
        """The failed and never-run mini-batches again, into the run's own output (see
        runner/local/retry.py). Nothing failed: a RunResult with no steps and a note."""
        info = inspect.read(run)
        if info.status == Status.RUNNING and pid_alive(info.driver_pid) and info.driver_pid != os.getpid():
            raise RunError(f"run {run.id} is still running (driver pid {info.driver_pid}); retry it once it ends, "
                           f"or stop it first (`runner cancel {run.id}`)")

        def prepare() -> None:
            def check(steps: list[str]) -> None:
                _check_inputs(run, accept_changed_inputs, stream, steps, "retry")
                _check_paths(run, steps)

            names = retries.prepare(run, root, update_code, sets, set_params, check=check)
            (stream or sys.stderr).write(f"run {run.id}: retrying {', '.join(names)}"
                                         + (" with the code as it is now\n" if update_code else "\n"))

        try:
            return execute(run, root, stream, prepare, transports=self.transports(run.job()))
        except retries.NothingToRetry as exc:
            return RunResult(run, info.status, [], note=str(exc))

    def status(self, run: RunFolder) -> RunView:
        return inspect.status(run, _count_from_ledger, _code_versions)

    def results(self, run: RunFolder, head: int, step: str | None, in_input_order: bool = False) -> Results:
        return inspect.results(run, head, step, in_input_order, input_order)

    def logs(self, run: RunFolder, worker: int | None, system: bool, step: str | None) -> Iterator[LogChunk]:
        return inspect.log_files(run, worker, system, step)

    def follow(self, run: RunFolder, worker: int | None, system: bool, step: str | None,
               interval: float) -> Iterator[LogChunk]:
        def paths() -> list[Path]:
            found = list(inspect.log_paths(run, None, True, step))  # the driver's
            return found if system else [*found, *inspect.log_paths(run, worker, False, step)]

        return follow.tail(paths, follow.run_ended(run), interval)

    def cancel(self, run: RunFolder) -> str:
        """Ctrl-C from another terminal: the driver stops its workers, keeps what is
        committed and records `canceled` (cancel.json names it); `runner resume` goes on."""
        info = inspect.read(run)
        if info.status != Status.RUNNING and _driver_holds(run):
            info = _started(run, START_WAIT)  # `runner resume` or `retry` starting: its driver records itself next
        if info.status != Status.RUNNING or not info.driver_pid or not _driver_holds(run):
            if _driver_holds(run):
                raise RunError(f"run {run.id} is starting (a driver holds it and has not recorded itself yet); "
                               f"`runner cancel {run.id}` again in a moment")
            raise RunError(f"run {run.id} is not running ({info.status})")
        if run.request_cancel(info.driver_pid):  # the driver records `canceled`, not `interrupted`
            try:
                os.kill(info.driver_pid, signal.SIGINT)
            except (ProcessLookupError, PermissionError) as exc:
                raise RunError(f"run {run.id}'s driver (pid {info.driver_pid}) is gone") from exc
        if _stopped(run, CANCEL_WAIT):
            return f"run {run.id} {inspect.read(run).status}; what it committed is kept: `runner resume {run.id}` " \
                   "goes on from there"
        return (f"asked run {run.id}'s driver (pid {info.driver_pid}) to stop; it is still stopping its workers. "
                f"What it commits is kept, and `runner resume {run.id}` goes on from there")


def _check_inputs(run: RunFolder, accept: bool, stream: IO[str] | None, retrying: Collection[str] = (),
                  command: str = "resume") -> None:
    """Before anything runs again: the tables of what is left must be the files the run
    planned (runner/local/partition/identity.py). Refuses, listing them; with `accept`, says so and
    goes on, and their mini-batches fail in the workers, listed in failed_items.jsonl.
    `retrying`: steps about to start their next attempt (`runner retry`)."""
    for job in run.job().steps:
        step = run.step(job.name)
        info = step.read()
        # A file dataset's lines carry no identities: reading its ledger and every
        # descriptor here would be a second pass (the engine's is next) for nothing.
        if job.kind == "file" or not info.partitioned or not os.path.exists(step.minibatches):
            continue
        done = _committed(step, info.attempt + (job.name in retrying))
        changed = changed_inputs(step.minibatches, done.__contains__)
        if not changed:
            continue
        listed = "\n  ".join(shown(path) for path in changed[:20])
        more = f"\n  ... and {len(changed) - 20} more" if len(changed) > 20 else ""
        if not accept:
            raise RunError(f"{job.name}: {len(changed)} input files changed since run {run.id} was planned:\n  "
                           f"{listed}{more}\nGoing on would mix rows of two versions of the data. Apply the spec "
                           f"again for a new run, or `runner {command} --accept-changed-inputs` to go on with the "
                           "rest: "
                           "the unfinished mini-batches of a changed table then fail, listed in failed_items.jsonl")
        (stream or sys.stderr).write(f"{job.name}: going on; the unfinished mini-batches of {len(changed)} changed "
                                     f"input files will fail:\n  {listed}{more}\n")


def _check_paths(run: RunFolder, retrying: Collection[str] = ()) -> None:
    """Every file a mini-batch still to run names lies in the input it came from:
    minibatches.jsonl is a file anyone who can write the run folder can edit, and the
    engine runs what it names. Only the lines still to run are read (a JSON parse each)."""
    for job in run.job().steps:
        step = run.step(job.name)
        info = step.read()
        if not info.partitioned or not os.path.exists(step.minibatches):
            continue
        done = _committed(step, info.attempt + (job.name in retrying))
        # A manifest names files wherever the run it lists read them; a step's output is
        # that step's to check.
        roots = [None if item.manifest or item.step or not item.location else _root(item.location)
                 for item in job.inputs]
        with open(step.minibatches, "rb", opener=no_links) as handle:
            for number, line in enumerate(handle, 1):
                try:
                    mb, _ = task_fields(line, job.kind)
                    if mb in done:
                        continue
                    descriptor = decode(line)
                except DescriptorError:
                    continue  # the engine says what is wrong with the line, where it reads it
                root = roots[descriptor.input] if 0 <= descriptor.input < len(roots) else None
                files = files_of(descriptor) or [getattr(descriptor, "path", "")]
                outside = [path for path in files if root is not None and not _within(path, root)]
                if outside:
                    raise RecordError(f"{step.minibatches} line {number}: mini-batch {mb} names {shown(outside[0])}, "
                                      f"which is not in its input {job.inputs[descriptor.input].reference} "
                                      f"({root}): the run folder was changed. Apply the spec again for a new run")


def _root(location: str) -> str:
    """The folder (or the one file) an input location's files lie in."""
    return os.path.abspath(glob_root(location) if is_glob(location) else location)


def _within(path: str, root: str) -> bool:
    path = os.path.abspath(path)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _committed(step: StepFolder, attempt: int) -> set[int]:
    """The mini-batches `attempt` of the step does not run: those committed, less those
    that failed in an earlier attempt (a retry runs them again)."""
    return {line.mb for line in current_lines(step.ledger, attempt > 0) if line.status == "ok" or line.gen >= attempt}


def _started(run: RunFolder, seconds: float) -> RunRecord:
    """run.json once the driver that holds the run records itself running (or lets go),
    or as it is after `seconds`."""
    deadline = time.monotonic() + seconds
    info = inspect.read(run)
    while info.status != Status.RUNNING and _driver_holds(run) and time.monotonic() < deadline:
        time.sleep(0.05)
        info = inspect.read(run)
    return info


def _stopped(run: RunFolder, seconds: float) -> bool:
    """Whether the driver let go of the run within `seconds` (it stops its workers first,
    which takes them at most their stop grace)."""
    deadline = time.monotonic() + seconds
    while _driver_holds(run):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _driver_holds(run: RunFolder) -> bool:
    """Whether a driver holds the run's lock now: a pid in run.json alone may have been
    reused by another process since (and SIGINT would go to it)."""
    return inspect.lock_held(run) is True


def _count_from_ledger(step: StepFolder, progress: ProgressRecord) -> None:
    """A stopped step's numbers from its ledger: newer than a killed driver's last write."""
    totals = Totals.of(current_lines(step.ledger, bool(step.read().retried)))
    progress.mini_batches = replace(totals.mini_batches, total=progress.mini_batches.total)
    progress.items = replace(totals.items, total=progress.items.total, estimate=progress.items.estimate)
    progress.rows_written = totals.rows_written


def _code_versions(step: StepFolder, record: StepRecord) -> tuple[CodeVersion, ...]:
    """Which code made how much of a retried step's output (a step never retried ran one)."""
    if not record.retried:
        return ()
    return retries.code_versions(step)
