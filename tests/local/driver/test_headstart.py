"""Workers started while their step is planned (runner/local/driver/headstart.py): they
import the script and run init() during the listing, the supervisor adopts them, and
what it does not take is killed."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from runner import api
from runner.local.driver import engine
from runner.local.driver.checks import PreflightError
from runner.local.driver.supervisor import Supervisor
from runner.local.transport.processes import Processes
from runner.runs.status import Status
from tests.local.helpers import expected_rows, make_files, output_rows, write_spec


class Recorded:
    """What the engine did, in order: each worker spawned, each step planned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, before_plan: Any = None) -> None:
        self.order: list[str] = []
        self.handles: list[Any] = []
        spawn, partition = Processes.spawn, engine._partition

        def spawned(transport: Processes, *args: Any) -> Any:
            self.order.append("spawn")
            found = spawn(transport, *args)
            self.handles.append(found[0])
            return found

        def planned(job: Any, folder: Any, *args: Any) -> Any:
            self.order.append("partition")
            if before_plan is not None:
                before_plan(folder)
            return partition(job, folder, *args)
        monkeypatch.setattr(Processes, "spawn", spawned)
        monkeypatch.setattr(engine, "_partition", planned)

    def all_ended(self) -> bool:
        return all(handle.poll() is not None for handle in self.handles)


def _apply(root: Path) -> Any:
    return api.apply(str(root / "spec.yaml"), environ=dict(os.environ), root=root / ".runner" / "runs",
                     stream=io.StringIO())


def _inits_done(folder: Any, workers: int) -> None:
    """Until every worker's log says init() ran: the listing waits for it here."""
    logs = [folder.user_log("entry_script_log", 0, process) for process in range(workers)]
    deadline = time.monotonic() + 120
    while not all(log.exists() and "init done" in log.read_text() for log in logs):
        assert time.monotonic() < deadline, "the workers did not start before the listing"
        time.sleep(0.05)


def test_workers_run_init_while_the_inputs_are_listed_and_are_adopted(tmp_path, monkeypatch):
    names = make_files(tmp_path / "data", 12)
    write_spec(tmp_path, mini_batch_size=2, process_count_per_node=2)
    recorded = Recorded(monkeypatch, before_plan=lambda folder: _inits_done(folder, 2))
    result = _apply(tmp_path)
    assert result.status == Status.SUCCEEDED, result.reason
    assert recorded.order == ["spawn", "spawn", "partition"]  # adopted: none started again
    assert sorted(output_rows(tmp_path, result.run.id)) == expected_rows(names)
    assert recorded.all_ended()


def test_workers_beyond_the_mini_batches_are_killed(tmp_path, monkeypatch):
    names = make_files(tmp_path / "data", 3)
    write_spec(tmp_path, mini_batch_size=5, process_count_per_node=2)  # one mini-batch, two workers
    recorded = Recorded(monkeypatch)
    result = _apply(tmp_path)
    assert result.status == Status.SUCCEEDED, result.reason
    assert recorded.order == ["spawn", "spawn", "partition"] and recorded.all_ended()
    ledger = (result.run.step("score").ledger).read_text().splitlines()
    assert [json.loads(line)["worker"] for line in ledger] == [0]
    assert sorted(output_rows(tmp_path, result.run.id)) == expected_rows(names)


def test_a_failed_plan_kills_the_workers_started_for_it(tmp_path, monkeypatch):
    make_files(tmp_path / "data", 4)
    write_spec(tmp_path, mini_batch_size=2, process_count_per_node=2)

    def refused(folder: Any) -> None:
        raise PreflightError("the listing failed")
    recorded = Recorded(monkeypatch, before_plan=refused)
    result = _apply(tmp_path)
    assert result.status == Status.PREFLIGHT and "the listing failed" in result.reason
    assert recorded.order == ["spawn", "spawn", "partition"] and recorded.all_ended()


