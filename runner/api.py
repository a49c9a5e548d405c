"""The programmatic entry point: what the CLI calls, usable from Python and notebooks.

A short facade: load and plan a spec, pick the Backend for its target (or for the
target a run was made with), and call it. Errors are exceptions (`SpecError` for a bad
spec, `RunError`, `BackendError`); nothing here prints or exits. Heavy modules are
imported where they are used, so `runner --help` stays fast.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from runner.runs.errors import BackendError, RunError
from runner.spec.diagnostics import SpecError

if TYPE_CHECKING:
    from runner.plan.plan import Plan
    from runner.inputs.work import StepWork
    from runner.review.compare import Review
    from runner.runs.backend import Backend
    from runner.runs.folder import RunFolder
    from runner.runs.outcome import ApplyOptions, Compiled, Results, RunResult
    from runner.runs.views import LogChunk, RunSummary, RunView
    from runner.spec.load import LoadedSpec

__all__ = ["SpecError", "RunError", "BackendError", "ValidationResult", "TARGETS", "runs_dir", "backend_for",
           "validate", "plan", "plan_compiled", "preview", "review", "review_specs", "write_schemas", "prepare_example", "init_project", "apply", "resume", "retry",
           "cancel", "list_runs", "status", "results", "logs", "follow", "remove", "gc"]

# Each target's Backend, made by a factory that imports its engine only when called
# (`runner --help` stays fast). The factories' return type makes mypy check each backend
# class against the Backend protocol. `session` replaces an Azure target's SDK seam
# (tests); each Azure factory checks it is its SDK's kind (runner.azureml.sessions).
def _local(session: object) -> Backend:
    from runner.local.backend import LocalBackend

    return LocalBackend()


def _ray(session: object) -> Backend:
    from runner.ray.backend import RayBackend

    return RayBackend()


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
    "ray": _ray,
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
          environ: Mapping[str, str] | None, target: str | None = None, text: str | None = None) -> LoadedSpec:
    from runner.spec.load import load_spec

    return load_spec(spec, sets, set_params, environ, text=text, target=target)


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
         environ: Mapping[str, str] | None = None, text: str | None = None) -> Plan:
    """The resolved spec and what it will run (raises SpecError). `text`: the spec itself
    (standard input), named `spec` in messages."""
    return _plan(_load(spec, sets, set_params, environ, target, text), target)


def plan_compiled(spec: str, sets: Sequence[str] = (), set_params: Sequence[str] = (), target: str | None = None,
                  environ: Mapping[str, str] | None = None, base_dir: str = ".",
                  stage: bool = False, text: str | None = None, files: bool = True) -> tuple[Plan, Compiled | None]:
    """The plan and what its backend compiles it to (an Azure pipeline; None locally).
    Local paths in a v2 job are relative to `base_dir`, the folder its YAML goes to;
    with `stage`, what they name is made there too (RunError where it cannot be). With
    `files`, a file `apply` would find missing is a SpecError here too, as `validate` says."""
    from runner.inputs.checks import missing_files
    from runner.spec.diagnostics import unique_sorted

    loaded = _load(spec, sets, set_params, environ, target, text)
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
    has it (under its name there, where it was renamed since), to `new`: fields,
    parameters, each step's code, models and work, and (Azure targets) the compiled
    pipeline. At a revision, the old side's code, models and inputs are git's at it."""
    from runner.inputs.work import estimate
    from runner.review.compare import Side, compare
    from runner.review.revision import files_changes, work_at
    from runner.spec.gitref import Revision
    from runner.spec.variants import spec_file_exists

    loaded = _load(new, sets, set_params, environ, target)
    plan_new = _plan(loaded, target)
    backend = backend_for(plan_new.target)  # both sides are planned for the new side's target
    # The work only: a review compares what runs, not whether an earlier run is reused.
    new_side = Side(new, plan_new, estimate(plan_new), backend.compile(plan_new), loaded.tree)
    rev = Revision.of(against, new) if against else None
    source, renamed = old or new, ""
    if rev is not None and not spec_file_exists(new, rev.read):
        rel = rev.rel(new)
        was = rev.renamed_from(rel) if rel else None
        if was is None:  # a spec the revision does not have
            return compare(Side(f"{new} at {against}", None), new_side)
        source = renamed = os.path.relpath(os.path.join(rev.root, was))
    name = f"{source} at {against}" if against else source
    old_loaded = _load_old(source, name, sets, set_params, environ, rev.read if rev else None, plan_new.target)
    plan_old = _plan_old(old_loaded, name, plan_new.target)
    work_old, notes = work_at(rev, plan_old, estimate(plan_old)) if rev else (estimate(plan_old), [])
    old_side = Side(name, plan_old, work_old, backend.compile(plan_old), old_loaded.tree, against or "")
    result = compare(old_side, new_side, files_changes(plan_old, plan_new, rev))
    result.renamed_from, result.notes = renamed, notes + _item_reuse_notes(plan_new, backend, new)
    return result


def _item_reuse_notes(plan: Plan, backend: Backend, spec: str) -> list[str]:
    """What applying an incremental step would reuse of the runs kept here, item by item,
    as `plan` says it: the same work can cost a thousand items or a million."""
    steps = [step.name for step in plan.steps if step.incremental]
    if not steps:
        return []
    decisions = backend.reuse(plan, runs_dir(spec))
    return [f"step {name}: {decisions[name]}" for name in steps if decisions.get(name)]


def _old_side_error(exc: SpecError, name: str) -> SpecError:
    """The old side's own problems, said to be the old side's."""
    return SpecError([dataclasses.replace(d, note=f"in {name}" + (f"; {d.note}" if d.note else ""))
                      for d in exc.diagnostics], exc.sources)


