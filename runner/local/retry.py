"""`runner retry RUN`: run a finished run's failed and never-run mini-batches again, into
the run's own output (runner/local/output/ledger.py: each retry is an attempt of the step, and
its lines replace the failures they run again), with the run's code snapshot or, with
--update-code, a new one of source_directory as it is now; --set and --set-param change
how it runs (a timeout, tries, processes, environment), never what it reads or writes.

What a retry changes is kept in step.json (`retried`: one RetryRecord per retry) and
job.json (the fields), before anything runs: a retry killed partway is resumed, or
retried again, with the same code and settings, and every row is still there once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import ExitCode, RunnerError
from runner.inputs.snapshot import SnapshotError, ignore_rules
from runner.local.driver.checks import PreflightError, preflight
from runner.local.driver.snapshot import in_snapshot, take_version
from runner.local.output.ledger_line import current_lines
from runner.plan.plan import StepPlan
from runner.runs.display import counted
from runner.runs.errors import RunError
from runner.runs.folder import RunFolder, StepFolder
from runner.runs.records import JobRecord, RetryRecord, StepRecord
from runner.runs.status import Status
from runner.spec.secrets import REDACTED, credential_kind, names_a_credential
from runner.spec.tree import to_plain
from runner.spec.variants import flag, parse_assignment, parse_set_path
from runner.spec.yaml_loader import load_value

if TYPE_CHECKING:
    from runner.runs.views import CodeVersion

# parallel_run fields a retry may change: how the mini-batches run, not which they are,
# what they read or where their rows go.
CHANGEABLE = ("run_invocation_timeout", "run_max_try", "process_count_per_node", "node_count", "error_threshold",
              "allowed_failed_count", "allowed_failed_percent", "logging_level")
ENVIRONMENT = "environment_variables"
_WHY_NOT = {
    "mini_batch_size": "the run's mini-batches were fixed when it was planned, and its ledger counts them",
    "partition_keys": "the run's mini-batches were fixed when it was planned, and its ledger counts them",
}


class NothingToRetry(RunnerError):
    """Every mini-batch of the run is committed and none failed (args[0]: what to say):
    not a failure, so exit 0 (the local backend answers it with an empty result)."""

    exit_code = ExitCode.OK


@dataclasses.dataclass
class Work:
    """What a step's retry runs: mini-batches that failed, that never ran; and those that
    committed rows with some items missing (left as they are: their rows are in the output)."""

    failed: int = 0
    never_ran: int = 0
    partial: int = 0
    unfinished: bool = False  # never started, or stopped before its end (Ctrl-C, a kill): it goes on

    @property
    def any(self) -> bool:
        return bool(self.failed or self.never_ran or self.unfinished)


def work_of(step: StepFolder, info: StepRecord) -> Work:
    if info.status == Status.REUSED:
        return Work()  # another run's output, linked: that run is the one to retry
    work, seen = Work(unfinished=not info.status.ok and info.status != Status.FAILED), 0
    if not info.partitioned or not os.path.exists(step.ledger):
        return work
    for line in current_lines(step.ledger, bool(info.retried)):
        seen += 1
        if line.status != "ok":
            work.failed += 1
        elif line.failed:
            work.partial += 1
    work.never_ran = (info.mini_batches or 0) - seen
    return work


def prepare(run: RunFolder, root: Path, update_code: bool, sets: Sequence[str], set_params: Sequence[str],
            check: Callable[[list[str]], None] = lambda steps: None) -> list[str]:
    """Record the next attempt of every step with work, with its code and settings;
    returns those steps. Raises NothingToRetry, or RunError for what cannot be retried
    (`check(steps)` may refuse too). Everything that can refuse is asked before anything
    is written: a refused retry leaves the run as it was (its status, its attempts, its
    code), so a typo in a fix never costs the run."""
    job = run.job()
    changes = parse_changes(job.steps, sets, set_params)
    infos = {plan.name: run.step(plan.name).read() for plan in job.steps}
    works = {name: work_of(run.step(name), info) for name, info in infos.items()}
    retrying = [plan for plan in job.steps if works[plan.name].any]
    if not retrying:
        raise NothingToRetry(_nothing(run, works, infos))
    for plan in retrying:
        _check_downstream(run, plan, job.steps, infos)
    check([plan.name for plan in retrying])
    for plan in retrying:
        _check_code(run, plan, infos[plan.name], update_code)
    steps = [_changed(plan, changes.get(plan.name, {})) if works[plan.name].any else plan for plan in job.steps]
    versions = {plan.name: _code(plan, run.step(plan.name), infos[plan.name], update_code, root)
                for plan in retrying}
    for plan in retrying:
        _own_outputs(run.step(plan.name))
    run.write_job(JobRecord(job.target, steps, job.version))
    for plan in retrying:
        recorded = {field: value.recorded for field, value in changes.get(plan.name, {}).items()}
        _record(run.step(plan.name), infos[plan.name], versions[plan.name], recorded)
    return [plan.name for plan in retrying]


def _nothing(run: RunFolder, works: dict[str, Work], infos: dict[str, StepRecord]) -> str:
    partial = sum(w.partial for w in works.values())
    text = f"nothing to retry: every mini-batch of run {run.id} is committed, and none failed"
    failed = [info for info in infos.values() if info.status == Status.FAILED]
    if failed:
        text += f"; step '{failed[0].name}' failed after its mini-batches: {failed[0].reason}"
    if partial:
        text += (f"; {counted(partial, 'mini-batch', 'mini-batches')} committed rows with some items missing (run() returned fewer results "
                 "than items). Their rows are in the output, so a retry leaves them; failed_items.jsonl lists them, "
                 "and a dataset with `manifest: true` over it runs them in a new run")
    return text


def _check_downstream(run: RunFolder, plan: StepPlan, steps: list[StepPlan], infos: dict[str, StepRecord]) -> None:
    """A later step that already read this step's output would miss the retried rows."""
    if infos[plan.name].started is None:
        return
    for later in steps:
        reads = [i for i in (*later.inputs, *later.side_inputs, *[a.input for a in later.arguments if a.input])
                 if i.step == plan.name]
        if reads and (infos[later.name].started is not None or infos[later.name].status.ok):
            raise RunError(f"step '{later.name}' of run {run.id} already read the output of step '{plan.name}', "
                           f"so a retry of '{plan.name}' would add rows '{later.name}' never saw; apply the spec "
                           "again for a new run")


