"""RayBackend: the local engine's driver, its workers Ray actors on a cluster.

Everything but the worker transport is the local engine's: planning, the ledger, tries,
timeouts, thresholds, resume, retry, cancel, status, logs and results (runner/local/
backend.py). The run records the cluster's settings (JobRecord.ray), so `runner resume`
and `runner retry` rejoin the same cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO

from runner.local.backend import LocalBackend
from runner.local.transport.base import Transport, Transports
from runner.plan.plan import Plan, RayPlan, StepPlan
from runner.ray.actors import Actors
from runner.ray.cluster import connected
from runner.runs.folder import RunFolder, StepFolder
from runner.runs.outcome import ApplyOptions, RunResult
from runner.runs.records import JobRecord


class RayBackend(LocalBackend):
    target = "ray"
    # A node's CPUs are the cluster's to know: one worker per node unless the spec says.
    processes_per_node: int | None = 1

    def transports(self, job: JobRecord) -> Transports:
        plan = job.ray or RayPlan()

        def actors(step: StepPlan, folder: StepFolder) -> Transport:
            return Actors(step, folder, plan)
        return actors

    def apply(self, plan: Plan, root: Path, stream: IO[str] | None,
              options: ApplyOptions | None = None) -> RunResult:
        with connected(plan.ray):  # joined before the run exists: an unreachable cluster makes none
            return super().apply(plan, root, stream, options)

    def resume(self, run: RunFolder, root: Path, stream: IO[str] | None,
               accept_changed_inputs: bool = False) -> RunResult:
        with connected(run.job().ray):
            return super().resume(run, root, stream, accept_changed_inputs)

    def retry(self, run: RunFolder, root: Path, stream: IO[str] | None, update_code: bool = False,
              sets: Sequence[str] = (), set_params: Sequence[str] = (),
              accept_changed_inputs: bool = False) -> RunResult:
        with connected(run.job().ray):
            return super().retry(run, root, stream, update_code, sets, set_params, accept_changed_inputs)
