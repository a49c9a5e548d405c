"""Rules that relate several fields or sections of a validated spec.

Each returns (field path, message) pairs so the loader can point at the exact value.
The rules are Azure ML's own (ParallelRunConfig / ParallelRunStep validation), stated
up front instead of failing at submission.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from runner.spec.binding import parse_reference
from runner.spec.diagnostics import Path_, did_you_mean
from runner.spec.partitions import placeholders
from runner.spec.models import FileDataset, ParallelRun, Spec, Step
from runner.spec.types import is_size_string

Problem = tuple[Path_, str]

# ParallelRunStep merges these into the entry script's command line itself.
RESERVED_ARGUMENTS = (
    "mini_batch_size", "error_threshold", "allowed_failed_count", "allowed_failed_percent",
    "output", "output_action", "logging_level", "process_count_per_node",
    "run_invocation_timeout", "run_max_try", "append_row_file_name", "partition_keys",
)
DEFAULT_DATASTORES = ("workspaceblobstore", "workspacefilestore")
_DATASTORE_URI = re.compile(r"^azureml://datastores/([^/]+)/paths/")


def _suggest(name: str, known: list[str]) -> str:
    return did_you_mean(name, known)


@dataclass
class Broken:
    """The parts of a spec that failed validation, so the rules can still check the rest
    in the same round: a broken dataset still exists (references to it are not errors),
    a broken step's name and output still count for later steps' references."""

    datasets: set[str] = field(default_factory=set)
    # Datasets valid once a field that failed was left out (a bad partition_format): the
    # rules that read their fields say nothing of them (that field has its own error).
    incomplete: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    # Original index of each step in spec.steps; the others failed validation.
    step_indices: list[int] | None = None
    step_outputs: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # index -> (name, output)
    azure: bool = False


def check_spec(spec: Spec, broken: Broken | None = None, azure: bool = True) -> list[Problem]:
    """`azure`: checked for an Azure target, whose compute caps each step's node_count."""
    broken = broken or Broken()
    problems: list[Problem] = []
    problems += _check_parameters(spec, broken)
    seen: dict[str, int] = {}
    outputs: dict[str, str] = {}  # step name -> output name, for steps before this one
    indices = broken.step_indices if broken.step_indices is not None else list(range(len(spec.steps)))
    valid = dict(zip(indices, spec.steps))
    for index in range(max([*indices, *broken.step_outputs, -1]) + 1):
        step = valid.get(index)
        if step is None:  # failed validation: only its name and output are known
            name, output = broken.step_outputs.get(index, ("", None))
            if name and output:
                outputs[name] = output
            continue
        base: Path_ = ("steps", index)
        if step.name in seen:
            problems.append(((*base, "name"), f"step name '{step.name}' is already used by steps[{seen[step.name]}]"))
        seen.setdefault(step.name, index)
        problems += _check_step(spec, step, base, outputs, broken)
        if step.output is not None:
            outputs[step.name] = step.output.name
    if not broken.azure:
        problems += _check_azure(spec, valid, azure)
    return problems


def _check_parameters(spec: Spec, broken: Broken) -> Iterator[Problem]:
    for name, value in spec.parameters.items():
        if isinstance(value, dict) and value["dataset"] not in (*spec.datasets, *broken.datasets):
            yield (("parameters", name, "dataset"),
                   f"no dataset named '{value['dataset']}'{_suggest(value['dataset'], list(spec.datasets))}")


