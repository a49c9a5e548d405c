"""What apply takes besides the plan, what apply and resume return (and, re-exported, the
errors every backend raises)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner.runs.errors import BackendError, RunError
from runner.runs.folder import RunFolder
from runner.runs.records import ProgressRecord
from runner.runs.status import ExitCode, Status, exit_code

__all__ = ["ApplyOptions", "BackendError", "Compiled", "Results", "RunError", "RunResult", "StepResult"]


@dataclass(frozen=True)
class ApplyOptions:
    """How `apply` runs a plan, beyond what the plan says."""

    reuse: bool = True  # False (`apply --no-reuse`): every step runs, whatever its allow_reuse
    # Told the new run as soon as its folder exists, before anything runs or is submitted
    # (the CLI names it at once, with the commands that follow and stop it).
    started: Callable[[RunFolder], None] | None = None


@dataclass
class StepResult:
    name: str
    status: Status
    reason: str = ""
    progress: ProgressRecord | None = None  # the step's last numbers, where it ran
    output: str | None = None  # the append_row file, where the step has one
    reused_from: str | None = None


@dataclass
class RunResult:
    run: RunFolder
    status: Status
    steps: list[StepResult]
    note: str = ""  # the backend's word on what to do next, when it has one

    @property
    def exit_code(self) -> ExitCode:
        return exit_code(self.status)

    @property
    def reason(self) -> str:
        return next((s.reason for s in self.steps if not s.status.ok), "")


@dataclass
class Compiled:
    """What a backend compiles a plan to, where it compiles at all (the Azure targets):
    the compiled YAML (for azureml-v2, the job file `az ml job create -f` accepts), what
    apply will create or reuse, in words, and single files to link into folders of their
    own before the YAML is used (folder -> file)."""

    target: str
    text: str
    description: list[str]
    data: dict[str, Any]
    stage: dict[str, str]


@dataclass
class Results:
    path: str
    rows: int
    head: list[str]
