"""The programmatic entry point: what the CLI calls, usable from Python and notebooks.

A short facade: load and plan a spec, pick the Backend for its target (or for the
target a run was made with), and call it. Errors are exceptions (`SpecError` for a bad
spec, `RunError`, `BackendError`); nothing here prints or exits. Heavy modules are
imported where they are used, so `runner --help` stays fast.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from runner.runs.errors import BackendError, RunError
from runner.spec.diagnostics import SpecError

if TYPE_CHECKING:
    from runner.plan.plan import Plan
    from runner.inputs.work import StepWork
    from runner.review import Review
    from runner.runs.backend import Backend
    from runner.runs.folder import RunFolder
    from runner.runs.outcome import Compiled, Results, RunResult
    from runner.runs.views import LogChunk, RunSummary, RunView
    from runner.spec.load import LoadedSpec

__all__ = ["SpecError", "RunError", "BackendError", "ValidationResult", "TARGETS", "runs_dir", "backend_for",
           "validate", "plan", "plan_compiled", "preview", "review", "write_schemas", "prepare_example", "init_project", "apply", "resume", "retry",
           "cancel", "list_runs", "status", "results", "logs", "follow", "remove", "gc"]

# Each target's Backend, made by a factory that imports its engine only when called
# (`runner --help` stays fast). The factories' return type makes mypy check each backend
# class against the Backend protocol. `session` replaces an Azure target's SDK seam
# (tests); each Azure factory checks it is its SDK's kind (runner.azureml.sessions).
def _local(session: object) -> Backend:
    from runner.local.backend import LocalBackend

    return LocalBackend()


def _azureml(session: object) -> Backend:
    from runner.azureml.backend import AzureMLBackend
    from runner.azureml.sessions import v1_session

    return AzureMLBackend(v1_session(session))


def _azureml_v2(session: object) -> Backend:
    from runner.azureml.backend import AzureMLV2Backend
    from runner.azureml.sessions import v2_session

    return AzureMLV2Backend(v2_session(session))


# target -> its Backend's factory. A new engine is one module and one line here.
BACKENDS: dict[str, Callable[[object], Backend]] = {
    "local": _local,
    "azureml": _azureml,
    "azureml-v2": _azureml_v2,
}
TARGETS = tuple(BACKENDS)


def backend_for(target: str, session: object = None) -> Backend:
    """The backend that runs `target`. `session` replaces an Azure backend's SDK seam."""
    if target not in BACKENDS:
        raise BackendError(f"no backend for target '{target}' (there are: {', '.join(TARGETS)})")
    return BACKENDS[target](session)


@dataclass
class ValidationResult:
    path: str
    error: SpecError | None

    @property
    def ok(self) -> bool:
        return self.error is None


def _load(spec: str, sets: Sequence[str], set_params: Sequence[str],
          environ: Mapping[str, str] | None, target: str | None) -> LoadedSpec:
    from runner.spec.load import load_spec

    return load_spec(spec, sets, set_params, environ, target=target)


def validate(specs: Sequence[str], sets: Sequence[str] = (), set_params: Sequence[str] = (),
             environ: Mapping[str, str] | None = None, target: str | None = None,
             stdin: bytes | None = None, files: bool = True) -> list[ValidationResult]:
    """Validate each spec independently; never raises for a bad spec. A folder stands for
    the specs below it, `-` for `stdin`; what the target (`target`, else the spec's own)
    cannot express is an error too, and with `files` each file `apply` would find missing
    (the entry script, source directory, local datasets and models; runner/inputs/validate.py)."""
    from runner.inputs.validate import validate_paths

    return [ValidationResult(path, error)
            for path, error in validate_paths(specs, sets, set_params, environ, target, stdin, files)]


def _plan(loaded: LoadedSpec, target: str | None) -> Plan:
    from runner.inputs.checks import plan_here

    chosen = target or loaded.spec.target
    return plan_here(loaded, target=chosen, processes_per_node=backend_for(chosen).processes_per_node)


def plan(spec: str, sets: Sequence[str] = (), set_params: Sequence[str] = (), target: str | None = None,
         environ: Mapping[str, str] | None = None) -> Plan:
    """The resolved spec and what it will run (raises SpecError)."""
    return _plan(_load(spec, sets, set_params, environ, target), target)


