"""The local engine: run a job's steps in a run folder, or resume one.

Per step: pre-flight checks (entry script, inputs, output folder), streaming partition to
minibatches.jsonl, reuse of an identical earlier step (allow_reuse), the supervisor's
loop, then reports. Ctrl-C (or SIGTERM) stops workers and leaves a resumable run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import resource
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from runner.local.descriptors import encode, task_fields
from runner.local.job import StepJob, load_jobs
from runner.local.ledger import Ledger
from runner.local.progress import Progress
from runner.local.protocol import WorkerConfig
from runner.local.reports import finish_parquet, staged_output, write_reports
from runner.local.reuse import find_reusable, fingerprint, link_outputs
from runner.local.runfolder import RunFolder, StepFolder, list_runs
from runner.local.sources import InputError, Partitioner, is_glob
from runner.local.supervisor import Slot, Supervisor, Task

EXIT_CODES = {"succeeded": 0, "reused": 0, "failed": 1, "preflight": 2, "interrupted": 130, "error": 3}
# The run folder's disk is full (or a quota or file size limit is reached): the step
# stops with what it committed kept, and resumes once there is room.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class PreflightError(Exception):
    """Something to fix before any worker starts (exit 2)."""


@dataclass
class StepResult:
    name: str
    status: str  # succeeded | reused | failed | interrupted | preflight
    reason: str = ""
    progress: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
    reused_from: str | None = None


@dataclass
class RunResult:
    run: RunFolder
    status: str
    steps: list[StepResult]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 3)

    @property
    def reason(self) -> str:
        return next((s.reason for s in self.steps if s.status not in ("succeeded", "reused")), "")


class _Stop:
    """Ctrl-C and SIGTERM set a flag the loop reads, so no write is cut in half."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop waiting
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class RunBusy(Exception):
    """Another driver holds the run."""


