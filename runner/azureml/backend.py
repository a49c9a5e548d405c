"""AzureMLBackend (SDK v1) and AzureMLV2Backend (a v2 pipeline job) behind the Backend
protocol (`runner.runs.backend`): compile, pre-flight, submit through a session (the
only code that talks to Azure), follow the run to its end, download each step's
append_row file into the run folder, and record it all as the local engine does."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Generic, TypeVar

from runner.azureml.sessions import Session, V1Session, V2Session, WorkspaceSpec
from runner.plan.plan import REDACTED, Plan, StepPlan
from runner.plan.references import Secret
from runner.render import plan_text
from runner.runs import follow, inspect
from runner.runs.folder import RunFolder, new_run
from runner.runs.outcome import ApplyOptions, BackendError, Compiled, Results, RunError, RunResult, StepResult
from runner.runs.records import JobRecord, RunRecord, StepSummary
from runner.runs.status import Status
from runner.runs.views import LogChunk, RunView, ServiceState

if TYPE_CHECKING:
    from runner.azureml.submit import Outcome, Submission, Wanted

# The session a backend talks to Azure through: v1's or v2's (runner.azureml.sessions),
# both with the verbs this class uses.
S = TypeVar("S", bound=Session[Any])


# Item reuse needs the ledger, which says which rows each item's mini-batch wrote: Azure
# ML's ParallelRunStep keeps none, so an incremental step is submitted whole.
INCREMENTAL_NOTE = ("; note: incremental (item reuse) runs on the local engine only (the Ray engine later): "
                    "on Azure ML the step is submitted whole")


class _AzureBackend(Generic[S]):
    target = ""
    processes_per_node: int | None = None  # one per core of the cluster's VM size

    def __init__(self, session: S | None = None) -> None:
        self.session: S | None = session  # the SDK seam; None: the real one

    def compile(self, plan: Plan, base_dir: str = ".", reveal: bool = False) -> Compiled:
        raise NotImplementedError

    def stage(self, compiled: Compiled) -> None:
        """Link each single-file input of a v2 job written to a file into the folder its
        YAML names (v1 stages nothing: it uploads what the plan names itself)."""
        from runner.azureml.submit import stage_inputs

        stage_inputs(compiled.stage)

    def apply(self, plan: Plan, root: Path, stream: IO[str] | None,
              options: ApplyOptions | None = None) -> RunResult:
        from runner.azureml.submit import PreflightError, preflight, require_sdk

        options = options or ApplyOptions()
        # No reuse: each step compiled with allow_reuse false (v1) / is_deterministic
        # false (v2), so Azure ML runs it again rather than reusing an earlier run's output.
        plan = plan if options.reuse else plan.without_reuse()
        if self.session is None:
            require_sdk(plan.target)  # an AzureError is a BackendError
        problems = preflight(plan, exclude=[str(root)])
        if problems:  # before anything is created in the workspace
            raise RunError("cannot submit:\n" + "\n".join(f"  {p}" for p in problems))
        run = self._start(plan, root)
        if options.started is not None:
            options.started(run)
        try:
            with contextlib.redirect_stdout(sys.stderr):  # the SDKs print; stdout is for the run id
                outcome = self._submit(plan, run, stream)
        except PreflightError as exc:  # found in the workspace before anything was created there
            _end(run, plan.steps, Status.PREFLIGHT, str(exc))
            raise RunError(f"cannot submit: {exc}") from exc
        except RunError as exc:  # ours, before submitting (code not copied, a staged file gone): exit 2, as plan
            _end(run, plan.steps, Status.PREFLIGHT, str(exc))
            raise
        except KeyboardInterrupt:
            info = run.read()
            reason = (f"stopped following the run; it goes on in Azure ML: {info.portal_url}"
                      if info.azure_run_id else "stopped before anything was submitted; apply the spec again")
            _end(run, plan.steps, Status.INTERRUPTED, reason)
            return RunResult(run, Status.INTERRUPTED, [StepResult(s.name, Status.INTERRUPTED) for s in plan.steps],
                             note=reason)
        except Exception as exc:  # the SDKs raise their own kinds for auth, network and service errors
            from runner.azureml.submit import error_text

            reason = error_text(exc)
            _end(run, plan.steps, Status.ERROR, reason)
            run.error_log.write_text(traceback.format_exc(), encoding="utf-8")
            raise BackendError(f"{plan.target}: {reason} (the whole error: {run.error_log})") from exc
        return _finish(run, plan, outcome)

    def _start(self, plan: Plan, root: Path) -> RunFolder:
        """A run folder as the local engine keeps one, so runs/status/results read it."""
        run = new_run(root, plan.name)
        run.write_job(JobRecord(plan.target, plan.steps))
        run.write(RunRecord.start(run.id, plan, Status.SUBMITTING))
        shown = self.compile(plan, base_dir=str(run.path))
        run.plan_text.write_text(plan_text(plan) + "\n".join(["", *shown.description, ""]),
                                              encoding="utf-8")
        self._keep(run, shown)
        for step in plan.steps:
            run.step(step.name).update(status=Status.RUNNING)
        return run

    def _keep(self, run: RunFolder, shown: Compiled) -> None:
        """What a reviewer of the run folder sees of the compiled pipeline."""

    def _session(self) -> S:
        """The session given, or the SDK's real one."""
        raise NotImplementedError

    def _submission(self, plan: Plan, run: RunFolder, session: S) -> Submission[Any]:
        """The plan compiled for real (secrets revealed, code staged in the run folder), in
        the shape the shared flow submits."""
        raise NotImplementedError

    def _submit(self, plan: Plan, run: RunFolder, stream: IO[str] | None) -> Outcome:
        from runner.azureml.submit import submit

        session = self._session()
        return submit(session, self._submission(plan, run, session), run.download, self._submitted(run, stream),
                      stream)

    def _submitted(self, run: RunFolder, stream: IO[str] | None) -> Callable[[dict[str, str]], None]:
        def submitted(info: dict[str, str]) -> None:
            run.update(status=Status.RUNNING, azure_run_id=info["azure_run_id"], portal_url=info["portal_url"])
            if stream is not None:
                stream.write(f"submitted {info['azure_run_id']}: {info['portal_url']}\n")

        return submitted

    def resume(self, run: RunFolder, root: Path, stream: IO[str] | None,
               accept_changed_inputs: bool = False) -> RunResult:
        info = _submitted_record(run)
        raise RunError(f"run {run.id} was submitted to Azure ML ({info.target}), which runs it to the end "
                       f"whether or not runner follows it: {info.portal_url or ''}")

    def retry(self, run: RunFolder, root: Path, stream: IO[str] | None, update_code: bool = False,
              sets: Sequence[str] = (), set_params: Sequence[str] = (),
              accept_changed_inputs: bool = False) -> RunResult:
        info = _submitted_record(run)
        raise RunError(f"runner retry of Azure ML runs ({info.target}) is not supported yet: the run's output "
                           "in Azure ML cannot be extended by runner. Re-run what failed as a new run: a dataset "
                           "with `manifest: true` over the failed items, or apply the spec again")

    def status(self, run: RunFolder) -> RunView:
        """The run, with the state of one that has not ended read from Azure ML first
        (through the session) and recorded; where the service cannot be reached, what
        run.json says, and why it was not refreshed."""
        info = inspect.read(run)
        note = ""
        running = False
        if info.azure_run_id and info.status in (Status.RUNNING, Status.SUBMITTING, Status.INTERRUPTED):
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    running = self._refresh(run, info)
            except Exception as exc:  # the SDKs raise their own kinds for auth, network and service errors
                from runner.azureml.submit import error_text

                note = f"not refreshed from Azure ML: {error_text(exc)}"
        if not running:
            return inspect.status(run, service=ServiceState(note=note))
        # Running in Azure ML whether or not the process that applied it still follows it.
        reason = "" if info.status == Status.RUNNING else "runner is no longer following it; it goes on in Azure ML"
        return inspect.status(run, service=ServiceState(Status.RUNNING, reason, note))

    def _refresh(self, run: RunFolder, info: RunRecord) -> bool:
        """Read the run's state from Azure ML and record it; whether it is still running.
        A run that ended is recorded so only where no process follows it any more (one
        that does downloads its output, then records the end itself)."""
        from runner.azureml.submit import current_status

        session = self._session()
        azure_status = session.status(session.workspace(_workspace(run)), info.experiment, info.azure_run_id or "")
        run.update(azure_status=azure_status)
        status = Status(current_status(azure_status))
        if not status.finished:
            return True
        if info.status == Status.INTERRUPTED:
            reason = f"Azure ML run {info.azure_run_id} ended {azure_status}"
            if status.ok:
                reason += f"; runner was no longer following it, so its output was not downloaded: {info.portal_url}"
            _end(run, run.job().steps, status, reason)
        return False

    def results(self, run: RunFolder, head: int, step: str | None, in_input_order: bool = False) -> Results:
        return inspect.results(run, head, step, in_input_order)

    def logs(self, run: RunFolder, worker: int | None, system: bool, step: str | None) -> Iterator[LogChunk]:
        info = _submitted_record(run)
        raise RunError(f"run {run.id} ran on Azure ML ({info.target}); its logs are there: {info.portal_url or ''}")

    def follow(self, run: RunFolder, worker: int | None, system: bool, step: str | None,
               interval: float) -> Iterator[LogChunk]:
        """Its logs are in the studio: what run.json says (the process that applied it
        follows it there) each time it changes, until it ends; then where the logs are."""
        yield from follow.status_changes(run, interval)
        info = inspect.read(run)
        if info.azure_run_id:
            yield LogChunk(str(run.run_json),
                           f"the logs of Azure ML run {info.azure_run_id}: {info.portal_url or ''}\n")

    def reuse(self, plan: Plan, root: Path) -> dict[str, str]:
        # Azure ML keeps its own record of what ran: reuse is its decision, at submission.
        return {step.name: ("Azure ML decides at submission: reused when the step's script, inputs and settings "
                            "are unchanged (allow_reuse)" if step.allow_reuse else "runs: allow_reuse is false")
                + (INCREMENTAL_NOTE if step.incremental else "") for step in plan.steps}

    def cancel(self, run: RunFolder) -> str:
        """Cancel the Azure ML run through the session and record `canceled`; the process
        that applied it, if it still follows the run, sees it end Canceled."""
        info = _submitted_record(run)
        if info.status.finished and info.status != Status.INTERRUPTED:
            raise RunError(f"run {run.id} has already ended ({info.status}); nothing to cancel")
        try:
            with contextlib.redirect_stdout(sys.stderr):
                session = self._session()
                session.cancel(session.workspace(_workspace(run)), info.experiment, info.azure_run_id or "")
        except RunError:
            raise
        except Exception as exc:  # the SDKs raise their own kinds for auth, network and service errors
            from runner.azureml.submit import error_text

            raise BackendError(f"{info.target}: cancelling Azure ML run {info.azure_run_id} failed: "
                               f"{error_text(exc)}; cancel it in the studio, {info.portal_url or ''}") from exc
        reason = f"canceled by runner cancel (Azure ML run {info.azure_run_id})"
        _end(run, run.job().steps, Status.CANCELED, reason)
        run.update(azure_status="Canceled")
        return f"canceled Azure ML run {info.azure_run_id} ({info.target}): {info.portal_url or ''}"


