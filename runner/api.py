"""The programmatic entry point: what the CLI calls, usable from Python and notebooks.

Errors are exceptions (`SpecError` for a bad spec); nothing here prints or exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from runner.local import runfolder
from runner.local.engine import RunBusy, RunResult, StepResult, execute
from runner.local.job import build_jobs, save_jobs
from runner.local.ledger import Totals, read_records
from runner.plan.plan import Plan, build_plan
from runner.render import plan_json, plan_text
from runner.spec.diagnostics import SpecError
from runner.spec.load import LoadedSpec, load_spec
from runner.spec.schema import SPEC_SCHEMA_FILE, VARIANT_SCHEMA_FILE, dumps, spec_schema, variant_schema

__all__ = ["SpecError", "ValidationResult", "RunError", "RunResult", "load", "plan", "validate", "write_schemas",
           "apply", "resume", "list_runs", "status", "results", "logs", "RUNS_DIR"]

# Where the local engine keeps its run folders, relative to the working directory.
RUNS_DIR = Path(".runner") / "runs"


@dataclass
class ValidationResult:
    path: str
    error: SpecError | None

    @property
    def ok(self) -> bool:
        return self.error is None


def load(spec: str, sets: Sequence[str] = (), set_params: Sequence[str] = (),
         environ: Mapping[str, str] | None = None) -> LoadedSpec:
    """Load and validate one spec (raises SpecError)."""
    return load_spec(spec, sets, set_params, environ)


def validate(specs: Sequence[str], sets: Sequence[str] = (), set_params: Sequence[str] = (),
             environ: Mapping[str, str] | None = None) -> list[ValidationResult]:
    """Validate each spec independently; never raises for a bad spec."""
    results = []
    for spec in specs:
        try:
            load_spec(spec, sets, set_params, environ)
            results.append(ValidationResult(spec, None))
        except SpecError as exc:
            results.append(ValidationResult(spec, exc))
    return results


def plan(spec: str, sets: Sequence[str] = (), set_params: Sequence[str] = (), target: str | None = None,
         environ: Mapping[str, str] | None = None) -> Plan:
    """The resolved spec and what it will run (raises SpecError)."""
    loaded = load_spec(spec, sets, set_params, environ)
    return build_plan(loaded, target=target, cpu_count=os.cpu_count() or 1)


@dataclass
class Compiled:
    """What an Azure target makes of a spec: the compiled YAML (for azureml-v2, the job
    file `az ml job create -f` accepts), what apply will create or reuse, in words, and
    single files to link into folders of their own before the YAML is used."""

    target: str
    text: str
    description: list[str]
    data: dict[str, Any]
    stage: dict[str, str]


def compile_plan(loaded: LoadedSpec, result: Plan, base_dir: str = ".", reveal: bool = False) -> Compiled | None:
    """The Azure pipeline for a plan (None for the local target). Local paths in a v2 job
    are relative to `base_dir`, the folder its YAML will be written to."""
    from runner.azureml import compile_v1, compile_v2, describe

    source = " -> ".join(loaded.chain)
    if result.target == "azureml":
        data = compile_v1.compile_v1(loaded, result, reveal=reveal)
        header = (f"# The Azure ML SDK v1 pipeline that `runner apply --target azureml` builds from {source}\n"
                  "# (Workspace, AmlCompute, Datastore, Dataset, Model, Environment, PipelineParameter,\n"
                  "# ParallelRunConfig, ParallelRunStep), as data: a review aid, not an Azure file format.\n")
        return Compiled("azureml", header + describe.dump(data), describe.describe_v1(data), data, {})
    if result.target == "azureml-v2":
        job = compile_v2.compile_v2(loaded, result, base_dir=base_dir, reveal=reveal)
        header = (f"# Azure ML v2 pipeline job with a parallel step, compiled from {source} by runner.\n"
                  "# Submit: az ml job create -f <this file>  (or: runner apply <spec> --target azureml-v2)\n")
        shared = compile_v1.resources(loaded, reveal=reveal)
        lines = describe.describe_v2(job, shared["compute"], shared["datastores"], shared["workspace"])
        return Compiled("azureml-v2", header + describe.dump(job.job), lines, job.job, job.stage)
    return None


def stage_inputs(stage: Mapping[str, str]) -> None:
    """Link each single-file input into a folder of its own, holding only that file (a
    copy where links cannot be made). Raises RunError for a file that is not there."""
    for folder, file in stage.items():
        if not os.path.isfile(file):
            raise RunError(f"{file} does not exist (a single-file dataset: it is linked into {folder}/ "
                           "for azureml-v2)")
        os.makedirs(folder, exist_ok=True)
        target = os.path.join(folder, os.path.basename(file))
        for name in os.listdir(folder):  # what an earlier plan or apply staged
            path = os.path.join(folder, name)
            if path != target or not os.path.samefile(path, file):
                shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
        if os.path.exists(target):
            continue
        try:
            os.link(file, target)
        except OSError:
            shutil.copy2(file, target)


def plan_compiled(spec: str, sets: Sequence[str] = (), set_params: Sequence[str] = (), target: str | None = None,
                  environ: Mapping[str, str] | None = None, base_dir: str = ".") -> tuple[Plan, Compiled | None]:
    """The plan and, for an Azure target, its compiled pipeline (raises SpecError)."""
    loaded = load_spec(spec, sets, set_params, environ)
    result = build_plan(loaded, target=target, cpu_count=os.cpu_count() or 1)
    return result, compile_plan(loaded, result, base_dir)


def write_schemas(folder: str | Path) -> list[Path]:
    """Write the spec and variant JSON Schemas into `folder`; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in ((SPEC_SCHEMA_FILE, spec_schema()), (VARIANT_SCHEMA_FILE, variant_schema())):
        target = folder / name
        target.write_text(dumps(schema), encoding="utf-8")
        written.append(target)
    return written


