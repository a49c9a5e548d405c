"""Text and JSON views of a Plan, for `runner plan` (results go to stdout). The plan
holds real values; these views are where secrets become ***."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from typing import Any

from runner.inputs.snapshot import SnapshotError, list_code
from runner.inputs.units import size_text
from runner.inputs.work import StepWork
from runner.plan.plan import REDACTED, Plan, StepPlan
from runner.plan.references import ArgumentPlan, InputPlan, Secret

WIDTH = 100  # YAML line width in the resolved spec


def _param_value(value: Any) -> str:
    """A parameter as the plan's table shows it: `-` for none, text quoted (so `"5"` and
    `5` differ), a dataset binding as written. Not review's _diff_value: a diff shows text
    as written and an absent field as `(none)`."""
    if value is None:
        return "-"
    if isinstance(value, dict) and set(value) == {"dataset"}:
        return f"{{dataset: {value['dataset']}}}"
    return json.dumps(value) if isinstance(value, str) else str(value)


def _base_name(plan: Plan) -> str:
    return f"the base, {plan.chain[0]}" if len(plan.chain) > 1 else "the spec file"


def _parameter_lines(plan: Plan) -> list[str]:
    width = max(len(p.name) for p in plan.parameters)
    lines = []
    for p in plan.parameters:
        value, base = (REDACTED, REDACTED) if p.secret else (p.value, p.base_value)
        change = f"changed from {_param_value(base)}" if p.changed else "unchanged"
        lines.append(f"  {p.name:<{width}}  {_param_value(value)}  ({change}; set at {p.set_by})")
        for target in p.bound_to:
            lines.append(f"  {'':<{width}}    -> {target}")
    return lines


def input_location(item: InputPlan) -> str:
    if item.secret:
        return REDACTED
    return f"output '{item.output}' of step '{item.step}'" if item.step else item.location


def argument_text(arg: ArgumentPlan) -> str:
    """An argument as a reviewer sees it: secrets hidden, a step's output by name."""
    if arg.secret:
        return REDACTED
    if arg.input is not None and arg.input.step:
        return f"${{{{ {arg.input.reference} }}}}"
    return arg.value


def _input_line(item: InputPlan) -> str:
    via = f" <- parameters.{item.parameter}" if item.parameter else ""
    return f"{item.reference} ({item.kind}){via}: {input_location(item)}"


def _workers(step: StepPlan) -> str:
    if step.process_count_per_node is None:
        return f"{step.node_count} node(s) x one process per core of the VM (Azure's default)"
    return f"{step.workers} = {step.node_count} node(s) x {step.process_count_per_node} process(es)"


def _limit(value: int | None, unit: str) -> str:
    if value is None:
        return "-"
    return "-1 (no limit)" if value == -1 else f"{value}{unit}"


def _snapshot_lines(step: StepPlan, cwd: str) -> list[str]:
    """What of source_directory the step takes with it (runner.inputs.snapshot), as Azure
    would upload it, and whether that is above Azure's limits."""
    try:
        listing = list_code(os.path.join(cwd, step.source_directory))
    except SnapshotError as exc:
        return [f"  code snapshot  - ({exc})"]
    warning = listing.limit_warning()
    return [f"  code snapshot  {listing.summary()}", *([f"  warning        {warning}"] if warning else [])]


def work_text(work: StepWork) -> str:
    """'120 files, 4.5 MiB, ~52,000 rows -> 24 mini-batches on 2 workers'."""
    if work.files is None and work.mini_batches is None:
        return f"not counted: {work.note}" if work.note else "not counted"
    parts = []
    if work.files is not None:
        parts.append(f"{work.files:,} file{'s' if work.files != 1 else ''}")
    if work.bytes is not None:
        parts.append(size_text(work.bytes))
    if work.rows is not None:
        exact = all(i.rows_exact for i in work.inputs)
        parts.append(f"{'' if exact else '~'}{work.rows:,} rows")
    if work.mini_batches is not None:
        batches = f"{'' if work.exact else '~'}{work.mini_batches:,} mini-batch{'es' if work.mini_batches != 1 else ''}"
    else:
        batches = f"mini-batches: {work.note or 'counted at run time'}"
    workers = f" on {work.workers} worker{'s' if work.workers != 1 else ''}" if work.workers else ""
    return f"{', '.join(parts) or 'inputs not counted'} -> {batches}{workers}"


