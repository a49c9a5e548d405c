"""The plan's steps as this machine runs them: every path absolute (workers run in
their source_directory) and each reference to another step's output given the folder
where this run keeps it. Stored as the run's job.json, so `runner resume` runs exactly
what was started, whatever the spec files say now."""

from __future__ import annotations

import dataclasses
import os

from runner.plan.plan import Plan, StepPlan
from runner.plan.references import ArgumentPlan, InputPlan, is_remote
from runner.runs.folder import RunFolder


def executable_steps(plan: Plan, run: RunFolder) -> list[StepPlan]:
    outputs: dict[tuple[str, str | None], str] = {
        (s.name, s.output): str(run.output_dir(s.name, s.output)) + os.sep for s in plan.steps if s.output}

    def place(item: InputPlan) -> InputPlan:
        if item.step is not None:
            return dataclasses.replace(item, location=outputs[(item.step, item.output)])
        return dataclasses.replace(item, location=_absolute(item.location, plan.cwd))

    def argument(arg: ArgumentPlan) -> ArgumentPlan:
        if arg.input is None:
            return arg
        placed = place(arg.input)
        return dataclasses.replace(arg, input=placed, value=placed.location)

    return [dataclasses.replace(
        step, source_directory=_absolute(step.source_directory, plan.cwd),
        entry_script=_absolute(step.entry_script, plan.cwd),
        inputs=[place(i) for i in step.inputs], side_inputs=[place(i) for i in step.side_inputs],
        arguments=[argument(a) for a in step.arguments],
        models={name: _absolute(path, plan.cwd) for name, path in step.models.items()},
        process_count_per_node=step.process_count_per_node or 1) for step in plan.steps]


def _absolute(path: str, cwd: str) -> str:
    if is_remote(path):
        return path  # refused by the engine's pre-flight, with the reason
    return os.path.normpath(os.path.join(cwd, path))


def side_inputs(step: StepPlan) -> dict[str, str]:
    """reference -> path, as entry scripts find them (RUNNER_SIDE_INPUTS)."""
    return {item.reference: item.location for item in step.side_inputs}


def workers(step: StepPlan) -> int:
    return step.node_count * (step.process_count_per_node or 1)