def prepare_example(name: str, root: str | Path = ".", force: bool = False) -> Any:
    """Make an example's data and model from what an installed package ships."""
    if name == "mnist":
        from runner.examples import mnist

        return mnist.prepare(root, force=force)
    if name == "tabular":
        from runner.examples import tabular

        return tabular.prepare(root, force=force)
    raise RunError(f"no example named '{name}' (there are: mnist, tabular)")


class RunError(Exception):
    """A run that cannot be found, resumed or read (the CLI exits 2)."""


class BackendError(Exception):
    """A target this build cannot run (the CLI exits 3)."""


def apply(spec: str, sets: Sequence[str] = (), set_params: Sequence[str] = (), target: str | None = None,
          environ: Mapping[str, str] | None = None, root: Path = RUNS_DIR, stream: IO[str] | None = None,
          session: Any = None) -> RunResult:
    """Run a spec. Locally: a new run folder under `root`, every step in order. On Azure:
    compile, submit through `session` (the SDK seam; None: the real one), follow the run
    to its end and download each step's append_row file into the run folder."""
    loaded = load_spec(spec, sets, set_params, environ)
    result = build_plan(loaded, target=target, cpu_count=os.cpu_count() or 1)
    if result.target != "local":
        return _apply_azure(loaded, result, root, stream, session)
    run = runfolder.new_run(root, result.name)
    run.update(id=run.id, name=result.name, spec=loaded.source, target="local", status="created", started=time.time())
    save_jobs(run.file("job.json"), build_jobs(loaded, result, str(run.path)))
    Path(run.file("plan.txt")).write_text(plan_text(result), encoding="utf-8")
    Path(run.file("plan.json")).write_text(plan_json(result), encoding="utf-8")
    run.update(id=run.id, name=result.name, experiment=result.experiment, spec=loaded.source, chain=loaded.chain,
               target="local", status="created", started=time.time(), cwd=os.getcwd(),
               parameters={p.name: p.value for p in result.parameters})
    return execute(run, root, stream)