def _own_outputs(step: StepFolder) -> None:
    """A later run that reused this step's output shares its files (hard links): rows a
    retry appends must not change that run's output, so each shared file becomes a copy."""
    outputs = step.outputs
    if not outputs.is_dir():
        return
    for path in outputs.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_nlink > 1:
            tmp = path.with_name(path.name + ".retry-copy")
            shutil.copy2(path, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)


def _check_code(run: RunFolder, plan: StepPlan, info: StepRecord, update_code: bool) -> None:
    """Refuse, before the run changes, a retry that could not start: the pre-flight
    checks on the code it would run (the code as it is now with --update-code, else the
    run's snapshot of it), its models, inputs and output folder."""
    step = run.step(plan.name)
    found = run.output_file(plan)
    snapshot = not update_code and bool(info.snapshot) and step.snapshot(info.code).is_dir()
    code = in_snapshot(plan, step, info.code) if snapshot else plan  # no snapshot yet: the engine takes one
    try:
        preflight(code, step, str(found) if found else None)
        if update_code:
            _check_listed(plan)
    except PreflightError as exc:
        text = str(exc).replace(code.source_directory + os.sep, plan.source_directory + os.sep)
        where = " with the run's code snapshot" if snapshot else " with the code as it is now" if update_code else ""
        hint = (f"to run the code as it is now, `runner retry {run.id} --update-code`, or apply the spec again"
                if snapshot and "entry_script" in text else "fix it and run the same command again")
        raise PreflightError(f"cannot retry step '{plan.name}'{where}; nothing in the run was changed:\n{text}\n"
                             f"({hint})") from exc


def _check_listed(plan: StepPlan) -> None:
    """The entry script is one of the files a snapshot of source_directory takes."""
    script = os.path.relpath(plan.entry_script, plan.source_directory).replace(os.sep, "/")
    try:
        name, rules = ignore_rules(plan.source_directory)
    except SnapshotError as exc:
        raise PreflightError(str(exc)) from exc
    if name is not None and rules.leaves_out(script):
        raise PreflightError(f"entry_script {plan.entry_script} is left out of the code snapshot by "
                             f"{os.path.join(plan.source_directory, name)}, as Azure ML would leave it out of its "
                             "upload: change that file's patterns")


