"""Text and JSON views of a Plan, for `runner plan` (results go to stdout)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import yaml

from runner.plan.plan import InputPlan, Plan, StepPlan

WIDTH = 100  # YAML line width in the resolved spec


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict) and set(value) == {"dataset"}:
        return f"{{dataset: {value['dataset']}}}"
    return json.dumps(value) if isinstance(value, str) else str(value)


def _parameter_lines(plan: Plan) -> list[str]:
    width = max(len(p.name) for p in plan.parameters)
    lines = []
    for p in plan.parameters:
        change = f"changed from {_show(p.base_value)}" if p.changed else "as in the base"
        lines.append(f"  {p.name:<{width}}  {_show(p.value)}  ({change}; set at {p.set_by})")
        for target in p.bound_to:
            lines.append(f"  {'':<{width}}    -> {target}")
    return lines


def _input_line(item: InputPlan) -> str:
    via = f" <- parameters.{item.parameter}" if item.parameter else ""
    return f"{item.reference} ({item.kind}){via}: {item.location}"


def _step_lines(step: StepPlan) -> list[str]:
    bound = {field.split(".")[-1]: param for field, param in step.bindings.items()}

    def via(field: str) -> str:
        return f"  <- parameters.{bound[field]}" if field in bound else ""

    def optional(value: Any, unit: str = "") -> str:
        return "-" if value is None else f"{value}{unit}"

    output = "none"
    if step.output:
        output = f"{step.output}/{step.append_row_file}" if step.append_row_file else f"{step.output}/ (summary_only)"
    lines = [
        f"Step {step.name}",
        f"  entry script   {step.entry_script}",
        *[f"  input          {_input_line(i)}" for i in step.inputs],
        *[f"  side input     {_input_line(i)}" for i in step.side_inputs],
        f"  output         {output}",
        f"  workers        {step.workers} = {step.node_count} node(s) x {step.process_count_per_node} process(es)"
        f"{via('process_count_per_node') or via('node_count')}",
        f"  mini-batch     {step.mini_batch}{via('mini_batch_size')}",
        f"  failures       error_threshold {step.error_threshold} items, allowed_failed_count "
        f"{optional(step.allowed_failed_count)}, allowed_failed_percent {optional(step.allowed_failed_percent, '%')}",
        f"  tries          run_max_try {step.run_max_try}, run_invocation_timeout {step.run_invocation_timeout} s",
        f"  logging        {step.logging_level}",
        f"  arguments      {' '.join(step.arguments) or '-'}",
        f"  reuse          {'allowed' if step.allow_reuse else 'never'}",
    ]
    for name, value in step.environment_variables.items():
        lines.append(f"  env            {name}={value}")
    return lines


def plan_text(plan: Plan) -> str:
    lines = [f"Plan for {plan.name} (target: {plan.target}, experiment: {plan.experiment})"]
    if len(plan.chain) > 1:
        lines.append(f"Spec: {plan.source}, extends {' <- '.join(reversed(plan.chain[:-1]))}")
    else:
        lines.append(f"Spec: {plan.source}")
    if plan.parameters:
        changed = [p.name for p in plan.parameters if p.changed]
        lines += ["", f"Parameters ({len(changed)} changed from the base)", *_parameter_lines(plan)]
    for step in plan.steps:
        lines += ["", *_step_lines(step)]
    resolved = yaml.safe_dump(plan.resolved, sort_keys=False, default_flow_style=False, width=WIDTH)
    lines += ["", "Resolved spec (variants merged, templates rendered, parameters bound, defaults filled in):",
              *("  " + line for line in resolved.rstrip().splitlines())]
    return "\n".join(lines) + "\n"


def plan_json(plan: Plan) -> str:
    return json.dumps(dataclasses.asdict(plan), indent=2) + "\n"
