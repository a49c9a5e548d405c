"""What the local engine runs: each step of a plan, with every path absolute and every
value real (the plan hides secrets; the engine needs them). Stored as job.json in the
run folder (mode 0600), so `runner resume` runs exactly what was started, whatever the
spec files say now."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from runner.local.sources import InputSpec
from runner.plan.plan import Plan, local_argument, resolve_path
from runner.spec.binding import parse_reference
from runner.spec.load import LoadedSpec


@dataclass
class StepJob:
    name: str
    source_directory: str
    entry_script: str
    kind: str  # file | tabular
    inputs: list[InputSpec]
    side_inputs: dict[str, str]  # reference -> path
    models: dict[str, str]  # model name -> path
    output_name: str | None
    output_action: str
    append_row_file: str | None
    row_format: str
    node_count: int
    process_count_per_node: int
    mini_batch_size: int
    partition_keys: list[str] | None
    error_threshold: int
    allowed_failed_count: int | None
    allowed_failed_percent: float | None
    run_max_try: int
    run_invocation_timeout: int
    logging_level: str
    arguments: list[str]
    environment_variables: dict[str, str]
    allow_reuse: bool
    produced_by: dict[str, str] = field(default_factory=dict)  # input reference -> step name

    @property
    def workers(self) -> int:
        return self.node_count * self.process_count_per_node

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepJob:
        data = dict(data)
        data["inputs"] = [InputSpec(**spec) for spec in data["inputs"]]
        return cls(**data)


def build_jobs(loaded: LoadedSpec, plan: Plan, run_folder: str) -> list[StepJob]:
    spec = loaded.spec
    jobs: list[StepJob] = []
    outputs: dict[tuple[str, str], str] = {}
    for index, (step, step_plan) in enumerate(zip(spec.steps, plan.steps, strict=True)):
        run = step.parallel_run
        inputs, produced_by = [], {}
        for text, input_plan in zip(step.inputs, step_plan.inputs, strict=True):
            ref = parse_reference(text)
            assert ref is not None
            if ref.kind == "steps":
                location = outputs[(ref.name, ref.output)]
                inputs.append(InputSpec(str(ref), "file", location))
                produced_by[str(ref)] = ref.name
                continue
            dataset = spec.datasets[ref.name]
            inputs.append(InputSpec(
                reference=str(ref), kind=dataset.kind, location=os.path.abspath(input_plan.location),
                manifest=dataset.manifest, partition_format=dataset.partition_format,
                **({"format": dataset.format, "delimiter": dataset.delimiter, "header": dataset.header,
                    "encoding": dataset.encoding} if dataset.kind == "tabular" else {})))
        if step.output is not None:
            outputs[(step.name, step.output.name)] = output_folder(run_folder, step.name, step.output.name) + os.sep
        jobs.append(StepJob(
            name=step.name,
            source_directory=os.path.abspath(step_plan.source_directory),
            entry_script=os.path.abspath(step_plan.entry_script),
            kind=inputs[0].kind,
            inputs=inputs,
            side_inputs={p.reference: os.path.abspath(p.location) if p.reference.startswith("datasets.")
                         else outputs[_step_output(p.reference)] for p in step_plan.side_inputs},
            models={name: os.path.abspath(resolve_path(loaded, ("models", name, "path"), model.path))
                    for name, model in spec.models.items()},
            output_name=step.output.name if step.output else None,
            output_action=run.output_action,
            append_row_file=step_plan.append_row_file,
            row_format=run.append_row_format,
            node_count=step_plan.node_count,
            process_count_per_node=step_plan.process_count_per_node or 1,
            mini_batch_size=step_plan.mini_batch_size or 0,
            partition_keys=run.partition_keys,
            error_threshold=run.error_threshold,
            allowed_failed_count=run.allowed_failed_count,
            allowed_failed_percent=run.allowed_failed_percent,
            run_max_try=run.run_max_try,
            run_invocation_timeout=run.run_invocation_timeout,
            logging_level=run.logging_level,
            # Real values, secrets included; model and dataset references become paths.
            arguments=[_absolute_argument(loaded, arg) for arg in step.arguments],
            environment_variables={k: str(v) for k, v in run.environment_variables.items()},
            allow_reuse=step.allow_reuse,
            produced_by=produced_by,
        ))
        del index
    return jobs


def _step_output(reference: str) -> tuple[str, str]:
    ref = parse_reference("${{ " + reference + " }}")
    assert ref is not None and ref.output is not None
    return ref.name, ref.output


def _absolute_argument(loaded: LoadedSpec, arg: Any) -> str:
    value = local_argument(loaded, arg)
    ref = parse_reference(arg) if isinstance(arg, str) else None
    return os.path.abspath(value) if ref is not None and ref.kind in ("models", "datasets") else value


def output_folder(run_folder: str, step: str, output: str) -> str:
    return os.path.join(run_folder, step, "outputs", output)


def save_jobs(path: str, jobs: list[StepJob]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold secrets
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump([asdict(job) for job in jobs], handle, indent=1)


def load_jobs(path: str) -> list[StepJob]:
    with open(path, encoding="utf-8") as handle:
        return [StepJob.from_dict(item) for item in json.load(handle)]