def _code(plan: StepPlan, step: StepFolder, info: StepRecord, update_code: bool, root: Path) -> tuple[int, str]:
    """The code version the next attempt runs, and its digest (with --update-code, a
    copy taken now: one that fails or leaves out the entry script is removed again)."""
    attempt = info.attempt + 1
    current = info.retried[-1].snapshot if info.retried else info.snapshot
    if not update_code:
        return info.code, current
    copy = step.snapshot(attempt)
    try:
        digest, _, _ = take_version(plan, step, [str(root)], attempt)  # a PreflightError is a RunError
        if not os.path.isfile(in_snapshot(plan, step, attempt).entry_script):
            raise PreflightError(f"cannot retry step '{plan.name}': the ignore file of {plan.source_directory} "
                                 f"leaves its entry_script {plan.entry_script} out of the code snapshot, as Azure "
                                 "ML would leave it out of its upload; nothing in the run was changed: change that "
                                 "file's patterns")
    except (PreflightError, OSError):
        shutil.rmtree(copy, ignore_errors=True)
        raise
    return attempt, digest


def _record(step: StepFolder, info: StepRecord, version: tuple[int, str], changes: dict[str, Any]) -> None:
    code, digest = version
    fingerprint, parts = info.fingerprint, info.parts
    if fingerprint and code != info.code:
        # Rows of two code versions: an output no apply of either version would make, so
        # never reused as if it were (nor are the steps downstream of it), and `runner
        # plan` (which compares the parts) never says it would be.
        fingerprint = hashlib.sha256(f"{fingerprint}\0retry {info.attempt + 1}\0{digest}".encode()).hexdigest()
        parts = {**parts, "code": f"{parts.get('code', info.snapshot)} then {digest} (runner retry --update-code)"}
    retry = RetryRecord(attempt=info.attempt + 1, started=time.time(), code=code, snapshot=digest, changes=changes)
    step.update(retried=[*info.retried, retry], fingerprint=fingerprint, parts=parts,
                status=Status.INTERRUPTED if info.status.ok else info.status, reason="")


# --- --set and --set-param -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Change:
    """A field's new value (job.json, mode 0600, hands it to the workers) and what
    step.json and `runner status` show of it: *** for a secret read from the environment."""

    value: Any
    recorded: Any


def parse_changes(steps: list[StepPlan], sets: Sequence[str],
                  set_params: Sequence[str]) -> dict[str, dict[str, Change]]:
    """step name -> {field: change} from `--set [steps[I].][parallel_run.]FIELD=VALUE` (no
    step: every step) and `--set-param NAME=VALUE` (the fields the parameter is bound to).
    Paths and values are read as `apply --set` reads them (spec/variants.py: the same
    grammar, YAML 1.2, the same errors); a VALUE of `{{ env.NAME }}` is read from the
    environment. Raises SpecError for a malformed assignment, RunError for a field a
    retry cannot change, a value the spec would refuse, or a secret given literally."""
    changes: dict[str, dict[str, Change]] = {}
    for assignment in sets:
        shown = flag("--set", assignment)
        path, _, text = assignment.partition("=")
        from_env = env_reference(text)
        parts, value = parse_assignment(f"{path}=" if from_env else assignment, shown)
        chosen, field = _target(parts, steps, shown)
        change = _change(field, _read_env(from_env, shown) if from_env else to_plain(value), bool(from_env), shown)
        for plan in chosen:
            changes.setdefault(plan.name, {})[field] = change
    for assignment in set_params:
        name, sep, text = assignment.partition("=")
        shown = flag("--set-param", assignment)
        if not sep:
            raise RunError(f"{shown}: expected NAME=VALUE")
        bound = [(plan, field) for plan in steps for field, parameter in plan.bindings.items()
                 if parameter == name.strip()]
        if not bound:
            raise RunError(f"{shown}: no field of the run's steps is bound to a parameter '{name.strip()}'")
        from_env = env_reference(text)
        plain = _read_env(from_env, shown) if from_env else to_plain(load_value(text, shown))
        for plan, field in bound:
            parts = parse_set_path(field) or [field]
            _, short = _target(parts, [plan], f"{shown} (bound to {field})")
            changes.setdefault(plan.name, {})[short] = _change(short, plain, bool(from_env), shown)
    return changes


def env_reference(text: str) -> str | None:
    """NAME of a value written `{{ env.NAME }}` (as a spec reads a secret), else None."""
    stripped = text.strip()
    if not (stripped.startswith("{{") and stripped.endswith("}}")):
        return None
    inner = stripped[2:-2].strip()
    name = inner[4:] if inner.startswith("env.") else ""
    return name if name.isidentifier() else None


def _read_env(name: str | None, shown: str) -> str:
    value = os.environ.get(name or "")
    if value is None:
        raise RunError(f"{shown}: the environment variable {name} is not set")
    return value