def _resolve_input(spec: Spec, text: str, path: Path_, outputs: dict[str, str],
                   problems: list[Problem], broken: Broken) -> str | None:
    """The kind ('file' or 'tabular') of one input or side input, or None if it is broken."""
    ref = parse_reference(text)
    if ref is None or ref.kind not in ("datasets", "steps"):
        problems.append((path, "an input is ${{ datasets.NAME }}, ${{ parameters.NAME }} "
                               "(a dataset parameter) or ${{ steps.STEP.outputs.NAME }}"))
        return None
    if ref.kind == "datasets":
        if ref.name in broken.datasets:
            return None  # exists, reported where it is defined; its kind is unknown
        if ref.name not in spec.datasets:
            problems.append((path, f"no dataset named '{ref.name}'{_suggest(ref.name, list(spec.datasets))}"))
            return None
        return spec.datasets[ref.name].kind
    if outputs.get(ref.name) != ref.output:
        earlier = [f"{s}.outputs.{o}" for s, o in outputs.items()]
        problems.append((path, f"no earlier step output '{ref.name}.outputs.{ref.output}' "
                               f"(earlier outputs: {', '.join(earlier) or 'none'})"))
        return None
    return "file"  # a step's output is a folder of files


def _check_step(spec: Spec, step: Step, base: Path_, outputs: dict[str, str], broken: Broken) -> list[Problem]:
    problems: list[Problem] = []
    run = step.parallel_run
    pr: Path_ = (*base, "parallel_run")
    kinds = [_resolve_input(spec, text, (*base, "inputs", i), outputs, problems, broken)
             for i, text in enumerate(step.inputs)]
    for i, text in enumerate(step.side_inputs):
        _resolve_input(spec, text, (*base, "side_inputs", i), outputs, problems, broken)
    for i, text in enumerate(step.inputs):
        if text in step.inputs[:i]:
            problems.append(((*base, "inputs", i), f"input repeats inputs[{step.inputs.index(text)}]"))
    known = [k for k in kinds if k]
    for i, kind in enumerate(kinds):
        if kind and kind != known[0]:
            problems.append(((*base, "inputs", i), f"all inputs of a step must be of one kind: "
                                                   f"this one is {kind}, the first is {known[0]}"))
    if run.output_action == "append_row" and step.output is None:
        problems.append(((*pr, "output_action"), "append_row needs the step to have an output "
                                                 "(output: {name: ...}); or use summary_only"))
    if step.incremental and run.output_action == "summary_only":
        problems.append(((*base, "incremental"), "incremental reuses the rows an earlier run wrote for each item, "
                                                 "but summary_only writes none the runner can attribute to items: "
                                                 "use append_row, or set incremental: false"))
    if run.mini_batch_size is not None and run.partition_keys is not None:
        problems.append(((*pr, "partition_keys"), "partition_keys and mini_batch_size are mutually exclusive: "
                                                  "they are two ways to split inputs into mini-batches"))
    if known and known[0] == "file" and is_size_string(run.mini_batch_size):
        problems.append(((*pr, "mini_batch_size"), f"'{run.mini_batch_size}' is a data size, but the inputs "
                                                   "are file datasets: give a number of files"))
    problems += _check_partition_keys(spec, step, run, pr, broken)
    problems += _check_arguments(spec, step, base, outputs, broken)
    return problems


def _check_partition_keys(spec: Spec, step: Step, run: ParallelRun, pr: Path_, broken: Broken) -> list[Problem]:
    if not run.partition_keys:
        return []
    problems: list[Problem] = []
    if len(set(run.partition_keys)) != len(run.partition_keys):
        problems.append(((*pr, "partition_keys"), "partition_keys must not repeat a key"))
    for text in step.inputs:
        ref = parse_reference(text)
        if ref is None:
            continue
        dataset = spec.datasets.get(ref.name) if ref.kind == "datasets" and ref.name not in broken.incomplete else None
        if ref.kind == "steps":
            problems.append(((*pr, "partition_keys"), f"input {ref} is a step output, which is not "
                                                      "partitioned: partition_keys need dataset inputs"))
        if dataset is None:
            continue
        declared = {p.name for p in placeholders(dataset.partition_format)} if dataset.partition_format else set()
        if isinstance(dataset, FileDataset) and not dataset.partition_format:
            problems.append(((*pr, "partition_keys"), f"dataset '{ref.name}' is a file dataset without "
                                                      "partition_format, so it has no keys to partition by"))
        elif dataset.partition_format and not set(run.partition_keys) <= declared:
            missing = ", ".join(sorted(set(run.partition_keys) - declared))
            problems.append(((*pr, "partition_keys"), f"not in the partition_format of dataset "
                                                      f"'{ref.name}': {missing}"))
    return problems