def _load_old(source: str, name: str, sets: Sequence[str], set_params: Sequence[str],
              environ: Mapping[str, str] | None, reader: Callable[[str], str] | None, target: str) -> LoadedSpec:
    from runner.spec.load import load_spec

    try:
        return load_spec(source, sets, set_params, environ, reader=reader, target=target)
    except SpecError as exc:
        raise _old_side_error(exc, name) from None


def _plan_old(loaded: LoadedSpec, name: str, target: str) -> Plan:
    try:
        return _plan(loaded, target)
    except SpecError as exc:
        raise _old_side_error(exc, name) from None


def review_specs(paths: Sequence[str], against: str, sets: Sequence[str] = (), set_params: Sequence[str] = (),
                 target: str | None = None, environ: Mapping[str, str] | None = None) -> list[Review]:
    """`review` of each spec named, a folder standing for every spec below it (variants
    included, runner/spec/discover.py): what a pull request changes, spec by spec."""
    from runner.review.compare import removed
    from runner.review.revision import removed_specs
    from runner.spec.diagnostics import Diagnostic, Mark
    from runner.spec.discover import find_specs
    from runner.spec.gitref import Revision

    specs: list[str] = []
    gone: list[str] = []
    for path in paths:
        if not os.path.isdir(path):
            specs.append(path)
            continue
        found = find_specs(path)
        gone += removed_specs(Revision.of(against, path), path)
        if not found and not gone:
            raise SpecError([Diagnostic(Mark(path, 0, 0), (), "no runner spec below this folder")])
        specs += [os.path.normpath(spec) for spec in found]
    reviews = [review(spec, against=against, sets=sets, set_params=set_params, target=target, environ=environ)
               for spec in dict.fromkeys(specs)]
    return reviews + [removed(f"{spec} at {against}", spec) for spec in dict.fromkeys(gone)]


def write_schemas(folder: str | Path) -> list[Path]:
    """Write the JSON Schemas of specs and variants (what editors check) and of `status
    --json` and `runs --json` (what scripts read) into `folder`; returns the files written."""
    from runner.runs.views import RUNS_SCHEMA_FILE, STATUS_SCHEMA_FILE, runs_schema, status_schema
    from runner.spec.schema import SPEC_SCHEMA_FILE, VARIANT_SCHEMA_FILE, dumps, spec_schema, variant_schema

    folder = Path(folder)
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, schema in ((SPEC_SCHEMA_FILE, spec_schema()), (VARIANT_SCHEMA_FILE, variant_schema()),
                             (STATUS_SCHEMA_FILE, status_schema()), (RUNS_SCHEMA_FILE, runs_schema())):
            target = folder / name
            target.write_text(dumps(schema), encoding="utf-8")
            written.append(target)
    except OSError as exc:  # a folder that cannot be made or written: the user's to fix (exit 2)
        raise RunError(f"cannot write the schemas into {folder}: {exc.strerror or exc}") from exc
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
          session: object = None, options: ApplyOptions | None = None) -> RunResult:
    """Run a spec on its target (or `target`), in a new run folder under `root` (the
    project's runs: `runs_dir(spec)`), to its end. `options`: no reuse, and who is told
    the run as it starts. `session` replaces an Azure target's SDK seam (tests)."""
    result = plan(spec, sets, set_params, target, environ)
    return backend_for(result.target, session).apply(result, root or runs_dir(spec), stream, options)


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
              limit: int | None = None, specs: Sequence[str] = ()) -> list[RunSummary]:
    """Every run, oldest first, with its status (a run whose driver is gone while it said
    running is shown as interrupted); only those in `statuses` if any, of `specs` if any
    (a spec file from the working directory, a file name, or a spec's name); the newest `limit`."""
    from runner.runs import inspect

    found = [run for run in inspect.list_all(root or runs_dir()) if (not statuses or run.status in statuses)
             and (not specs or any(_of_spec(run, name) for name in specs))]
    return found[max(0, len(found) - limit):] if limit is not None else found


def _of_spec(run: RunSummary, name: str) -> bool:
    """Whether `run` was applied from the spec `name` says: the same file (wherever the
    run was applied from), a file of that name, or a spec of that name."""
    if name in (run.name, os.path.basename(run.spec)):
        return True
    return bool(run.spec) and os.path.normpath(os.path.join(run.cwd, run.spec)) == os.path.abspath(name)


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


def report(run: str, output: Path | None = None, root: Path | None = None) -> Path:
    """Write the run's report, one self-contained HTML page, to `output` (default: the run
    folder's report.html); its path. An Azure run's shows what its folder records."""
    from runner.errors import file_system_error
    from runner.report import write_report
    from runner.runs import inspect

    folder = inspect.find(run, root or runs_dir())
    if output is not None and not output.parent.is_dir():
        raise RunError(f"cannot write the report to {output}: no folder {output.parent}")
    try:
        return write_report(folder, output)
    except OSError as exc:
        raise file_system_error(exc) from exc


def report_state(run: str, root: Path | None = None) -> tuple[Path, str]:
    """Where the run's report is, and whether it is `written`, `writing` (the driver started
    its writer as the run ended) or `none`."""
    from runner.runs import inspect

    folder = inspect.find(run, root or runs_dir())
    return folder.report_html, report_state_of(folder)


def report_state_of(folder: RunFolder) -> str:
    if folder.report_partial.exists():
        return "writing"
    return "written" if folder.report_html.exists() else "none"


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
