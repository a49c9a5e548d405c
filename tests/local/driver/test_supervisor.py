"""The supervisor in-process, with real worker processes: races that a whole job only
shows now and then under load are forced here in a fixed order."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runner.local.driver.supervisor import Slot, Supervisor
from runner.local.output.ledger import Ledger
from runner.local.protocol import WorkerConfig


def _supervisor(tmp_path: Path, script: str, run_max_try: int = 3) -> tuple[Supervisor, list[str]]:
    code = tmp_path / "code"
    code.mkdir()
    (code / "entry.py").write_text(script)
    (tmp_path / "minibatches.jsonl").write_text(json.dumps({"id": 0, "in": 0, "files": ["a"]}) + "\n")
    logged: list[str] = []

    def config(slot: Slot) -> WorkerConfig:
        logs = tmp_path / "logs"
        logs.mkdir(exist_ok=True)
        return WorkerConfig(entry_script=str(code / "entry.py"), source_directory=str(code), working_dir=str(code),
                            arguments=[], logging_level="INFO", inputs=[], kind="file", output_action="append_row",
                            row_format="text", minibatches=str(tmp_path / "minibatches.jsonl"),
                            stdout=str(logs / f"{slot.index}.out"), stderr=str(logs / f"{slot.index}.err"),
                            log_file=str(logs / f"{slot.index}.log"), env={})

    ledger = Ledger(str(tmp_path / "ledger.jsonl"), str(tmp_path / "out.txt"), 1)
    supervisor = Supervisor(workers=1, per_node=1, tasks=iter(()), ledger=ledger, run_max_try=run_max_try,
                            timeout=30.0, thresholds=lambda _: None, worker_config=config, worker_env={},
                            log=logged.append, interrupted=lambda: False, tick=lambda _: None)
    return supervisor, logged


def test_an_init_error_read_after_the_worker_exited_is_the_error_reported(tmp_path: Path) -> None:
    """The order a loaded machine produces: the worker sends init_error and exits, and the
    driver sees the exit (its timeout check) before it reads the message. The message must
    win; before the fix the slot was restarted by the drained message, then the new
    process was killed and blamed ("exited during start-up (killed by SIGKILL)")."""
    supervisor, logged = _supervisor(tmp_path, "def init():\n    raise ValueError('no model here')\n"
                                               "def run(batch):\n    return batch\n")
    slot = supervisor.slots[0]
    try:
        supervisor._start(slot)
        assert slot.proc is not None
        slot.proc.wait(timeout=60)  # it has sent "imported" and "init_error", and exited
        first = slot.proc
        supervisor._check_timeouts()  # sees the exit first
        assert slot.init_failures == 1, logged
        assert "init() raised" in slot.last_error and "no model here" in slot.last_error
        assert "killed by SIGKILL" not in "\n".join(logged)
        assert slot.proc is not first and slot.state == "starting"  # restarted once, and alive
        assert slot.proc.poll() is None or slot.proc.returncode == 0
    finally:
        supervisor.stop_all(graceful=False)
        supervisor.ledger.close()


def test_a_retired_worker_is_not_started_again(tmp_path: Path) -> None:
    """The last allowed failed start retires the slot; its exit, seen afterwards, must not
    restart it (a retired worker that comes back would run mini-batches)."""
    supervisor, logged = _supervisor(tmp_path, "def init():\n    raise ValueError('broken')\n"
                                               "def run(batch):\n    return batch\n", run_max_try=1)
    slot = supervisor.slots[0]
    try:
        supervisor._start(slot)
        assert slot.proc is not None
        slot.proc.wait(timeout=60)
        supervisor._check_timeouts()
        assert slot.state == "retired", logged
        assert slot.init_failures == 1
        assert "broken" in slot.last_error
    finally:
        supervisor.stop_all(graceful=False)
        supervisor.ledger.close()


ONCE = '''
import os, signal, time


def run(batch):
    for name in batch:
        if name == os.environ["POISON"]:
            try:  # once
                os.close(os.open(os.environ["MARK"], os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                continue
            if os.environ["FAULT"] == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(300)
    return batch
'''


def _tiny_job(tmp_path: Path, total: int, fault: str, poison: int, timeout: float) -> Supervisor:
    """`total` one-file mini-batches, each a no-op; `poison`'s first try is killed (or hangs)."""
    from runner.local.driver.supervisor import Task

    code = tmp_path / "code"
    code.mkdir()
    (code / "entry.py").write_text(ONCE)
    tasks, offset = [], 0
    with open(tmp_path / "minibatches.jsonl", "wb") as handle:
        for i in range(total):
            line = (json.dumps({"id": i, "in": 0, "files": [f"x{i}"]}) + "\n").encode()
            tasks.append(Task(i, offset, 1))
            offset += len(line)
            handle.write(line)

    def config(slot: Slot) -> WorkerConfig:
        return WorkerConfig(entry_script=str(code / "entry.py"), source_directory=str(code), working_dir=str(code),
                            arguments=[], logging_level="INFO", inputs=[], kind="file", output_action="append_row",
                            row_format="text", minibatches=str(tmp_path / "minibatches.jsonl"),
                            stdout=str(tmp_path / f"{slot.index}.out"), stderr=str(tmp_path / f"{slot.index}.err"),
                            log_file=str(tmp_path / f"{slot.index}.log"), env={})

    env = {**os.environ, "POISON": f"x{poison}", "MARK": str(tmp_path / "mark"), "FAULT": fault}
    ledger = Ledger(str(tmp_path / "ledger.jsonl"), str(tmp_path / "out.txt"), total)
    return Supervisor(workers=1, per_node=1, tasks=iter(tasks), ledger=ledger, run_max_try=2, timeout=timeout,
                      thresholds=lambda _: None, worker_config=config, worker_env=env, log=lambda _: None,
                      interrupted=lambda: False, tick=lambda _: None)


def _tries(tmp_path: Path) -> dict[int, int]:
    from runner.local.output.ledger_line import read_lines

    lines = list(read_lines(tmp_path / "ledger.jsonl"))
    assert all(line.status == "ok" for line in lines)
    tries = {line.mb: line.tries for line in lines}
    assert len(tries) == len(lines)  # each committed once
    return tries


@pytest.mark.parametrize("fault", ["kill", "hang"])
def test_a_worker_lost_while_holding_results_fails_only_the_mini_batch_it_ran(tmp_path: Path, fault: str) -> None:
    """Tiny mini-batches' results are held to go several to a message; the worker is
    SIGKILLed (or hangs past the timeout) in the middle of a message's worth, with the
    results before it held unsent. Only the mini-batch it ran counts a try: the driver
    reads it from the worker's InFlight page, not from the head of its queue (which had
    finished), and the held ones run again with none counted."""
    total, poison = 600, 500
    supervisor = _tiny_job(tmp_path, total, fault, poison, timeout=2.0)
    assert supervisor.run().status == "succeeded"
    supervisor.ledger.close()
    tries = _tries(tmp_path)
    assert sorted(tries) == list(range(total))
    assert {mb for mb, count in tries.items() if count != 1} == {poison}
    assert tries[poison] == 2
    rows = (tmp_path / "out.txt").read_text().split()
    assert sorted(rows) == sorted(f"x{i}" for i in range(total))
    assert supervisor.restarts == 1