def _change(field: str, value: Any, from_env: bool, shown: str) -> Change:
    """The checked value, refused when it is a secret given literally: a retry keeps its
    changes in step.json, which anyone who can read the run folder reads."""
    checked = _value(field, value, shown)
    variable = field.partition(".")[2] if field.startswith(ENVIRONMENT + ".") else ""
    kind = credential_kind(checked) if isinstance(checked, str) else None
    if not kind and not (variable and names_a_credential(variable)):
        return Change(checked, checked)
    if from_env:
        return Change(checked, REDACTED)
    what = f"this looks like {kind}" if kind else f"{variable} names a secret"
    raise RunError(f"{shown}: {what}: secrets must not be given literally (a retry keeps what it changes in the "
                   "run's step.json); use \"{{ env.NAME }}\" to read it from the environment")


def _target(parts: list[str | int], steps: list[StepPlan], shown: str) -> tuple[list[StepPlan], str]:
    chosen = steps
    if parts[0] == "steps":
        if len(parts) < 2:
            raise RunError(f"{shown}: expected steps[I].parallel_run.FIELD=VALUE or FIELD=VALUE")
        chosen, parts = _step_of(parts[1], steps, shown), parts[2:]
    if parts and parts[0] == "parallel_run":
        parts = parts[1:]
    field = ".".join(str(part) for part in parts)
    if len(parts) == 2 and parts[0] == ENVIRONMENT and isinstance(parts[1], str):
        return chosen, field
    if len(parts) == 1 and parts[0] in CHANGEABLE:
        return chosen, field
    why = _WHY_NOT.get(field, "the retried items and where their rows go stay those of the run")
    raise RunError(f"{shown}: a retry cannot change {field or 'steps'!r}: {why}. A retry may change "
                   f"{', '.join(CHANGEABLE)} and {ENVIRONMENT}.NAME; to change anything else, apply the spec "
                   "again (a dataset with `manifest: true` over the run's failed_items.jsonl runs just what failed)")


def _step_of(key: str | int, steps: list[StepPlan], shown: str) -> list[StepPlan]:
    """`steps[0]` or `steps.score` (names as the spec's --set takes them)."""
    for index, plan in enumerate(steps):
        if key in (index, plan.name):
            return [plan]
    raise RunError(f"{shown}: the run has no step '{key}' (its steps: {', '.join(s.name for s in steps)})")


def _value(field: str, value: Any, shown: str) -> Any:
    """The value checked by the spec's own rules."""
    from pydantic import ValidationError

    from runner.spec.models import ParallelRun

    name, _, variable = field.partition(".")
    data: dict[str, Any] = {"entry_script": "x.py", name: {variable: value} if variable else value}
    try:
        checked = ParallelRun.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(error["msg"] for error in exc.errors())
        raise RunError(f"{shown}: {problems}") from exc
    result = getattr(checked, name)
    return result[variable] if variable else result


def _changed(plan: StepPlan, given: dict[str, Change]) -> StepPlan:
    if not given:
        return plan
    changes = {field: change.value for field, change in given.items()}
    fields = {k: v for k, v in changes.items() if not k.startswith(ENVIRONMENT + ".")}
    env = {k.split(".", 1)[1]: str(v) for k, v in changes.items() if k.startswith(ENVIRONMENT + ".")}
    updated = dataclasses.replace(plan, **fields)
    if env:
        updated = dataclasses.replace(updated, environment_variables={**plan.environment_variables, **env})
    per_node = updated.process_count_per_node or 1
    return dataclasses.replace(updated, workers=updated.node_count * per_node)


def code_versions(step: StepFolder) -> tuple[CodeVersion, ...]:
    """Each code version the step ran (`runner status`): which attempts ran it, and the
    mini-batches and rows of the output it made."""
    from runner.runs.views import CodeVersion  # status only: apply does not pay for the views

    info = step.read()
    code_of = [0, *(retry.code for retry in info.retried)]  # attempt -> code version
    attempts: dict[int, list[int]] = {}
    for attempt, code in enumerate(code_of):
        attempts.setdefault(code, []).append(attempt)
    made = {code: [0, 0] for code in attempts}  # code version -> [mini-batches, rows]
    for line in current_lines(step.ledger):
        counts = made[code_of[line.gen] if line.gen < len(code_of) else 0]
        counts[0] += 1
        counts[1] += line.rows
    return tuple(CodeVersion(code, info.snapshot if code == 0 else info.retried[code - 1].snapshot,
                             tuple(runs), made[code][0], made[code][1]) for code, runs in attempts.items())