def _apply_azure(loaded: LoadedSpec, result: Plan, root: Path, stream: IO[str] | None, session: Any) -> RunResult:
    from runner.azureml.submit import AzureError, preflight, require_sdk

    try:
        if session is None:
            require_sdk(result.target)
    except AzureError as exc:
        raise BackendError(str(exc)) from exc
    problems = preflight(loaded, result)
    if problems:  # before anything is created in the workspace
        raise RunError("cannot submit:\n" + "\n".join(f"  {p}" for p in problems))
    run = _start_azure_run(loaded, result, root)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the SDKs print; stdout is for the run id
            outcome = _submit_azure(loaded, result, run, stream, session)
    except KeyboardInterrupt:
        info = run.read()
        reason = (f"stopped following the run; it goes on in Azure ML: {info['portal_url']}"
                  if info.get("azure_run_id") else "stopped before anything was submitted; apply the spec again")
        _end_azure_run(run, result, "interrupted", reason)
        return RunResult(run, "interrupted", [StepResult(s.name, "interrupted") for s in result.steps])
    except Exception as exc:  # the SDKs raise their own kinds for auth, network and service errors
        from runner.azureml.submit import error_text

        reason = error_text(exc)
        _end_azure_run(run, result, "error", reason)
        Path(run.file("error.log")).write_text(traceback.format_exc(), encoding="utf-8")
        raise BackendError(f"{result.target}: {reason} (the whole error: {run.file('error.log')})") from exc
    return _finish_azure_run(run, result, outcome)


def _start_azure_run(loaded: LoadedSpec, result: Plan, root: Path) -> runfolder.RunFolder:
    """A run folder as the local engine keeps one, so runs/status/results read it."""
    run = runfolder.new_run(root, result.name)
    run.update(id=run.id, name=result.name, experiment=result.experiment, spec=loaded.source, chain=loaded.chain,
               target=result.target, status="submitting", started=time.time(), cwd=os.getcwd(),
               driver_pid=os.getpid(), parameters={p.name: p.value for p in result.parameters})
    shown = compile_plan(loaded, result, base_dir=str(run.path))
    assert shown is not None
    Path(run.file("plan.txt")).write_text(plan_text(result) + "\n".join(["", *shown.description, ""]),
                                          encoding="utf-8")
    if result.target == "azureml":
        Path(run.file("pipeline.yaml")).write_text(shown.text, encoding="utf-8")
    jobs = [{"name": s.name, "output_name": s.output, "append_row_file": s.append_row_file, "row_format": "text",
             "node_count": s.node_count, "process_count_per_node": s.process_count_per_node or 1}
            for s in result.steps]
    Path(run.file("job.json")).write_text(json.dumps(jobs, indent=1) + "\n", encoding="utf-8")
    for step in result.steps:
        run.step(step.name).update(name=step.name, status="running")
    return run


