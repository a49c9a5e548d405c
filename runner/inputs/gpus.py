"""This machine's GPUs, and which one each local worker sees.

With N devices to share, worker process `i` of a node sees device `i mod N` alone
(CUDA_VISIBLE_DEVICES), so two workers on a two-GPU machine do not both load their model
on the first. The devices to share are, in order:

1. the step's own CUDA_VISIBLE_DEVICES (environment_variables), else the one this
   process was started with: the user chose them, the workers split that choice;
2. RUNNER_GPUS (comma-separated device ids; empty or `none`: no GPU), an override
   for tests and for machines where nvidia-smi cannot say;
3. `nvidia-smi -L`, read once per process: each GPU by index, or, where a GPU is split
   into MIG instances, each instance by its UUID (CUDA selects a MIG instance only so).

No devices: the workers' CUDA_VISIBLE_DEVICES is left as the environment has it.

Here rather than in the local engine because the plan views (runner/render.py, below
the engines) show the assignment too; the engine's worker configuration reads it.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

VARIABLE = "CUDA_VISIBLE_DEVICES"
OVERRIDE = "RUNNER_GPUS"
_TIMEOUT = 10.0  # seconds: nvidia-smi answers in well under one; a wedged driver must not hang `plan`
_MAX_OUTPUT = 1 << 20  # characters of nvidia-smi's listing parsed (a machine has tens of lines)


@dataclass(frozen=True)
class Devices:
    """The devices the workers share and where that list came from (for the plan)."""

    ids: tuple[str, ...]
    source: str  # "CUDA_VISIBLE_DEVICES (the step's environment_variables)", "RUNNER_GPUS", "nvidia-smi -L", ...

    def for_process(self, process: int) -> str | None:
        """The device worker process `process` of a node sees; None: no GPU to assign."""
        return self.ids[process % len(self.ids)] if self.ids else None

    def summary(self) -> str:
        """'GPUs 0, 1 (nvidia-smi -L): worker process i of a node sees device i mod 2 (CUDA_VISIBLE_DEVICES)'."""
        return (f"GPUs {', '.join(self.ids)} ({self.source}): worker process i of a node sees device i mod "
                f"{len(self.ids)} ({VARIABLE})")


def split_ids(text: str) -> tuple[str, ...]:
    """Device ids from a comma-separated list (CUDA_VISIBLE_DEVICES' syntax); `none` or
    nothing but blanks: no device."""
    if text.strip().lower() == "none":
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_nvidia_smi(text: str) -> tuple[str, ...]:
    """Device ids from `nvidia-smi -L`: `GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)` gives
    "0"; a GPU followed by `  MIG 1g.10gb  Device  0: (UUID: MIG-...)` lines gives each
    instance's MIG-... UUID instead. Plain string operations: the text is another
    program's, and a regular expression could backtrack on a strange line."""
    ids: list[str] = []
    gpu: str | None = None  # the GPU line last read, until its MIG lines (if any) are seen
    migs: list[str] = []
    for raw in text[:_MAX_OUTPUT].splitlines():
        line = raw.strip()
        if line.startswith("GPU "):
            ids += migs or ([gpu] if gpu is not None else [])
            index, colon, _ = line[4:].partition(":")
            gpu, migs = (index.strip() if colon and index.strip().isdigit() else None), []
        elif line.startswith("MIG ") and gpu is not None:
            uuid = _uuid(line)
            if uuid.startswith("MIG-"):
                migs.append(uuid)
    ids += migs or ([gpu] if gpu is not None else [])
    return tuple(ids)


def _uuid(line: str) -> str:
    _, found, rest = line.partition("(UUID:")
    return rest.partition(")")[0].strip() if found else ""


@functools.lru_cache(maxsize=1)
def machine_gpus() -> tuple[str, ...]:
    """What `nvidia-smi -L` lists (no command, a failure or a timeout: no GPU), read once."""
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=_TIMEOUT,
                              stdin=subprocess.DEVNULL, errors="replace")
    except (OSError, subprocess.SubprocessError):
        return ()
    return parse_nvidia_smi(done.stdout) if done.returncode == 0 else ()


def shared_devices(step_env: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None) -> Devices:
    """The devices a step's local workers share (the module's note says which, in what order)."""
    environ = os.environ if environ is None else environ
    if step_env is not None and VARIABLE in step_env:
        return Devices(split_ids(str(step_env[VARIABLE])), f"{VARIABLE} (the step's environment_variables)")
    if VARIABLE in environ:
        return Devices(split_ids(environ[VARIABLE]), f"{VARIABLE} (the environment)")
    if OVERRIDE in environ:
        return Devices(split_ids(environ[OVERRIDE]), OVERRIDE)
    return Devices(machine_gpus(), "nvidia-smi -L")


def assignment(devices: Devices, node_count: int, per_node: int) -> list[tuple[int, int, str]]:
    """(node, process, device) for every worker of a step; empty without devices."""
    if not devices.ids:
        return []
    return [(node, process, devices.ids[process % len(devices.ids)])
            for node in range(node_count) for process in range(per_node)]