class AzureMLBackend(_AzureBackend[V1Session]):
    target = "azureml"

    def compile(self, plan: Plan, base_dir: str = ".", reveal: bool = False) -> Compiled:
        from runner.azureml import compile_v1, describe

        data = compile_v1.compile_v1(plan, reveal=reveal)
        header = (f"# The Azure ML SDK v1 pipeline that `runner apply --target azureml` builds from "
                  f"{' -> '.join(plan.chain)}\n"
                  "# (Workspace, AmlCompute, Datastore, Dataset, Model, Environment, PipelineParameter,\n"
                  "# ParallelRunConfig, ParallelRunStep), as data: a review aid, not an Azure file format.\n")
        return Compiled(self.target, header + describe.dump(data), describe.describe_v1(data), data, {})

    def _keep(self, run: RunFolder, shown: Compiled) -> None:
        run.pipeline_yaml.write_text(shown.text, encoding="utf-8")

    def _session(self) -> V1Session:
        from runner.azureml.session_v1 import Session

        return self.session or Session()

    def _submission(self, plan: Plan, run: RunFolder, session: V1Session) -> Submission[Any]:
        from runner.azureml import compile_v1
        from runner.azureml.submit import submission_v1

        code = _stage_code(plan, run)
        real = compile_v1.compile_v1(plan, reveal=True, code=code)
        _keep_workspace(run, real["workspace"])
        return submission_v1(real, session, _wanted(plan, v2=False))


