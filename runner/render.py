"""Text and JSON views of a Plan, for `runner plan` (results go to stdout). The plan
holds real values; these views are where secrets become ***."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from typing import Any

from runner.inputs.gpus import assignment, shared_devices
from runner.inputs.snapshot import ListingBudget, SnapshotError, list_code
from runner.inputs.units import size_text
from runner.inputs.work import StepWork
from runner.plan.plan import REDACTED, Plan, StepPlan
from runner.plan.ray import NodeRead, RayLayout, ray_layout
from runner.plan.references import ArgumentPlan, InputPlan, Secret
from runner.runs.folder import worker_name

WIDTH = 100  # YAML line width in the resolved spec
SHOWN_WORKERS = 8  # workers named in a step's GPU line; the rest are counted


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
    would upload it, and whether that is above Azure's limits. A folder far past them is
    refused (SnapshotTooLarge, exit 2) before it is walked whole."""
    try:
        listing = list_code(os.path.join(cwd, step.source_directory), budget=ListingBudget.for_plan())
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


def _step_lines(step: StepPlan, cwd: str, work: StepWork | None = None, target: str = "local") -> list[str]:
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
        *gpu_lines(step, target),
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


def gpu_assignment(step: StepPlan, target: str) -> tuple[dict[str, str], str]:
    """worker -> the device it sees, for a step the local engine runs on this machine's
    GPUs (runner/inputs/gpus.py), and where the device list came from; empty on another
    target or without GPUs."""
    if target != "local":
        return {}, ""
    devices = shared_devices(step.environment_variables)
    pairs = assignment(devices, step.node_count, step.process_count_per_node or 1)
    return {worker_name(node, process): device for node, process, device in pairs}, devices.source


def gpu_lines(step: StepPlan, target: str) -> list[str]:
    """'  gpus           node0/process000 -> 0, node0/process001 -> 1 (CUDA_VISIBLE_DEVICES, from nvidia-smi -L)'."""
    assigned, source = gpu_assignment(step, target)
    if not assigned:
        return []
    pairs = list(assigned.items())
    shown = ", ".join(f"{worker} -> {device}" for worker, device in pairs[:SHOWN_WORKERS])
    more = f", ... ({len(pairs) - SHOWN_WORKERS} more)" if len(pairs) > SHOWN_WORKERS else ""
    return [f"  gpus           {shown}{more} (CUDA_VISIBLE_DEVICES, from {source})"]


def _read_text(item: NodeRead) -> str:
    return f"{item.what}: {REDACTED if item.secret else item.location}"


def _amount(value: float) -> str:
    return f"{value:g}"


def ray_lines(layout: RayLayout) -> list[str]:
    """The ray target's section of the plan: cluster, actors, what is shipped, what each
    node reads."""
    lines = [f"Ray: {layout.cluster} (ray.address {layout.address})"]
    for actors in layout.steps:
        bundle = ", ".join(f"{kind} {_amount(amount)}" for kind, amount in actors.bundle.items())
        gpus = f" and {_amount(layout.gpus_per_worker)} GPU" if layout.gpus_per_worker else ""
        lines += [f"  actors         step {actors.step}: {actors.actors} = {actors.nodes} node(s) "
                  f"x {actors.per_node} actor(s), "
                  f"each {_amount(layout.cpus_per_worker)} CPU{gpus}",
                  f"  placement      a placement group of {actors.nodes} bundle(s) of {{{bundle}}}, one per node "
                  f"({layout.strategy})"]
    if layout.gpus_per_worker:
        lines.append("  gpus           Ray gives each actor its GPUs and sets its CUDA_VISIBLE_DEVICES")
    lines += [f"  shipped        {text}" for text in layout.shipped]
    lines += [f"  node reads     {_read_text(item)}" for item in layout.local_paths]
    if layout.local_paths:
        same = ("every node of a cluster started here is this machine" if layout.address == "local"
                else "local paths: each must hold the same data at the same path on every node")
        lines.append(f"                 ({same})")
    lines += [f"  store reads    {_read_text(item)} (each worker reads it from the store)"
              for item in layout.object_storage]
    lines += [f"  run folder     {text}: the driver writes it in the run's folder on this machine, which every node "
              "must read at the same path" for text in layout.run_folder]
    lines += [f"  warning        {warning}" for warning in ray_warnings(layout)]
    return lines


def ray_warnings(layout: RayLayout, cpus: int | None = None) -> list[str]:
    """What would keep the actors of a cluster started here (`address: local`, one node:
    this machine) from being placed: more CPUs or GPUs than the machine has (`cpus`: its
    CPU count, os.cpu_count() by default). A step's placement group is placed whole or not
    at all, so its actors would wait, then fail the step (runner/ray/actors.py)."""
    if layout.address != "local":
        return []  # a cluster's nodes are the cluster's to know
    cpus = os.cpu_count() if cpus is None else cpus
    gpus = len(shared_devices().ids)
    warnings = []
    if layout.gpus_per_worker and not gpus:
        warnings.append(f"ray.gpus_per_worker {_amount(layout.gpus_per_worker)} asks for GPUs, and this machine lists "
                        "none (nvidia-smi -L, RUNNER_GPUS, CUDA_VISIBLE_DEVICES): the cluster `local` starts would "
                        "have none to give")
    for actors in layout.steps:
        wanted = {kind: actors.nodes * amount for kind, amount in actors.bundle.items()}
        short = [f"{_amount(wanted[kind])} {kind}s and this machine has {have}"
                 for kind, have in (("CPU", cpus), ("GPU", gpus)) if have and wanted.get(kind, 0) > have]
        if short:
            warnings.append(f"step {actors.step}'s actors ask the cluster `local` starts for {'; '.join(short)}: "
                            "they would wait for room, then fail the step")
    return warnings


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
        lines += ["", *_step_lines(step, plan.cwd, by_step.get(step.name), plan.target)]
    layout = ray_layout(plan)
    if layout is not None:
        lines += ["", *ray_lines(layout)]
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
        if plan.target == "local":
            shown["gpus"] = gpu_assignment(step, plan.target)[0]  # worker -> device; empty: no GPU assigned
    layout = ray_layout(plan)
    if layout is not None:
        data["ray"] = _ray_json(layout)
    return data


def _ray_json(layout: RayLayout) -> dict[str, Any]:
    data = dataclasses.asdict(layout)
    for kind in ("local_paths", "object_storage"):
        for item, real in zip(data[kind], getattr(layout, kind), strict=True):
            if real.secret:
                item["location"] = REDACTED
    data["warnings"] = ray_warnings(layout)
    return data


def plan_json(plan: Plan, work: list[StepWork] | None = None) -> str:
    return hidden(json.dumps(public_plan(plan, work), indent=2) + "\n", plan)
