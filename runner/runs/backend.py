"""The Backend protocol: the seam between the facade (`runner.api`) and what runs a
plan. A new engine (a Ray cluster, Kubernetes) is one module implementing it, and one
factory in `runner.api.BACKENDS` making it (as Kedro's AbstractRunner is subclassed);
mypy checks each factory's backend against this protocol. A backend reads the Plan
only: what a target needs of the spec (Azure's workspace, environment, datastores...)
is resolved into it once (`Plan.azure`).

Every backend records its runs in the same run folder with the same records
(`runner.runs`), so `runner runs`, `status` and `results` read any target's run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Protocol

from runner.plan.plan import Plan
from runner.runs.folder import RunFolder
from runner.runs.outcome import ApplyOptions, Compiled, Results, RunResult
from runner.runs.views import LogChunk, RunView


class Backend(Protocol):
    target: str
    # Processes per node where a spec leaves process_count_per_node out (None: the
    # target decides, as Azure does from the VM's cores).
    processes_per_node: int | None

    def compile(self, plan: Plan, base_dir: str = ".", reveal: bool = False) -> Compiled | None:
        """What the plan becomes on this target, for review (`runner plan --target`);
        None where nothing is compiled (local). Paths are relative to `base_dir`."""

    def stage(self, compiled: Compiled) -> None:
        """Make on disk what `compiled`, written to a file in its `base_dir`, reads from
        beside it (`runner plan --out`); RunError where that cannot be made."""

    def reuse(self, plan: Plan, root: Path) -> dict[str, str]:
        """step -> whether `apply` would reuse earlier work for it, and why (`runner
        plan`); cheap: listings and the code, never the data."""

    def apply(self, plan: Plan, root: Path, stream: IO[str] | None,
              options: ApplyOptions | None = None) -> RunResult:
        """Run the plan in a new run folder under `root`, to its end (`options`: None, the
        defaults)."""

    def resume(self, run: RunFolder, root: Path, stream: IO[str] | None,
               accept_changed_inputs: bool = False) -> RunResult:
        """Go on with an interrupted run: what was committed stays, the rest runs. An
        input changed since the run was planned stops it, unless `accept_changed_inputs`."""

    def retry(self, run: RunFolder, root: Path, stream: IO[str] | None, update_code: bool = False,
              sets: Sequence[str] = (), set_params: Sequence[str] = (),
              accept_changed_inputs: bool = False) -> RunResult:
        """Run a finished run's failed and never-run items again, into its own output,
        each row once: with the run's code, or (`update_code`) the code as it is now;
        `sets`/`set_params` change how they run (a timeout, tries), never what they read.
        Nothing to retry: a RunResult with no steps, its note saying why."""

    def status(self, run: RunFolder) -> RunView:
        """The run with each step's record, progress and code versions, and what the
        target's service says of it (`runner status`); built by runner.runs.inspect.status."""

    def results(self, run: RunFolder, head: int, step: str | None, in_input_order: bool = False) -> Results:
        """A step's output rows: how many, and the first few (by input with
        `in_input_order`, else as they finished)."""

    def logs(self, run: RunFolder, worker: int | None, system: bool, step: str | None) -> Iterator[LogChunk]:
        """The text of each log file."""

    def follow(self, run: RunFolder, worker: int | None, system: bool, step: str | None,
               interval: float) -> Iterator[LogChunk]:
        """What the logs gain as they grow, until the run ends (`runner logs -f`):
        the driver's log and each worker's user logs (only `worker`'s; only the driver's
        with `system`). Reads what the run records, so any process can follow it."""

    def cancel(self, run: RunFolder) -> str:
        """Ask a running run to stop; says what was done."""
