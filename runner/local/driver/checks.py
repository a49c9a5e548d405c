"""What the local engine checks: before any worker starts (pre-flight: exit 2 with
every problem at once) and after each finished mini-batch (the thresholds that stop a
step with exit 1)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from runner.inputs.listing import is_glob
from runner.inputs.remote import is_store
from runner.local.job import side_inputs
from runner.local.output.ledger import Ledger
from runner.plan.plan import REDACTED, StepPlan
from runner.plan.references import InputPlan, is_remote
from runner.runs.display import counted
from runner.runs.errors import PreflightError as PreflightError  # re-exported: the engine's checks raise it
from runner.runs.folder import StepFolder


def thresholds(job: StepPlan, total: int) -> Callable[[Ledger], str | None]:
    def check(ledger: Ledger) -> str | None:
        t = ledger.totals
        if job.error_threshold != -1 and t.items.failed > job.error_threshold:
            return (f"error_threshold exceeded: {counted(t.items.failed, 'item')} failed, more than the "
                    f"{job.error_threshold} allowed{_first_error(t.first_errors)}")
        if job.allowed_failed_count not in (None, -1) and t.mini_batches.failed > job.allowed_failed_count:
            return (f"allowed_failed_count exceeded: {counted(t.mini_batches.failed, 'mini-batch', 'mini-batches')} "
                    "failed, more than "
                    f"the {job.allowed_failed_count} allowed{_first_error(t.first_errors)}")
        if job.allowed_failed_percent is not None and job.allowed_failed_percent < 100:
            percent = 100.0 * t.mini_batches.failed / total
            if percent > job.allowed_failed_percent:
                return (f"allowed_failed_percent exceeded: {t.mini_batches.failed} of {total} mini-batches "
                        f"failed ({percent:.1f}% > {job.allowed_failed_percent:g}%)"
                        f"{_first_error(t.first_errors)}")
        return None

    return check


def within(job: StepPlan, ledger: Ledger, failed_items: Path) -> str:
    """A step that succeeded with failures says how many, the first error and where they
    are listed: `succeeded` alone reads as if nothing failed."""
    t = ledger.totals
    if not t.items.failed and not t.mini_batches.failed:
        return ""
    first = _first_error(t.first_errors).removeprefix("; ")
    # Lines of their own: the path is long, and a terminal wraps it wherever it must.
    return (f"{counted(t.items.failed, 'item')} and {counted(t.mini_batches.failed, 'mini-batch', 'mini-batches')} "
            f"failed, within the thresholds (error_threshold {job.error_threshold})"
            f"{chr(10) + first if first else ''}\nlisted in {failed_items}")


def _first_error(errors: list[str]) -> str:
    if not errors:
        return ""
    lines = [line for line in errors[0].strip().splitlines() if line.strip()]
    return f"; the first error: {lines[-1].strip()}" if lines else ""


def code_problems(job: StepPlan) -> list[str]:
    """What is wrong with the step's code: its source_directory and entry script."""
    problems = []
    if not os.path.isdir(job.source_directory):
        problems.append(f"source_directory {job.source_directory} is not a folder")
    if not os.path.isfile(job.entry_script):
        problems.append(f"entry_script {job.entry_script} does not exist")
        return problems
    try:
        with open(job.entry_script, "rb") as handle:
            compile(handle.read(), job.entry_script, "exec")
    except SyntaxError as exc:
        problems.append(f"entry_script {job.entry_script} has a syntax error at line {exc.lineno}: {exc.msg}")
    except (OSError, ValueError) as exc:  # unreadable; a NUL byte in the source
        problems.append(f"entry_script {job.entry_script} cannot be compiled: {exc}")
    return problems


def preflight(job: StepPlan, folder: StepFolder, output: str | None) -> None:
    problems = code_problems(job)
    missing = False
    for name, path in {**job.models, **side_inputs(job)}.items():
        if not os.path.exists(path):
            problems.append(f"{name}: {path} does not exist")
            missing = True
    for item in job.inputs:
        if is_store(item.location):
            continue  # on object storage: the listing says what is missing there
        if is_remote(item.location):
            problems.append(f"{item.reference}: {item.location} is read on the Azure targets only; locally, "
                            "give a path on this machine or on object storage (s3://, az://, gs://)")
        elif item.step is None and not is_glob(item.location) and not os.path.exists(item.location):
            problems.append(f"{item.reference}: {item.location} does not exist")
            missing = True
        elif _empty_table(item):
            problems.append(f"{item.reference}: {item.location} is empty (0 bytes): a table needs at least its "
                            "rows (a CSV file its header too)")
    if missing:
        problems.append("(the example specs' data and models are made by `runner example mnist` and "
                        "`runner example tabular`)")
    try:
        folder.path.mkdir(parents=True, exist_ok=True)
        target = os.path.dirname(output) if output else str(folder.outputs)
        os.makedirs(target, exist_ok=True)
        probe = os.path.join(target, ".write-test")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as exc:
        problems.append(f"the output folder is not writable: {exc.strerror or exc}")
    if problems:
        raise PreflightError(hide_secrets("\n".join(problems), job))


def _empty_table(item: InputPlan) -> bool:
    """A tabular dataset that is one file of no bytes: no header, no row, no Parquet
    footer; its one mini-batch could only fail."""
    if item.kind != "tabular" or item.step is not None or item.manifest or is_glob(item.location):
        return False
    try:
        return os.path.isfile(item.location) and os.path.getsize(item.location) == 0
    except OSError:
        return False


def hide_secrets(text: str, job: StepPlan) -> str:
    """A message about a step's inputs with each location read from a secret (a URL with
    a token in it) shown as ***: messages go to the terminal, run.json and `runner status`."""
    for item in (*job.inputs, *job.side_inputs, *[a.input for a in job.arguments if a.input is not None]):
        if item.secret and item.location:
            text = text.replace(item.location, REDACTED)
    return text