class AzureMLV2Backend(_AzureBackend[V2Session]):
    target = "azureml-v2"

    def compile(self, plan: Plan, base_dir: str = ".", reveal: bool = False) -> Compiled:
        from runner.azureml import compile_v1, compile_v2, describe

        job = compile_v2.compile_v2(plan, base_dir=base_dir, reveal=reveal)
        header = (f"# Azure ML v2 pipeline job with a parallel step, compiled from {' -> '.join(plan.chain)} by "
                  "runner.\n# Submit: az ml job create -f <this file>  (or: runner apply <spec> --target azureml-v2)\n")
        shared = compile_v1.resources(plan, reveal=reveal)
        models = {name: REDACTED if isinstance(path, Secret) and not reveal else path
                  for name, path in (plan.steps[0].models if plan.steps else {}).items()}
        lines = describe.describe_v2(job, shared["compute"], shared["datastores"], shared["workspace"], models)
        header += "".join(describe.file_differs(shared["datastores"], models))
        return Compiled(self.target, header + describe.dump(job.job), lines, job.job, job.stage)

    def _session(self) -> V2Session:
        from runner.azureml.session_v2 import SessionV2

        return self.session or SessionV2()

    def _submission(self, plan: Plan, run: RunFolder, session: V2Session) -> Submission[Any]:
        from runner.azureml import compile_v1, compile_v2, describe
        from runner.azureml.sessions import Resources
        from runner.azureml.submit import stage_inputs, submission_v2

        code = _stage_code(plan, run)
        real = compile_v2.compile_v2(plan, base_dir=str(run.path), reveal=True, code=code)
        stage_inputs(real.stage)
        job_file = str(run.job_yaml)
        fd = os.open(job_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold secret values
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(describe.dump(real.job))
        shared = compile_v1.resources(plan, reveal=True)
        _keep_workspace(run, shared["workspace"])
        resources = Resources(shared["workspace"], shared["compute"], shared["datastores"], compile_v1.models(plan))
        return submission_v2(job_file, resources, session, _wanted(plan, v2=True))


def _stage_code(plan: Plan, run: RunFolder) -> dict[str, str]:
    """Each step's code as runner.inputs.snapshot lists it, copied into the run folder: what
    the SDK uploads (RunError where source_directory cannot be listed or copied)."""
    from runner.azureml.code import stage_code

    return stage_code(plan, run.code_copy, exclude=[str(run.path.parent)])  # a CodeError is a RunError



def _keep_workspace(run: RunFolder, spec: dict[str, Any]) -> None:
    """The workspace the run was submitted to, for `runner cancel` and `status` from any
    folder later (a config file's path made absolute; mode 0600: names may be secrets)."""
    kept = dict(spec)
    if "config" in kept:
        kept["config"] = os.path.abspath(kept["config"])
    fd = os.open(run.workspace, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(kept, handle)


def _workspace(run: RunFolder) -> WorkspaceSpec:
    try:
        with open(run.workspace, encoding="utf-8") as handle:
            found: WorkspaceSpec = json.load(handle)
            return found
    except (OSError, ValueError) as exc:
        raise RunError(f"run {run.id} does not say which workspace it went to ({run.workspace.name}: {exc}); "
                       "use the studio") from exc


def _submitted_record(run: RunFolder) -> RunRecord:
    """run.json of a run that reached Azure ML (RunError for one that never did)."""
    info = inspect.read(run)
    if not info.azure_run_id:
        raise RunError(f"run {run.id} never reached Azure ML ({info.reason or 'nothing was submitted'}); "
                       "apply the spec again")
    return info


def _wanted(plan: Plan, v2: bool) -> list[Wanted]:
    from runner.azureml.compile_v2 import node_name
    from runner.azureml.submit import Wanted

    return [Wanted(s.name, node_name(s.output) if v2 else s.output, s.append_row_file)
            for s in plan.steps if s.output and s.append_row_file]


def _end(run: RunFolder, steps: Sequence[StepPlan], status: Status, reason: str) -> None:
    for step in steps:
        run.step(step.name).update(status=status, reason=reason)
    run.update(status=status, reason=reason, finished=time.time(),
               steps={s.name: StepSummary(status) for s in steps})


def _finish(run: RunFolder, plan: Plan, outcome: Outcome) -> RunResult:
    """Move each downloaded output where the local engine keeps it; record the end."""
    from runner.azureml.submit import place

    status = Status(outcome.status)
    reason = "" if status.ok else f"Azure ML run {outcome.info['azure_run_id']} ended {outcome.azure_status}"
    steps = []
    for step in plan.steps:
        output = None
        if step.name in outcome.files:
            output = place(outcome.files[step.name], str(run.output_dir(step.name, step.output or "")))
        steps.append(StepResult(step.name, status, reason, output=output))
    shutil.rmtree(run.download, ignore_errors=True)
    _end(run, plan.steps, status, reason)
    run.update(azure_status=outcome.azure_status, steps={s.name: StepSummary(s.status, s.output) for s in steps})
    return RunResult(run, status, steps)