def plan_compiled(spec: str, sets: Sequence[str] = (), set_params: Sequence[str] = (), target: str | None = None,
                  environ: Mapping[str, str] | None = None, base_dir: str = ".",
                  stage: bool = False, files: bool = True) -> tuple[Plan, Compiled | None]:
    """The plan and what its backend compiles it to (an Azure pipeline; None locally).
    Local paths in a v2 job are relative to `base_dir`, the folder its YAML goes to;
    with `stage`, what they name is made there too (RunError where it cannot be). With
    `files`, a file `apply` would find missing is a SpecError here too, as `validate` says."""
    from runner.inputs.checks import missing_files
    from runner.spec.diagnostics import unique_sorted

    loaded = _load(spec, sets, set_params, environ, target)
    result = _plan(loaded, target)
    missing = missing_files(loaded, result.target) if files else []
    if missing:
        raise SpecError(unique_sorted(missing), loaded.sources)
    backend = backend_for(result.target)
    compiled = backend.compile(result, base_dir)
    if stage and compiled is not None:
        backend.stage(compiled)
    return result, compiled


def preview(result: Plan, spec: str | None = None, root: Path | None = None) -> list[StepWork]:
    """Each step's work (inputs counted from a listing, mini-batches, workers) and whether
    `apply` would reuse an earlier run for it, with the reason. Cheap: no data is read."""
    from runner.inputs.work import estimate

    work = estimate(result)
    decisions = backend_for(result.target).reuse(result, root or runs_dir(spec))
    for item in work:
        item.reuse = decisions.get(item.step, "")
    return work


def review(new: str, old: str | None = None, against: str | None = None, sets: Sequence[str] = (),
           set_params: Sequence[str] = (), target: str | None = None,
           environ: Mapping[str, str] | None = None) -> Review:
    """What changes from `old` (another spec file) or from `new` as git revision `against`
    has it, to `new`: fields, parameters, work and (Azure targets) the compiled pipeline."""
    from runner.inputs.work import estimate
    from runner.review import Side, compare
    from runner.spec.gitref import git_reader
    from runner.spec.load import load_spec
    from runner.spec.variants import spec_file_exists

    loaded = _load(new, sets, set_params, environ, target)
    plan_new = _plan(loaded, target)
    backend = backend_for(plan_new.target)  # both sides are planned for the new side's target
    # The work only: a review compares what runs, not whether an earlier run is reused.
    new_side = Side(new, plan_new, estimate(plan_new), backend.compile(plan_new), loaded.tree)
    reader = git_reader(against, new) if against else None
    source = old or new
    name = f"{source} at {against}" if against else source
    if reader is not None and not spec_file_exists(new, reader):
        return compare(Side(name, None), new_side)  # a spec the revision does not have
    try:
        old_loaded = load_spec(source, sets, set_params, environ, reader=reader, target=plan_new.target)
        plan_old = _plan(old_loaded, plan_new.target)
    except SpecError as exc:  # the old side's own problems, said to be the old side's
        raise SpecError([dataclasses.replace(d, note=f"in {name}" + (f"; {d.note}" if d.note else ""))
                         for d in exc.diagnostics], exc.sources) from None
    old_side = Side(name, plan_old, estimate(plan_old), backend.compile(plan_old))
    return compare(old_side, new_side)


def write_schemas(folder: str | Path) -> list[Path]:
    """Write the JSON Schemas of specs and variants (what editors check) and of `status
    --json` and `runs --json` (what scripts read) into `folder`; returns the files written."""
    from runner.runs.views import RUNS_SCHEMA_FILE, STATUS_SCHEMA_FILE, runs_schema, status_schema
    from runner.spec.schema import SPEC_SCHEMA_FILE, VARIANT_SCHEMA_FILE, dumps, spec_schema, variant_schema

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in ((SPEC_SCHEMA_FILE, spec_schema()), (VARIANT_SCHEMA_FILE, variant_schema()),
                         (STATUS_SCHEMA_FILE, status_schema()), (RUNS_SCHEMA_FILE, runs_schema())):
        target = folder / name
        target.write_text(dumps(schema), encoding="utf-8")
        written.append(target)
    return written


EXAMPLES = ("mnist", "tabular")


def prepare_example(name: str, root: str | Path = ".", force: bool = False) -> Any:
    """Make an example's data and model from what an installed package ships."""
    if name not in EXAMPLES:
        raise RunError(f"no example named '{name}' (there are: {', '.join(EXAMPLES)})")
    return importlib.import_module(f"runner.examples.{name}").prepare(root, force=force)


def init_project(folder: str | Path = ".", tabular: bool = False, force: bool = False,
                 name: str | None = None) -> Any:
    """Write a new project that validates and runs as it is (runner/examples/scaffold.py);
    RunError, with nothing written, where a file is there already, unless `force`."""
    from runner.examples.scaffold import scaffold

    return scaffold(folder, tabular, force, name)


def apply(spec: str, sets: Sequence[str] = (), set_params: Sequence[str] = (), target: str | None = None,
          environ: Mapping[str, str] | None = None, root: Path | None = None, stream: IO[str] | None = None,
          session: object = None) -> RunResult:
    """Run a spec on its target (or `target`), in a new run folder under `root` (the
    project's runs: `runs_dir(spec)`), to its end. `session` replaces an Azure target's
    SDK seam (tests)."""
    result = plan(spec, sets, set_params, target, environ)
    return backend_for(result.target, session).apply(result, root or runs_dir(spec), stream)