def test_a_step_an_earlier_run_may_be_reused_for_starts_no_worker_ahead(tmp_path, monkeypatch):
    make_files(tmp_path / "data", 4)
    write_spec(tmp_path, mini_batch_size=2, process_count_per_node=2, step={"allow_reuse": True})
    assert _apply(tmp_path).status == Status.SUCCEEDED
    recorded = Recorded(monkeypatch)
    result = _apply(tmp_path)
    assert result.status == Status.REUSED
    assert recorded.order == ["partition"]  # listed to find it unchanged; no worker started


LATE = '''
import logging
import os
import time

MARKERS = os.environ["FAULT_MARKERS"]
LATE = os.path.join(MARKERS, "late")
if os.path.exists(LATE):  # a worker started once the plan was made
    with open(LATE) as handle:
        how = handle.read()
    if how == "fail":
        open(os.path.join(MARKERS, "import-failed"), "w").close()
        raise ImportError("only the late worker cannot import this")
    time.sleep(120)  # still importing when the work is done


def init():
    logging.getLogger("late").info("init done")


def run(mini_batch):
    if os.path.exists(LATE) and open(LATE).read() == "fail":
        deadline = time.monotonic() + 60  # the late worker fails to import before any work is done
        while not os.path.exists(os.path.join(MARKERS, "import-failed")) and time.monotonic() < deadline:
            time.sleep(0.05)
    return [f"{os.path.basename(path)}: {int(os.path.basename(path)[1:5])}" for path in mini_batch]
'''


@pytest.mark.parametrize("late", ["sleep", "fail"])
def test_an_incremental_rerun_starts_one_worker_ahead_and_waits_for_no_other(tmp_path, monkeypatch, late):
    """Reusing an earlier run's items, what runs is most often a few new ones: one worker
    starts during the listing; the one the plan finds work for after is started, but the
    work goes to the first at once; at the end the other, still importing, is stopped at
    once; one whose import fails is a failed start, not a pre-flight failure."""
    names = make_files(tmp_path / "data", 8)
    write_spec(tmp_path, script="late.py", mini_batch_size=2, process_count_per_node=2, step={"incremental": True})
    (tmp_path / "code" / "late.py").write_text(LATE)
    assert _apply(tmp_path).status == Status.SUCCEEDED
    names += make_files(tmp_path / "data", 4, start=8)

    def marked(folder: Any) -> None:
        _inits_done(folder, 1)
        (tmp_path / "markers" / "late").write_text(late)
    recorded = Recorded(monkeypatch, before_plan=marked)
    stops: list[float] = []
    stop_all = Supervisor.stop_all

    def timed(supervisor: Supervisor, graceful: bool) -> None:
        started = time.monotonic()
        stop_all(supervisor, graceful)
        stops.append(time.monotonic() - started)
    monkeypatch.setattr(Supervisor, "stop_all", timed)
    result = _apply(tmp_path)
    assert result.status == Status.SUCCEEDED, result.reason
    assert stops and stops[0] < 5  # a worker still importing is not given the 10 s grace
    assert recorded.order == ["spawn", "partition", "spawn", *(["spawn"] * (len(recorded.order) - 3))]
    assert recorded.all_ended()
    assert sorted(output_rows(tmp_path, result.run.id)) == expected_rows(names)
    ledger = [json.loads(line) for line in result.run.step("score").ledger.read_text().splitlines()]
    assert {line["worker"] for line in ledger if line.get("tries")} == {0}  # the reused ones have none
    if late == "fail":
        events = (result.run.step("score").path / "events.jsonl").read_text()
        assert '"start_failed"' in events and "only the late worker cannot import this" in events


def test_an_incremental_step_whose_code_changed_starts_every_worker_ahead(tmp_path, monkeypatch):
    make_files(tmp_path / "data", 8)
    write_spec(tmp_path, mini_batch_size=2, process_count_per_node=2, step={"incremental": True})
    assert _apply(tmp_path).status == Status.SUCCEEDED
    with open(tmp_path / "code" / "faulty.py", "a") as handle:
        handle.write("\n# changed\n")
    recorded = Recorded(monkeypatch)
    result = _apply(tmp_path)
    assert result.status == Status.SUCCEEDED, result.reason
    assert recorded.order == ["spawn", "spawn", "partition"]