def _submit_azure(loaded: LoadedSpec, result: Plan, run: runfolder.RunFolder, stream: IO[str] | None,
                  session: Any) -> Any:
    from runner.azureml.compile_v1 import resources
    from runner.azureml.compile_v2 import node_name
    from runner.azureml.submit import Wanted, submit_v1, submit_v2

    v2 = result.target == "azureml-v2"
    wanted = [Wanted(s.name, node_name(s.output) if v2 else s.output, s.append_row_file)
              for s in result.steps if s.output and s.append_row_file]

    def submitted(info: dict[str, str]) -> None:
        run.update(status="running", **info)
        if stream is not None:
            stream.write(f"submitted {info['azure_run_id']}: {info['portal_url']}\n")

    real = compile_plan(loaded, result, base_dir=str(run.path), reveal=True)
    assert real is not None
    if not v2:
        from runner.azureml.session_v1 import Session

        return submit_v1(real.data, session or Session(), wanted, str(run.path), submitted, stream)
    from runner.azureml.session_v2 import SessionV2

    stage_inputs(real.stage)
    job_file = run.file("job.yaml")
    fd = os.open(job_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold secret values
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(real.text)
    shared = resources(loaded, reveal=True)
    return submit_v2(job_file, shared["workspace"], session or SessionV2(), wanted, str(run.path), submitted,
                     compute=shared["compute"], datastores=shared["datastores"], stream=stream)


def _end_azure_run(run: runfolder.RunFolder, result: Plan, status_: str, reason: str) -> None:
    for step in result.steps:
        run.step(step.name).update(status=status_, reason=reason)
    run.update(status=status_, reason=reason, finished=time.time())


def _finish_azure_run(run: runfolder.RunFolder, result: Plan, outcome: Any) -> RunResult:
    """Move each downloaded output where the local engine keeps it; record the end."""
    from runner.azureml.submit import place

    status_ = outcome.status
    reason = "" if status_ == "succeeded" else f"Azure ML run {outcome.info['azure_run_id']} ended {outcome.azure_status}"
    steps = []
    for step in result.steps:
        output = None
        if step.name in outcome.files:
            output = place(outcome.files[step.name], str(run.path / step.name / "outputs" / (step.output or "")))
        steps.append(StepResult(step.name, status_, reason, output=output))
    shutil.rmtree(run.path / "download", ignore_errors=True)
    _end_azure_run(run, result, status_, reason)
    run.update(azure_status=outcome.azure_status)
    return RunResult(run, status_, steps)


def find(run: str, root: Path = RUNS_DIR) -> runfolder.RunFolder:
    try:
        found = runfolder.find_run(root, run)
    except runfolder.Ambiguous as exc:
        raise RunError(f"'{run}' could be any of: {', '.join(exc.args[0])}; give more of the id") from exc
    if found is None:
        if run in ("latest", "last"):
            raise RunError(f"no runs yet under {root}")
        raise RunError(f"no run named '{run}' under {root} (`runner runs` lists them)")
    return found


def resume(run: str, root: Path = RUNS_DIR, stream: IO[str] | None = None) -> RunResult:
    """Finish a run that was interrupted (Ctrl-C, a killed driver): committed work is
    kept, torn output is cut back to the last commit, the rest runs."""
    folder = find(run, root)
    info = folder.read()
    if info.get("status") == "running" and runfolder.pid_alive(info.get("driver_pid")) \
            and info.get("driver_pid") != os.getpid():
        raise RunError(f"run {folder.id} is still running (driver pid {info['driver_pid']})")
    if info.get("target", "local") != "local" and not info.get("azure_run_id"):
        raise RunError(f"run {folder.id} never reached Azure ML ({info.get('reason', 'nothing was submitted')}); "
                       "apply the spec again")
    if info.get("target", "local") != "local":
        raise RunError(f"run {folder.id} was submitted to Azure ML ({info['target']}), which runs it to the end "
                       f"whether or not runner follows it: {info.get('portal_url', '')}")
    if info.get("status") in ("succeeded", "reused"):
        raise RunError(f"run {folder.id} already {info['status']}; nothing to resume")
    if info.get("status") == "failed":
        first = (info.get("reason") or "").split("\n")[0]
        raise RunError(f"run {folder.id} failed ({first}); "
                       "resuming would count the same failures again. Its failed_items.jsonl lists what failed "
                       "and what never ran: use it as a dataset with `manifest: true` to run just those, or "
                       "apply the spec again")
    try:
        return execute(folder, root, stream)
    except RunBusy as exc:
        raise RunError(str(exc)) from exc


def list_runs(root: Path = RUNS_DIR) -> list[dict[str, Any]]:
    """Every run, oldest first, with its status (a run whose driver is gone while it said
    running is shown as interrupted)."""
    return [_with_liveness(run.read()) for run in runfolder.list_runs(root)]


def _with_liveness(info: dict[str, Any]) -> dict[str, Any]:
    if info.get("status") == "running" and not runfolder.pid_alive(info.get("driver_pid")):
        info["status"] = "interrupted"
        info["reason"] = "the driver stopped without finishing (killed?); `runner resume` continues it"
    return info


def status(run: str, root: Path = RUNS_DIR) -> dict[str, Any]:
    folder = find(run, root)
    info = _with_liveness(folder.read())
    steps = []
    for name in _step_names(folder):
        step = folder.step(name)
        entry = {"name": name, "status": "pending", **step.read()}
        if os.path.exists(step.progress):
            entry["progress"] = runfolder.read_json(Path(step.progress))
            if info["status"] != "running":
                _count_from_ledger(step, entry["progress"])  # newer than a killed driver's last write
        if entry["status"] == "running" and info["status"] == "interrupted":
            entry["status"] = "interrupted"
        steps.append(entry)
    info["steps"] = steps
    return info


def _count_from_ledger(step: runfolder.StepFolder, progress: dict[str, Any]) -> None:
    totals = Totals()
    for record in read_records(step.ledger):
        totals.add(record)
    progress["mini_batches"].update(succeeded=totals.mini_batches_ok, failed=totals.mini_batches_failed,
                                    in_flight=0, retrying=0)
    progress["items"].update(succeeded=totals.items_ok, failed=totals.items_failed)
    progress["rows_written"] = totals.rows_out


def _jobs(folder: runfolder.RunFolder, step: str | None = None) -> list[dict[str, Any]]:
    """The run's steps as job.json stores them; a step named but not there is an error."""
    with open(folder.file("job.json"), encoding="utf-8") as handle:
        jobs: list[dict[str, Any]] = json.load(handle)
    if step is not None and step not in [j["name"] for j in jobs]:
        raise RunError(f"run {folder.id} has no step '{step}' (its steps: {', '.join(j['name'] for j in jobs)})")
    return jobs


def _step_names(folder: runfolder.RunFolder) -> list[str]:
    return [job["name"] for job in _jobs(folder)]


@dataclass
class Results:
    path: str
    rows: int
    head: list[str]


def results(run: str, head: int = 10, step: str | None = None, root: Path = RUNS_DIR) -> Results:
    """The output rows of a step (the last step with an append_row output by default)."""
    folder = find(run, root)
    jobs = _jobs(folder, step)
    candidates = [j for j in jobs if j["append_row_file"] and j["output_name"] and (step in (None, j["name"]))]
    if not candidates:
        named = [j for j in jobs if step in (None, j["name"])]
        raise RunError(f"run {folder.id} has no append_row output: step '{named[-1]['name']}' is summary_only, "
                       f"so its entry script wrote its own files, under {folder.path / named[-1]['name'] / 'outputs'}")
    job = candidates[-1]
    path = folder.path / job["name"] / "outputs" / job["output_name"] / job["append_row_file"]
    if not path.exists():
        info = folder.step(job["name"]).read()
        if info.get("status") == "preflight":
            raise RunError(f"step '{job['name']}' failed its pre-flight checks, so it has no output: "
                           f"{info.get('reason', '')}")
        raise RunError(f"run {folder.id} has no output yet ({path} does not exist)")
    if job["row_format"] == "parquet":
        import pandas as pd

        frame = pd.read_parquet(path)
        return Results(str(path), len(frame), frame.head(head).to_string(index=False).splitlines())
    return Results(str(path), *_count_and_head(path, head, job["row_format"] == "csv"))


def _count_and_head(path: Path, head: int, is_csv: bool) -> tuple[int, list[str]]:
    """Rows and the first few as text (CSV records may span lines: count records)."""
    rows, first = 0, []
    with open(path, encoding="utf-8", errors="replace", newline="" if is_csv else None) as handle:
        if is_csv:
            import csv
            import io

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


def logs(run: str, worker: int | None = None, system: bool = False, step: str | None = None,
         root: Path = RUNS_DIR) -> Iterator[tuple[str, str]]:
    """(path, text) of the logs: each worker's user logs, or the driver's (--sys)."""
    folder = find(run, root)
    info = folder.read()
    if info.get("target", "local") != "local" and not info.get("azure_run_id"):
        raise RunError(f"run {folder.id} never reached Azure ML: {info.get('reason', 'nothing was submitted')}")
    if info.get("target", "local") != "local":
        raise RunError(f"run {folder.id} ran on Azure ML ({info['target']}); its logs are there: "
                       f"{info.get('portal_url', '')}")
    jobs = {j["name"]: j for j in _jobs(folder, step)}
    workers = max(j["node_count"] * j["process_count_per_node"] for j in jobs.values())
    if worker is not None and worker >= workers:
        raise RunError(f"run {folder.id} has workers 0 to {workers - 1}")
    for name in jobs:
        if step not in (None, name):
            continue
        base = folder.path / name / "logs"
        pattern = "sys/*.log" if system else "user/**/*"
        for path in sorted(base.glob(pattern)):
            if not path.is_file():
                continue
            if worker is not None and not _is_worker(path, worker, jobs[name]["process_count_per_node"]):
                continue
            yield str(path), path.read_text(encoding="utf-8", errors="replace")


def _is_worker(path: Path, worker: int, per_node: int) -> bool:
    return path.parent.name == f"node{worker // per_node}" and path.name.startswith(f"process{worker % per_node:03d}")