def execute(run: RunFolder, runs_root: Path, stream: IO[str] | None = None) -> RunResult:
    """Run (or resume) every step of the run folder's job.json, in order. One driver at a
    time: the run folder's lock is held until the run ends (the OS drops it if we die)."""
    lock = open(run.file(".lock"), "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        lock.close()
        raise RunBusy(f"run {run.id} is being run by another driver") from exc
    try:
        return _execute(run, runs_root, stream or sys.stderr)
    finally:
        lock.close()


def _execute(run: RunFolder, runs_root: Path, stream: IO[str]) -> RunResult:
    jobs = load_jobs(run.file("job.json"))
    before = run.read()
    resumed = before.get("resumed", 0) + (before.get("status") not in (None, "created"))
    run.update(status="running", driver_pid=os.getpid(), resumed=resumed, finished=None, reason="")
    results: list[StepResult] = []
    fingerprints: dict[str, str] = {}
    status = "succeeded"
    with _Stop() as stop:
        for job in jobs:
            try:
                result = _run_step(run, job, runs_root, fingerprints, stop, stream)
            except PreflightError as exc:
                result = StepResult(job.name, "preflight", str(exc))
            except KeyboardInterrupt:  # a second Ctrl-C: workers are already stopped
                result = StepResult(job.name, "interrupted", "interrupted (Ctrl-C twice)")
            except OSError as exc:
                if exc.errno not in DISK_FULL:
                    raise
                result = StepResult(job.name, "error", f"cannot write {exc.filename or 'to the run folder'}: "
                                                       f"{exc.strerror}. What was committed is kept: make room, "
                                                       f"then `runner resume {run.id}` goes on from there")
            results.append(result)
            with contextlib.suppress(OSError):  # with the disk full this may not be written either
                run.step(job.name).update(status=result.status, reason=result.reason,
                                          reused_from=result.reused_from)
            if result.status not in ("succeeded", "reused"):
                status = result.status
                break
    if status == "succeeded" and results and all(r.status == "reused" for r in results):
        status = "reused"
    with contextlib.suppress(OSError):  # a full disk: the run shows as interrupted, and resumes
        run.update(status=status, finished=time.time(), driver_peak_rss_mb=_peak_rss_mb(), reason=next(
            (r.reason for r in results if r.status not in ("succeeded", "reused")), ""),
            steps={r.name: {"status": r.status, "output": r.output, "reused_from": r.reused_from,
                            **({"progress": r.progress} if r.progress else {})} for r in results})
    return RunResult(run, status, results)


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


def _run_step(run: RunFolder, job: StepJob, runs_root: Path, fingerprints: dict[str, str], stop: _Stop,
              stream: IO[str]) -> StepResult:
    folder = run.step(job.name)
    info = folder.read()
    output = _output_file(run, job)
    if info.get("status") in ("succeeded", "reused"):  # resuming a later step
        fingerprints[job.name] = info.get("fingerprint", "")
        return StepResult(job.name, info["status"], output=output, reused_from=info.get("reused_from"))
    _preflight(job, folder, output)
    if "mini_batches" not in info:
        info = _partition(job, folder)
    fingerprints[job.name] = fingerprint(job, info["listing"], fingerprints)
    folder.update(fingerprint=fingerprints[job.name])
    if job.allow_reuse and not info.get("started"):
        earlier = find_reusable(list_runs(runs_root), job.name, fingerprints[job.name], exclude=run.id)
        if earlier is not None:
            link_outputs(earlier.step(job.name).path / "outputs", folder.path / "outputs")
            origin = earlier.step(job.name).read().get("reused_from") or earlier.id  # the run that ran it
            return StepResult(job.name, "reused", output=output, reused_from=origin)
    folder.update(started=info.get("started") or time.time(), status="running", reason="")
    return _supervise(job, folder, output, info, stop, stream)


def _supervise(job: StepJob, folder: StepFolder, output: str | None, info: dict[str, Any], stop: _Stop,
               stream: IO[str]) -> StepResult:
    total = info["mini_batches"]
    ledger = Ledger(folder.ledger, staged_output(output, job.row_format) if output else None, total)
    log = _driver_log(folder)
    if ledger.recovered:
        log(f"resuming: {ledger.recovered} of {total} mini-batches were already committed")
        print(f"{job.name}: resuming, {ledger.recovered} of {total} mini-batches already done", file=stream)
    if ledger.recovered >= total:  # every mini-batch was committed before the driver stopped
        ledger.close()
        tripped = _thresholds(job, total)(ledger)
        write_reports(folder)
        return StepResult(job.name, "failed" if tripped else "succeeded", tripped or _within(job, ledger),
                          output=output)
    progress = Progress(folder, job.name, total, info["items"] if job.kind == "file" else None, stream)
    supervisor = Supervisor(
        workers=job.workers, per_node=job.process_count_per_node, tasks=_tasks(folder, ledger, job.kind), ledger=ledger,
        run_max_try=job.run_max_try, timeout=float(job.run_invocation_timeout),
        thresholds=_thresholds(job, total), worker_config=lambda slot: _worker_config(job, folder, output, slot),
        worker_env=_worker_env(job, _model_dir(job, folder)), log=log, interrupted=lambda: stop.requested,
        tick=progress.tick)
    try:
        outcome = supervisor.run()
    except BaseException:
        supervisor.stop_all(graceful=False)
        # Keep what is committed; a write that fails again here (a full disk) changes nothing:
        # rows past the last ledger line are cut on resume.
        with contextlib.suppress(OSError):
            ledger.close()
        with contextlib.suppress(OSError):
            progress.close(supervisor, "interrupted")
        raise
    ledger.close()
    if outcome.status == "preflight":
        progress.close(supervisor, "failed")
        raise PreflightError(outcome.reason)
    status = outcome.status
    snap = progress.close(supervisor, status)
    not_run = write_reports(folder, stopped=status == "failed")
    if status == "succeeded" and output and job.row_format == "parquet":
        finish_parquet(output)
    reason = outcome.reason or _within(job, ledger)
    if not_run:
        reason += (f"\n{not_run} mini-batches never ran; failed_items.jsonl lists them with the failed ones, "
                   "so a dataset with `manifest: true` over it re-runs both")
    log(f"step {status}: {reason}" if reason else f"step {status}")
    return StepResult(job.name, status, reason, snap, output)


def _tasks(folder: StepFolder, ledger: Ledger, kind: str) -> Iterator[Task]:
    offset = 0
    with open(folder.minibatches, "rb") as handle:
        for line in handle:
            mb, files = task_fields(line, kind)
            if not ledger.done(mb):
                yield Task(mb, offset, files)
            offset += len(line)


def _thresholds(job: StepJob, total: int) -> Callable[[Ledger], str | None]:
    def check(ledger: Ledger) -> str | None:
        t = ledger.totals
        if job.error_threshold != -1 and t.items_failed > job.error_threshold:
            return (f"error_threshold exceeded: {t.items_failed} items failed, more than the "
                    f"{job.error_threshold} allowed{_first_error(t.first_errors)}")
        if job.allowed_failed_count not in (None, -1) and t.mini_batches_failed > job.allowed_failed_count:
            return (f"allowed_failed_count exceeded: {t.mini_batches_failed} mini-batches failed, more than "
                    f"the {job.allowed_failed_count} allowed{_first_error(t.first_errors)}")
        if job.allowed_failed_percent is not None and job.allowed_failed_percent < 100:
            percent = 100.0 * t.mini_batches_failed / total
            if percent > job.allowed_failed_percent:
                return (f"allowed_failed_percent exceeded: {t.mini_batches_failed} of {total} mini-batches "
                        f"failed ({percent:.1f}% > {job.allowed_failed_percent:g}%)"
                        f"{_first_error(t.first_errors)}")
        return None

    return check


def _within(job: StepJob, ledger: Ledger) -> str:
    t = ledger.totals
    if not t.items_failed and not t.mini_batches_failed:
        return ""
    return (f"{t.items_failed} items and {t.mini_batches_failed} mini-batches failed, within the thresholds "
            f"(error_threshold {job.error_threshold}); see failed_items.jsonl")


def _first_error(errors: list[str]) -> str:
    if not errors:
        return ""
    lines = [line for line in errors[0].strip().splitlines() if line.strip()]
    return f"; the first error: {lines[-1].strip()}" if lines else ""


def _preflight(job: StepJob, folder: StepFolder, output: str | None) -> None:
    problems = []
    if not os.path.isdir(job.source_directory):
        problems.append(f"source_directory {job.source_directory} is not a folder")
    if not os.path.isfile(job.entry_script):
        problems.append(f"entry_script {job.entry_script} does not exist")
    else:
        try:
            with open(job.entry_script, "rb") as handle:
                compile(handle.read(), job.entry_script, "exec")
        except SyntaxError as exc:
            problems.append(f"entry_script {job.entry_script} has a syntax error at line {exc.lineno}: {exc.msg}")
    missing = False
    for name, path in {**job.models, **job.side_inputs}.items():
        if not os.path.exists(path):
            problems.append(f"{name}: {path} does not exist")
            missing = True
    for spec in job.inputs:
        if spec.reference not in job.produced_by and not is_glob(spec.location) \
                and not os.path.exists(spec.location):
            problems.append(f"{spec.reference}: {spec.location} does not exist")
            missing = True
    if missing:
        problems.append("(the example specs' data and models are made by `runner example mnist` and "
                        "`runner example tabular`)")
    try:
        folder.path.mkdir(parents=True, exist_ok=True)
        target = os.path.dirname(output) if output else str(folder.path / "outputs")
        os.makedirs(target, exist_ok=True)
        probe = os.path.join(target, ".write-test")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as exc:
        problems.append(f"the output folder is not writable: {exc.strerror or exc}")
    if problems:
        raise PreflightError("\n".join(problems))


def _partition(job: StepJob, folder: StepFolder) -> dict[str, Any]:
    hashed = {i for i, spec in enumerate(job.inputs) if spec.reference not in job.produced_by}
    partitioner = Partitioner(job.mini_batch_size, job.partition_keys, hashed)
    tmp = folder.minibatches + ".tmp"
    started = time.monotonic()
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            for descriptor in partitioner.descriptors(job.inputs):
                out.write(encode(descriptor))
    except InputError as exc:
        raise PreflightError(str(exc)) from exc
    os.replace(tmp, folder.minibatches)
    folder.update(mini_batches=partitioner.count, items=partitioner.items, files=partitioner.files,
                  listing=partitioner.digest.hexdigest(), partition_seconds=round(time.monotonic() - started, 3))
    return folder.read()


def _output_file(run: RunFolder, job: StepJob) -> str | None:
    if job.output_name is None or job.append_row_file is None:
        return None
    return str(run.path / job.name / "outputs" / job.output_name / job.append_row_file)


def _worker_config(job: StepJob, folder: StepFolder, output: str | None, slot: Slot) -> WorkerConfig:
    output_dir = os.path.dirname(output) if output else str(folder.path / "outputs" / (job.output_name or "default"))
    os.makedirs(output_dir, exist_ok=True)
    scratch = folder.path / "work" / f"node{slot.node}" / f"process{slot.process:03d}"
    scratch.mkdir(parents=True, exist_ok=True)
    paths = {stream: folder.user_log(stream, slot.node, slot.process)
             for stream in ("stdout", "stderr", "entry_script_log")}
    for path in paths.values():
        os.makedirs(os.path.dirname(path), exist_ok=True)
    return WorkerConfig(
        entry_script=job.entry_script, source_directory=job.source_directory, working_dir=job.source_directory,
        arguments=job.arguments, logging_level=job.logging_level, inputs=list(job.inputs),
        kind=job.kind, output_action=job.output_action, row_format=job.row_format, minibatches=folder.minibatches,
        stdout=paths["stdout"], stderr=paths["stderr"], log_file=paths["entry_script_log"],
        env={"RUNNER_WORKER": str(slot.index), "RUNNER_AGENT_NAME": f"node{slot.node}.process{slot.process:03d}",
             "RUNNER_OUTPUT_DIR": output_dir, "RUNNER_LOG_DIR": str(folder.path / "logs" / "user"),
             "RUNNER_WORKING_DIR": str(scratch)})


def _model_dir(job: StepJob, folder: StepFolder) -> str:
    """The layout azureml-core's Model.get_model_path reads offline, which our stand-in
    reads too: $AML_APP_ROOT/azureml-models/<name>/<version>/<one entry>, the entry here
    a link to the spec's model file or folder. Returns AML_APP_ROOT."""
    root = folder.path / "azureml-models"
    for name, path in job.models.items():
        version = root / name / "1"
        link = version / os.path.basename(os.path.normpath(path))
        if link.is_symlink():
            continue
        version.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path, target_is_directory=os.path.isdir(path))
    return str(folder.path)


def _worker_env(job: StepJob, app_root: str) -> dict[str, str]:
    env = dict(os.environ)
    env["AML_APP_ROOT"] = app_root
    env["AZUREML_MODEL_DIR"] = os.path.join(app_root, "azureml-models")
    env.update(job.environment_variables)
    env["RUNNER_MODELS"] = json.dumps(job.models)
    env["RUNNER_SIDE_INPUTS"] = json.dumps(job.side_inputs)
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def _driver_log(folder: StepFolder) -> Callable[[str], None]:
    os.makedirs(os.path.dirname(folder.driver_log), exist_ok=True)

    def log(message: str) -> None:
        with open(folder.driver_log, "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    return log