def _check_arguments(spec: Spec, step: Step, base: Path_, outputs: dict[str, str],
                     broken: Broken) -> list[Problem]:
    problems: list[Problem] = []
    args = step.arguments
    if args and not (isinstance(args[0], str) and args[0].startswith("-")):
        problems.append(((*base, "arguments", 0), "the first argument must be an option starting with '-': "
                                                  "ParallelRunStep merges arguments with its own, so only "
                                                  "keyword arguments work"))
    for i, arg in enumerate(args):
        if not isinstance(arg, str):
            continue
        if arg.startswith("--") and arg[2:].split("=")[0] in RESERVED_ARGUMENTS:
            problems.append(((*base, "arguments", i), f"'{arg[2:].split('=')[0]}' is a reserved argument of "
                                                      "ParallelRunStep; use another name"))
        ref = parse_reference(arg)
        if ref and ref.kind == "steps":
            _resolve_input(spec, arg, (*base, "arguments", i), outputs, problems, broken)
        elif ref and ref.kind in ("models", "datasets"):
            known = list(spec.models if ref.kind == "models" else spec.datasets)
            if ref.name not in known and ref.name not in (broken.models if ref.kind == "models" else broken.datasets):
                problems.append(((*base, "arguments", i), f"no {ref.kind[:-1]} named '{ref.name}'"
                                                          f"{_suggest(ref.name, known)}"))
    return problems


def _check_azure(spec: Spec, steps: dict[int, Step], target_is_azure: bool) -> list[Problem]:
    problems: list[Problem] = []
    azure = spec.azure
    stores = list(azure.datastores) if azure else []
    if azure:
        ws = azure.workspace
        ids = (ws.subscription_id, ws.resource_group, ws.name)
        if any(ids) and not all(ids):
            problems.append((("azure", "workspace"), "give subscription_id, resource_group and name together, "
                                                     "or only config"))
        compute = azure.compute
        if compute and compute.min_nodes > compute.max_nodes:
            problems.append((("azure", "compute", "min_nodes"),
                             f"min_nodes ({compute.min_nodes}) is more than max_nodes ({compute.max_nodes})"))
        # The local engine runs node_count "nodes" on this machine: no cluster caps them.
        for i, step in steps.items() if target_is_azure else ():
            if compute and step.parallel_run.node_count > compute.max_nodes:
                problems.append((("steps", i, "parallel_run", "node_count"),
                                 f"node_count {step.parallel_run.node_count} is more than the compute's "
                                 f"max_nodes ({compute.max_nodes})"))
        for name, store in azure.datastores.items():
            if store.account_key is not None and store.sas_token is not None:
                problems.append((("azure", "datastores", name, "sas_token"),
                                 "give account_key or sas_token, not both"))
    for name, dataset in spec.datasets.items():
        match = _DATASTORE_URI.match(dataset.path)
        if match and match.group(1) not in (*stores, *DEFAULT_DATASTORES):
            problems.append((("datasets", name, "path"), f"no datastore named '{match.group(1)}' in azure.datastores"
                                                         f"{_suggest(match.group(1), stores)}"))
    for i, step in steps.items():
        output_store = step.output.datastore if step.output else None
        if output_store and output_store not in (*stores, *DEFAULT_DATASTORES):
            problems.append((("steps", i, "output", "datastore"),
                             f"no datastore named '{output_store}' in azure.datastores"
                             f"{_suggest(output_store, stores)}"))
    return problems