def runs_dir(spec: str | None = None) -> Path:
    """Where runs are kept: the nearest `.runner/` up from the working directory (from
    the spec's folder for `apply`), or $RUNNER_HOME (runner/runs/home.py has the rule)."""
    from runner.runs.home import runs_dir as find

    return find(spec)


def _run_backend(run: str, root: Path | None, session: object = None) -> tuple[RunFolder, Backend]:
    from runner.runs import inspect

    folder = inspect.find(run, root or runs_dir())
    return folder, backend_for(inspect.read(folder).target, session)


def resume(run: str, root: Path | None = None, stream: IO[str] | None = None,
           accept_changed_inputs: bool = False) -> RunResult:
    """Finish an interrupted run (Ctrl-C, a killed driver): committed work is kept, torn
    output is cut back to the last commit, the rest runs. Inputs changed since the run
    was planned stop it first, unless `accept_changed_inputs`."""
    folder, backend = _run_backend(run, root)
    return backend.resume(folder, root or runs_dir(), stream, accept_changed_inputs)


def retry(run: str, root: Path | None = None, stream: IO[str] | None = None, update_code: bool = False,
          sets: Sequence[str] = (), set_params: Sequence[str] = (), accept_changed_inputs: bool = False) -> RunResult:
    """Run a finished run's failed and never-run items again into its own output, each row
    once: with the run's code snapshot (transient failures), or with `update_code` a new
    snapshot of source_directory (a fix). `sets`/`set_params` change a timeout, tries,
    processes or environment variables (RunError for anything else). Nothing to retry:
    the result has no steps, and its note says why."""
    folder, backend = _run_backend(run, root)
    return backend.retry(folder, root or runs_dir(), stream, update_code, sets, set_params, accept_changed_inputs)


def cancel(run: str, root: Path | None = None, session: object = None) -> str:
    """Stop a running run from any terminal; says what was done. `session` replaces an
    Azure target's SDK seam."""
    folder, backend = _run_backend(run, root, session)
    return backend.cancel(folder)


def list_runs(root: Path | None = None, statuses: Sequence[str] = (),
              limit: int | None = None) -> list[RunSummary]:
    """Every run, oldest first, with its status (a run whose driver is gone while it said
    running is shown as interrupted); only those in `statuses` if any; the newest `limit`."""
    from runner.runs import inspect

    found = [run for run in inspect.list_all(root or runs_dir()) if not statuses or run.status in statuses]
    return found[max(0, len(found) - limit):] if limit is not None else found


def status(run: str, root: Path | None = None, session: object = None) -> RunView:
    """The run with each step's record and progress; an Azure run's state refreshed from
    the service first (through `session`, the SDK seam; None: the real one)."""
    folder, backend = _run_backend(run, root, session)
    return backend.status(folder)


def results(run: str, head: int = 10, step: str | None = None, root: Path | None = None,
            in_input_order: bool = False) -> Results:
    """The output rows of a step (the last step with an append_row output by default);
    `in_input_order`: the first rows by input, not by when they finished."""
    folder, backend = _run_backend(run, root)
    return backend.results(folder, head, step, in_input_order)


def logs(run: str, worker: int | None = None, system: bool = False, step: str | None = None,
         root: Path | None = None) -> Iterator[LogChunk]:
    """The text of the logs: each worker's user logs, or the driver's (--sys)."""
    folder, backend = _run_backend(run, root)
    return backend.logs(folder, worker, system, step)


def follow(run: str, worker: int | None = None, system: bool = False, step: str | None = None,
           interval: float = 0.25, root: Path | None = None) -> Iterator[LogChunk]:
    """What the driver's log and the workers' user logs (only `worker`'s; only the
    driver's with `system`) gain as they grow, until the run ends."""
    folder, backend = _run_backend(run, root)
    return backend.follow(folder, worker, system, step, interval)


def remove(runs: Sequence[str], force: bool = False, root: Path | None = None) -> list[str]:
    """Delete runs' folders; says what was removed. A running run is refused; so is one
    whose output a later run reused, unless `force` (RunError says what would break)."""
    from runner.runs import housekeeping

    return housekeeping.remove(root or runs_dir(), runs, force)


def gc(keep: int | None = None, dry_run: bool = False, root: Path | None = None) -> list[str]:
    """Remove pre-flight failures, and with `keep` every run but the newest `keep` of
    each spec; a run whose output a kept run reused is kept, and said so."""
    from runner.runs import housekeeping

    return housekeeping.gc(root or runs_dir(), keep, dry_run)
