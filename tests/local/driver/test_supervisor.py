"""The supervisor in-process, with real worker processes: races that a whole job only
shows now and then under load are forced here in a fixed order."""

from __future__ import annotations

import json
from pathlib import Path

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
