"""What each Azure target, and the ray target, can express, checked at plan time.

A spec that is valid for the local engine may use what Azure ML has no word for (the
runner's own output formats, failed-items manifests) or leave out what Azure needs (a
compute cluster, an environment); on ray, a path only Azure ML resolves names nothing
on the nodes. Each problem names the field, so it is an error in the pull request, not
a surprise in the cloud.

Pure: what the file system holds at a dataset's path (a folder, its MLTable file) is
found by runner/inputs/checks.py before planning and handed in as `DatasetOnDisk`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from runner.plan.mltable import partition_problem, shown_block
from runner.plan.references import FSSPEC_ONLY_PREFIXES, MLTABLE, is_remote
from runner.spec.binding import parse_reference
from runner.spec.checks import Problem
from runner.spec.diagnostics import SpecError, unique_sorted
from runner.spec.load import LoadedSpec, diagnostic_at

AZURE_TARGETS = ("azureml", "azureml-v2")
# What a target's reference allows of a parallel_run field beyond the spec model's own
# ranges (which hold what every target shares, up to int.max): (field, most, the key the
# reference names). v2: the CLI (v2) parallel job YAML reference and "How to use parallel
# job in pipeline" give retry_settings.timeout (0, 259200]; v1's ParallelRunConfig gives
# run_invocation_timeout no upper bound.
RANGES: dict[str, tuple[tuple[str, int, str], ...]] = {
    "azureml": (),
    "azureml-v2": (("run_invocation_timeout", 259200, "retry_settings.timeout"),),
}
AZURE_ONLY = ("azureml://", "azureml:")  # an asset or datastore only Azure ML resolves
_GLOB = re.compile(r"[*?[]")  # as the local engine reads a path (runner/local/partition/sources.py)


@dataclass(frozen=True)
class DatasetOnDisk:
    """What this machine holds at a dataset's path, as runner.inputs.checks found it: a
    v2 target reads a local table through the MLTable file in its folder."""

    path: str  # the dataset's path as seen from the working directory (shown in messages)
    exists: bool = False
    is_folder: bool = False
    has_mltable: bool = False  # an MLTable file in that folder
    # The MLTable's bytes where its partition columns matter (a tabular dataset with a
    # partition_format); None where it was not read or cannot be. Bytes, decoded where
    # the check reads them, so an undecodable file fails only a target that reads it.
    mltable: bytes | None = None


def used_datasets(loaded: LoadedSpec, base_parameters: bool = True) -> list[str]:
    """Datasets a step reads, now or (`base_parameters`) through a dataset parameter's
    base value (Azure's default for the parameter)."""
    spec = loaded.spec
    names: list[str] = []
    for step in spec.steps:
        for text in (*step.inputs, *step.side_inputs, *[a for a in step.arguments if isinstance(a, str)]):
            ref = parse_reference(text)
            if ref and ref.kind == "datasets":
                names.append(ref.name)
    for value in loaded.base_parameters.values() if base_parameters else ():
        if isinstance(value, dict) and value.get("dataset") in spec.datasets:
            names.append(value["dataset"])
    return list(dict.fromkeys(names))


def check_target(loaded: LoadedSpec, target: str, datasets: Mapping[str, DatasetOnDisk]) -> None:
    """Raise SpecError when `target` cannot express the spec. `datasets` holds what is on
    disk at each dataset's path (runner.inputs.checks.datasets_on_disk)."""
    if target == "ray":
        problems = list(_ray_problems(loaded))
    elif target in AZURE_TARGETS:
        problems = list(_problems(loaded, target, datasets))
    else:
        return
    if problems:
        raise SpecError(unique_sorted([diagnostic_at(loaded.tree, path, f"{msg} (target {target})")
                                       for path, msg in problems]), loaded.sources)


def _problems(loaded: LoadedSpec, target: str, datasets: Mapping[str, DatasetOnDisk]) -> Iterator[Problem]:
    spec = loaded.spec
    if spec.azure is None or spec.azure.compute is None:
        yield (("azure",) if spec.azure else ("name",),
               "an Azure target needs azure.compute: the cluster the steps run on")
    if spec.azure is None or spec.azure.environment is None:
        yield (("azure",) if spec.azure else ("name",),
               "an Azure target needs azure.environment: the Python packages the entry script imports")
    outputs: dict[str, int] = {}
    for index, step in enumerate(spec.steps):
        run = step.parallel_run
        base = ("steps", index, "parallel_run")
        if step.output and step.output.name in outputs:
            yield (("steps", index, "output", "name"), f"output '{step.output.name}' is already the output of "
                                                       f"steps[{outputs[step.output.name]}]; a pipeline's outputs "
                                                       "need names of their own")
        elif step.output:
            outputs[step.output.name] = index
        if run.append_row_format != "text":
            yield ((*base, "append_row_format"), f"append_row_format '{run.append_row_format}' is the local "
                                                 "engine's own; Azure ML appends text rows")
        for field, most, key in RANGES[target]:
            value = getattr(run, field)
            if isinstance(value, int) and value > most:
                yield ((*base, field), f"{field} {value} is more than {target} allows ({key} at most {most})")
        if run.partition_keys:
            yield from _partitioned(loaded, index, target)
        if target == "azureml-v2" and len(step.inputs) > 1:
            yield (("steps", index, "inputs", 1), "a v2 parallel job splits one input_data; "
                                                  "give the other inputs as side_inputs or merge them")
        if target == "azureml-v2":
            yield from _reads_appended_rows(loaded, index)
    for name in used_datasets(loaded):
        dataset, found = spec.datasets[name], datasets[name]
        path = ("datasets", name)
        if dataset.manifest:
            yield ((*path, "manifest"), "a failed-items manifest is a local run's file; "
                                        "Azure ML cannot read it as a dataset")
        elif dataset.path.startswith(FSSPEC_ONLY_PREFIXES):
            yield ((*path, "path"), "Azure ML reads datastore URIs (azureml://datastores/<name>/paths/...), "
                                    "https:// or abfss:// paths; s3://, gs:// and az:// are read by the local engine")
        elif not is_remote(dataset.path) and _GLOB.search(dataset.path):
            yield ((*path, "path"), "a local glob cannot be uploaded as a dataset: point at a folder or file, "
                                    "or at a datastore path (azureml://datastores/<name>/paths/<glob>)")
        elif target == "azureml-v2" and dataset.kind == "tabular" and found.is_folder and not found.has_mltable:
            yield ((*path, "path"), "a v2 parallel job reads tabular data as an MLTable: put an MLTable file "
                                    "in this folder (`runner example tabular` writes one), or use an "
                                    "azureml: data asset")
        elif target == "azureml-v2" and dataset.kind == "tabular" and not is_remote(dataset.path) \
                and not found.is_folder and found.exists:
            yield ((*path, "path"), "a v2 parallel job reads tabular data as an MLTable folder, not one file")
        elif target == "azureml-v2" and dataset.partition_format:
            yield from _partition_format_v2(loaded, name, found)


def _ray_problems(loaded: LoadedSpec) -> Iterator[Problem]:
    """The ray target runs the local engine's driver, so it expresses all a local run does;
    but its workers open their data themselves on the cluster's nodes: a path only Azure ML
    resolves (a data asset, a datastore URI) names nothing there. (Local paths must hold the
    same data on every node, which no check here can see: `runner plan` lists them.)"""
    spec = loaded.spec
    named = [(("datasets", name, "path"), spec.datasets[name].path) for name in used_datasets(loaded, False)]
    named += [(("models", name, "path"), model.path) for name, model in spec.models.items()]
    for path, value in named:
        if value.startswith(AZURE_ONLY):
            yield (path, "an Azure ML data asset or datastore path is read on the Azure targets only: on ray, give "
                         "a path every node reads, or an object-storage URI")


def _partitioned(loaded: LoadedSpec, index: int, target: str) -> Iterator[Problem]:
    step = loaded.spec.steps[index]
    for text in step.inputs:
        ref = parse_reference(text)
        dataset = loaded.spec.datasets.get(ref.name) if ref and ref.kind == "datasets" else None
        if dataset is None or dataset.kind != "tabular" or not dataset.partition_format:
            yield (("steps", index, "parallel_run", "partition_keys"),
                   "Azure ML partitions only a tabular dataset with a partition_format; "
                   f"input '{text}' has none (the local engine reads keys from columns, Azure does not)")
            return


def _reads_appended_rows(loaded: LoadedSpec, index: int) -> Iterator[Problem]:
    """On v2 an append_row output is one file (a uri_file output, as Azure's examples
    declare it, so its name is kept): a parallel job can neither split it nor mount it as
    the folder v1 and the local engine give a later step."""
    step = loaded.spec.steps[index]
    writers = {s.output.name: s.name for s in loaded.spec.steps
               if s.output and s.parallel_run.output_action == "append_row"}
    places = [("inputs", j, t) for j, t in enumerate(step.inputs)] + \
             [("side_inputs", j, t) for j, t in enumerate(step.side_inputs)] + \
             [("arguments", j, t) for j, t in enumerate(step.arguments) if isinstance(t, str)]
    for where, j, text in places:
        ref = parse_reference(text)
        if ref and ref.kind == "steps" and ref.output in writers:
            yield (("steps", index, where, j),
                   f"on azureml-v2 the append_row output '{ref.output}' of step '{writers[ref.output]}' is one file "
                   "(a uri_file output named by append_row_file_name), not a folder a later step can read; "
                   "run the steps as separate specs, or use --target azureml")


def _partition_format_v2(loaded: LoadedSpec, name: str, found: DatasetOnDisk) -> Iterator[Problem]:
    """v2 reads a table through its MLTable file: the partition columns come from its
    transformations (runner/plan/mltable.py says which shape the mltable library loads),
    not from the spec."""
    dataset = loaded.spec.datasets[name]
    assert dataset.partition_format
    path = ("datasets", name, "partition_format")
    if dataset.kind == "file":
        yield (path, "a v2 parallel job reads files as a uri_folder, which has no partition columns: "
                     "leave partition_format out (or use --target azureml)")
        return
    if is_remote(dataset.path):
        yield (path, "on azureml-v2 a remote table's MLTable decides its partition columns: give it "
                     f"{shown_block(dataset.partition_format)} and leave partition_format out here "
                     "(or use --target azureml)")
        return
    mltable = os.path.join(found.path, MLTABLE)
    if found.mltable is None:
        return  # the MLTable check above says it is missing
    try:
        text = found.mltable.decode("utf-8")
    except UnicodeDecodeError:
        yield (path, f"azureml-v2 reads partition columns from {mltable}, which is not UTF-8 text")
        return
    problem = partition_problem(text, dataset.partition_format)
    if problem:
        yield (path, f"azureml-v2 reads partition columns from {mltable}, which {problem}: its transformations "
                     f"need {shown_block(dataset.partition_format)}")
