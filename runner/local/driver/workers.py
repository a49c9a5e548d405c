"""What a worker is given: its configuration (code from the run's snapshot, log files,
scratch folder, output folder) and its environment (models where azureml-core's
Model.get_model_path looks for them, side inputs, the step's variables)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from runner.inputs.gpus import VARIABLE, Devices
from runner.local import job as jobs
from runner.local.driver import snapshot as snapshots
from runner.local.driver.supervisor import Slot
from runner.local.protocol import WorkerConfig
from runner.plan.plan import StepPlan
from runner.runs.folder import StepFolder, worker_name


def worker_config(job: StepPlan, folder: StepFolder, output: str | None, slot: Slot,
                  devices: Devices | None = None) -> WorkerConfig:
    """`devices`: the GPUs this machine's workers share (runner/inputs/gpus.py); None or
    none listed: CUDA_VISIBLE_DEVICES stays as the worker's environment has it."""
    output_dir = os.path.dirname(output) if output else str(folder.outputs / (job.output or "default"))
    os.makedirs(output_dir, exist_ok=True)
    scratch = folder.scratch(slot.node, slot.process)
    scratch.mkdir(parents=True, exist_ok=True)
    paths = {stream: folder.user_log(stream, slot.node, slot.process)
             for stream in ("stdout", "stderr", "entry_script_log")}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    code = snapshots.in_snapshot(job, folder)  # workers import from, and run in, the run's copy of the code
    env = {"RUNNER_WORKER": str(slot.index),
           "RUNNER_AGENT_NAME": worker_name(slot.node, slot.process).replace("/", "."), "RUNNER_OUTPUT_DIR": output_dir,
           "RUNNER_LOG_DIR": str(folder.user_logs), "RUNNER_WORKING_DIR": str(scratch)}
    device = devices.for_process(slot.process) if devices is not None else None
    if device is not None:  # set before the entry script's import, so CUDA sees only this one
        env[VARIABLE] = device
    return WorkerConfig(
        entry_script=code.entry_script, source_directory=code.source_directory, working_dir=code.source_directory,
        arguments=[a.value for a in job.arguments], logging_level=job.logging_level, inputs=list(job.inputs),
        kind=job.kind, output_action=job.output_action, row_format=job.row_format, minibatches=str(folder.minibatches),
        stdout=str(paths["stdout"]), stderr=str(paths["stderr"]), log_file=str(paths["entry_script_log"]),
        env=env)


def model_dir(job: StepPlan, folder: StepFolder) -> str:
    """The layout azureml-core's Model.get_model_path reads offline, which our stand-in
    reads too: $AML_APP_ROOT/azureml-models/<name>/<version>/<one entry>, the entry here
    a link to the spec's model file or folder. Returns AML_APP_ROOT."""
    root = folder.models
    for name, path in job.models.items():
        version = root / name / "1"
        link = version / os.path.basename(os.path.normpath(path))
        if link.is_symlink():
            continue
        version.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path, target_is_directory=os.path.isdir(path))
    return str(folder.path)


def worker_env(job: StepPlan, app_root: str) -> dict[str, str]:
    env = dict(os.environ)
    env["AML_APP_ROOT"] = app_root
    env["AZUREML_MODEL_DIR"] = os.path.join(app_root, StepFolder(Path(app_root)).models.name)
    env.update(job.environment_variables)
    env["RUNNER_MODELS"] = json.dumps(job.models)
    env["RUNNER_SIDE_INPUTS"] = json.dumps(jobs.side_inputs(job))
    env.setdefault("PYTHONHASHSEED", "0")
    return env
