"""Workers started while the driver plans their step: each imports the entry script and
calls init() (TensorFlow's import and a model's load: seconds) while the driver lists the
inputs and cuts them into mini-batches (seconds too, for a million files), instead of
after it.

They are the workers the supervisor would start first, with the same configuration; it
adopts them (runner/local/driver/supervisor.py `prestarted`). Nothing is sent to them
before the plan is whole: a worker opens minibatches.jsonl at its first mini-batch. What
the supervisor does not take (a step found reusable, fewer mini-batches than workers, a
failed listing, Ctrl-C) is killed with its whole process tree. How many start ahead:
`started_ahead` (all, one for an incremental step that will reuse items, or none).
"""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

from runner.inputs.gpus import Devices, shared_devices
from runner.local import job as jobs
from runner.local import protocol
from runner.local.driver.slots import Slot, Spawned
from runner.local.driver.workers import model_dir, worker_config, worker_env
from runner.local.protocol import WorkerConfig
from runner.local.reuse.incremental import reusable_run
from runner.local.transport.base import Transport, Transports
from runner.local.transport.processes import Processes
from runner.plan.plan import StepPlan
from runner.runs.folder import RunFolder, StepFolder, list_runs
from runner.runs.records import StepRecord


class Workers:
    """A step's transport, its GPUs and its worker configuration, made when first needed
    (a step reused, or with nothing left to run, makes none), with the workers started
    ahead of the supervisor."""

    def __init__(self, job: StepPlan, folder: StepFolder, output: str | None, transports: Transports) -> None:
        self.job, self.folder, self.output, self.transports = job, folder, output, transports
        self.per_node = job.process_count_per_node or 1
        self.started: list[Spawned] = []
        self._transport: Transport | None = None
        self._owned = True  # the transport is closed here until a supervisor takes it
        self.devices: Devices | None = None
        self.env: dict[str, str] = {}

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = self.transports(self.job, self.folder)
            # This machine's GPUs, one per worker process; Ray gives its actors theirs.
            if isinstance(self._transport, Processes):
                self.devices = shared_devices(self.job.environment_variables)
            self.env = worker_env(self.job, model_dir(self.job, self.folder))
        return self._transport

    def config(self, slot: Slot) -> WorkerConfig:
        return worker_config(self.job, self.folder, self.output, slot, self.devices)

    def start(self, count: int) -> None:
        """`count` workers, slots 0 to count-1, each sent its configuration at once."""
        transport = self.transport
        for index in range(count):
            slot = Slot(index, index // self.per_node, index % self.per_node)
            handle, conn, in_flight, config = transport.spawn(index, slot.node, self.config(slot), self.env)
            if conn is not None:
                with contextlib.suppress(OSError):  # died already: the supervisor finds its connection closed
                    protocol.send_config(conn, config)
            self.started.append(Spawned(handle, conn, in_flight, config, time.monotonic()))

    def take(self, count: int) -> list[Spawned]:
        """The first `count` started workers, for the supervisor (which then owns them and
        the transport); the others are killed."""
        kept, surplus = self.started[:count], self.started[count:]
        self.started = []
        self._kill(surplus)
        self._owned = False
        return kept

    def close(self) -> None:
        """Kill what no supervisor took and close the transport unless one took it."""
        self._kill(self.started)
        self.started = []
        if self._owned and self._transport is not None:
            self._owned = False
            self._transport.close()

    def _kill(self, spawned: list[Spawned]) -> None:
        for worker in spawned:
            with contextlib.suppress(OSError):
                self.transport.kill(worker.handle, signal.SIGKILL)
            if worker.conn is not None:
                worker.conn.close()
            worker.in_flight.close()


def started_ahead(job: StepPlan, run: RunFolder, runs_root: Path, fingerprints: dict[str, str],
                  info: StepRecord) -> int:
    """How many workers to start before the plan:
    - none for a step an earlier run may be reused for (allow_reuse, and an earlier run of
      it succeeded): they would only compete with the listing for the CPU, then be killed;
    - one for an incremental step with an earlier run to reuse items from: what runs is
      then most often a few new items, and every other worker's start (its imports, a
      model's load) would slow the listing down. The supervisor starts the others if the
      plan finds work for them, and sends work to the first without waiting for them;
    - else every worker."""
    if job.allow_reuse:
        for earlier in list_runs(runs_root):
            if earlier.id == run.id:
                continue
            with contextlib.suppress(Exception):
                if earlier.step(job.name).read().status.ok:
                    return 0
    count = jobs.workers(job)
    if job.incremental and count > 1 and reusable_run(job, run, runs_root, fingerprints, info) is not None:
        return 1
    return count


def ahead(job: StepPlan, folder: StepFolder, run: RunFolder, output: str | None, transports: Transports,
          runs_root: Path, fingerprints: dict[str, str], info: StepRecord) -> Workers:
    """The step's Workers, started now where its plan is still to be made and it will run."""
    workers = Workers(job, folder, output, transports)
    count = 0 if info.partitioned else started_ahead(job, run, runs_root, fingerprints, info)
    if count:
        try:
            workers.start(count)
        except BaseException:
            workers.close()
            raise
    return workers