def _step_lines(step: StepPlan, cwd: str, work: StepWork | None = None) -> list[str]:
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
        *_snapshot_lines(step, cwd),
        *[f"  input          {_input_line(i)}" for i in step.inputs],
        *[f"  side input     {_input_line(i)}" for i in step.side_inputs],
        f"  output         {output}",
        f"  workers        {_workers(step)}{via('process_count_per_node') or via('node_count')}",
        f"  mini-batch     {step.mini_batch}{via('mini_batch_size')}",
        f"  failures       error_threshold {_limit(step.error_threshold, ' failed items')}, allowed_failed_count "
        f"{_limit(step.allowed_failed_count, ' failed mini-batches')}, allowed_failed_percent "
        f"{optional(step.allowed_failed_percent, '%')}",
        f"  tries          run_max_try {step.run_max_try}, run_invocation_timeout {step.run_invocation_timeout} s",
        f"  logging        {step.logging_level}",
        f"  arguments      {' '.join(argument_text(a) for a in step.arguments) or '-'}",
        f"  reuse          {work.reuse if work and work.reuse else 'allowed' if step.allow_reuse else 'never'}",
    ]
    if work is not None:
        lines.insert(lines.index(f"  mini-batch     {step.mini_batch}{via('mini_batch_size')}") + 1,
                     f"  work           {work_text(work)}")
    for name, value in step.environment_variables.items():
        lines.append(f"  env            {name}={REDACTED if name in step.secret_env else value}")
    return lines


def plan_text(plan: Plan, work: list[StepWork] | None = None) -> str:
    return hidden(_plan_text(plan, work), plan)


def _plan_text(plan: Plan, work: list[StepWork] | None = None) -> str:
    lines = [f"Plan for {plan.name} (target: {plan.target}, experiment: {plan.experiment})"]
    if len(plan.chain) > 1:
        lines.append(f"Spec: {plan.source} (variant chain: {' -> '.join(plan.chain)})")
    else:
        lines.append(f"Spec: {plan.source}")
    if plan.parameters:
        changed = [p.name for p in plan.parameters if p.changed]
        lines += ["", f"Parameters ({len(changed)} changed from {_base_name(plan)})", *_parameter_lines(plan)]
    by_step = {w.step: w for w in work or []}
    for step in plan.steps:
        lines += ["", *_step_lines(step, plan.cwd, by_step.get(step.name))]
    import yaml  # a second or so of `runner --help` otherwise: only plan text needs it

    resolved = yaml.safe_dump(redacted_spec(plan), sort_keys=False, default_flow_style=False, width=WIDTH)
    lines += ["", "Resolved spec (variants merged, templates rendered, parameters bound, defaults filled in):",
              *("  " + line for line in resolved.rstrip().splitlines())]
    return "\n".join(lines) + "\n"


def secret_values(plan: Plan) -> list[str]:
    """Every value of the plan read from a secret (as written and as JSON writes it), so
    a view can hide it wherever it ended up: a header, a compiled pipeline, a diff."""
    found: list[str] = []
    stack: list[Any] = [plan.resolved]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, Secret) and item:
            found += [str(item), json.dumps(str(item))[1:-1]]
    return found


def hidden(text: str, plan: Plan | None) -> str:
    """`text` with each of the plan's secret values shown as ***."""
    from runner.spec.secrets import redact

    return redact(text, secret_values(plan)) if plan is not None else text


def redacted_spec(plan: Plan) -> dict[str, Any]:
    """The resolved spec with each secret value shown as ***."""
    data = copy.deepcopy(plan.resolved)
    for path in plan.secrets:
        node: Any = data
        for part in path[:-1]:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        if isinstance(node, dict) and path[-1] in node or isinstance(node, list) and isinstance(path[-1], int) \
                and path[-1] < len(node):
            node[path[-1]] = REDACTED
    return data


def public_plan(plan: Plan, work: list[StepWork] | None = None) -> dict[str, Any]:
    """The plan as JSON data with secrets hidden (`runner plan --json`, plan.json)."""
    data = dataclasses.asdict(plan)
    del data["azure"]  # the compiled pipeline shows it (and it holds datastore credentials)
    if work is not None:
        data["work"] = [dataclasses.asdict(w) for w in work]
    data["resolved"] = redacted_spec(plan)
    for shown, parameter in zip(data["parameters"], plan.parameters, strict=True):
        if parameter.secret:
            shown["value"] = shown["base_value"] = REDACTED
    for shown, step in zip(data["steps"], plan.steps, strict=True):
        shown["arguments"] = [argument_text(a) for a in step.arguments]
        shown["environment_variables"] = {k: REDACTED if k in step.secret_env else v
                                          for k, v in step.environment_variables.items()}
        for item, real in zip((*shown["inputs"], *shown["side_inputs"]), (*step.inputs, *step.side_inputs),
                              strict=True):
            item["location"] = input_location(real)
        for name, path in shown["models"].items():
            shown["models"][name] = REDACTED if isinstance(path, Secret) else path
    return data


def plan_json(plan: Plan, work: list[StepWork] | None = None) -> str:
    return hidden(json.dumps(public_plan(plan, work), indent=2) + "\n", plan)
