"""Incremental steps against random histories (Hypothesis): between applies, files are
added, removed and modified (their size changed, or not), CSV tables grow, the entry
script's code and the model are edited, and the driver is killed mid-run and the run
resumed. After every apply (or resume) the step's output, as a multiset of rows, equals
a fresh full run's over the same inputs with the same code and model (`--no-reuse`, in a
RUNNER_HOME of its own, so it is never the base of an incremental run).

Each example runs several real `runner` processes: few examples, short histories, and
derandomized, so every run of the suite tries the same histories. Every write sets the
file's modification time to a value of its own: a change is never hidden by the file
system's time granularity (item reuse trusts size and time, as documented)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.local.helpers import RUNNER, cli, pid_alive, write_spec

ROOT = Path(__file__).parents[3]
SETTINGS = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Blocks run() from the `after`-th call on (the number is in gate/armed) until the driver
# is killed: the kill lands while those mini-batches run, whatever the machine's speed.
GATE = '''
import os, time

def _gate():
    folder = os.environ["GATE_DIR"]
    try:
        with open(os.path.join(folder, "armed")) as handle:
            after = int(handle.read())
    except FileNotFoundError:
        return
    call = 0
    while True:
        try:
            fd = os.open(os.path.join(folder, f"call.{call}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            call += 1
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    if call < after:
        return
    open(os.path.join(folder, f"held.{os.getpid()}"), "w").close()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the driver's death ends this process
        time.sleep(0.01)
'''

# Both scripts read the model file in init() and scale by FACTOR (a code edit changes it).
MODEL = '''
import argparse

FACTOR = {factor}
parser = argparse.ArgumentParser()
parser.add_argument("--model")
model = ""

def init():
    global model
    with open(parser.parse_known_args()[0].model) as handle:
        model = handle.read().strip()
'''

FILES_SCRIPT = GATE + MODEL + '''

def run(mini_batch):
    _gate()
    out = []
    for path in mini_batch:
        with open(path) as handle:
            out.append(f"{os.path.basename(path)}: {int(handle.read()) * FACTOR} {model}")
    return out
'''

TABLE_SCRIPT = GATE + MODEL + '''
import pandas as pd


def run(mini_batch):
    _gate()
    return pd.DataFrame({"id": mini_batch["id"], "y": mini_batch["x"] * FACTOR, "model": model})
'''


class Project:
    """A job folder, the state its inputs are in, and the checks after each apply."""

    def __init__(self, root: Path, script: str, row_format: str, tabular: bool) -> None:
        self.root, self.script, self.row_format = root, script, row_format
        self.data, self.gate = root / "data", root / "gate"
        self.data.mkdir()
        self.gate.mkdir()
        self.clock = 1_700_000_000  # each write's modification time (seconds), never twice
        self.factor = self.model = self.named = 1
        self.full: dict[Any, list[str]] = {}  # state -> a full run's rows (the same state runs once)
        dataset = {"kind": "tabular", "path": "data/"} if tabular else None
        write_spec(root, script="score.py", dataset=dataset, step={"incremental": True},
                   mini_batch_size=64 if tabular else 2, append_row_format=row_format,
                   env={"GATE_DIR": str(self.gate)})
        spec = yaml.safe_load((root / "spec.yaml").read_text())
        spec["models"] = {"m": {"path": "model.txt"}}
        spec["steps"][0]["arguments"] = ["--model", "${{ models.m }}"]
        (root / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        self.edit_code()
        self.edit_model()

    def write(self, path: Path, text: str, append: bool = False) -> None:
        with open(path, "a" if append else "w") as handle:
            handle.write(text)
        self.clock += 1
        os.utime(path, ns=(self.clock * 10**9, self.clock * 10**9))

    def edit_code(self) -> None:
        self.factor += 1
        (self.root / "code" / "score.py").write_text(self.script.replace("{factor}", str(self.factor)))

    def edit_model(self) -> None:
        self.model += 1
        self.write(self.root / "model.txt", f"m{self.model}\n")

    def files(self) -> list[Path]:
        return sorted(self.data.iterdir())

    def new_name(self, suffix: str) -> Path:
        self.named += 1
        return self.data / f"n{self.named:03d}{suffix}"

    # The applies and their checks.

    def runs(self, home: Path) -> set[str]:
        return {p.name for p in (home / "runs").iterdir()} if (home / "runs").is_dir() else set()

    def apply(self) -> None:
        before = self.runs(self.root / ".runner")
        done = cli("apply", "spec.yaml", cwd=self.root)
        assert done.returncode == 0, done.stderr
        [run_id] = self.runs(self.root / ".runner") - before
        self.check(run_id)

    def killed_apply(self, after: int, keep: int | None) -> None:
        """Killed while run() is held at its `after`-th call, then resumed; `keep`: the
        ledger lines left on disk (a kill before the rest were written), None for all."""
        for stale in self.gate.iterdir():
            stale.unlink()
        (self.gate / "armed").write_text(str(after))
        before = self.runs(self.root / ".runner")
        env = {**{k: v for k, v in os.environ.items() if k != "RUNNER_HOME"}, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([*RUNNER, "apply", "spec.yaml"], cwd=self.root, text=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        assert _until(lambda: proc.poll() is not None or any(self.gate.glob("held.*"))), "the run made no progress"
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        (self.gate / "armed").unlink()
        [run_id] = self.runs(self.root / ".runner") - before
        if proc.returncode != -signal.SIGKILL:  # fewer calls than `after`: it ran to its end
            assert proc.returncode == 0, err
            self.check(run_id)
            return
        workers = [int(p.read_text()) for p in self.gate.glob("call.*") if p.read_text()]
        assert _until(lambda: not any(pid_alive(pid) for pid in workers)), "a worker outlived its driver"
        ledger = self.root / ".runner" / "runs" / run_id / "score" / "ledger.jsonl"
        if keep is not None and ledger.exists():
            ledger.write_bytes(b"".join(ledger.read_bytes().splitlines(keepends=True)[:keep]))
        resumed = cli("resume", run_id, cwd=self.root)
        assert resumed.returncode == 0, resumed.stderr
        self.check(run_id)

    def check(self, run_id: str) -> None:
        rows = self.rows(self.root / ".runner", run_id)
        assert sorted(rows) == self.full_run(), f"run {run_id} differs from a full run over {self.state()}"

    def state(self) -> Any:
        return self.factor, self.model, tuple((p.name, p.read_bytes()) for p in self.files())

    def full_run(self) -> list[str]:
        state = self.state()
        if state not in self.full:
            home = self.root / "full"
            before = self.runs(home)
            done = cli("apply", "spec.yaml", "--no-reuse", cwd=self.root, env={"RUNNER_HOME": str(home)})
            assert done.returncode == 0, done.stderr
            [run_id] = self.runs(home) - before
            self.full[state] = sorted(self.rows(home, run_id))
        return self.full[state]

    def rows(self, home: Path, run_id: str) -> list[str]:
        """The output's rows (a CSV's header checked once, then left out)."""
        path = home / "runs" / run_id / "score" / "outputs" / "out" / "parallel_run_step.txt"
        if self.row_format == "parquet":
            import pandas as pd

            frame = pd.read_parquet(path)
            return [",".join(str(v) for v in row) for row in frame.itertuples(index=False)]
        lines = path.read_text().splitlines()
        if self.row_format == "csv":
            header = lines[0]
            assert header.split(",")[0] in ("0", "id") and header not in lines[1:], lines[:3]
            return lines[1:]
        return lines


def _until(condition: Callable[[], bool], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def _project(script: str, row_format: str, tabular: bool) -> tuple[Project, Callable[[], None]]:
    folder = Path(tempfile.mkdtemp(prefix="incprop-"))
    return Project(folder, script, row_format, tabular), lambda: shutil.rmtree(folder, ignore_errors=True)


# A history: rounds of one or two changes, each round ended by an apply, or by an apply
# killed at its `after`-th run() call and resumed (with `keep` ledger lines left, or all).
KILL = st.tuples(st.just("kill"), st.integers(0, 2), st.none() | st.integers(0, 6))
END = st.tuples(st.just("apply")) | KILL
EDITS = st.tuples(st.just("code")) | st.tuples(st.just("model"))
FILE_CHANGES = (st.tuples(st.just("add"), st.integers(1, 3)) | st.tuples(st.just("remove"), st.integers(0, 99))
                | st.tuples(st.just("modify"), st.integers(0, 99), st.booleans()) | EDITS)
TABLE_CHANGES = (st.tuples(st.just("add"), st.integers(1, 30)) | st.tuples(st.just("remove"), st.integers(0, 99))
                 | st.tuples(st.just("modify"), st.integers(0, 99), st.booleans())
                 | st.tuples(st.just("append"), st.integers(0, 99), st.integers(1, 12)) | EDITS)
Round = tuple[list[tuple[Any, ...]], tuple[Any, ...]]


def _rounds(changes: st.SearchStrategy[tuple[Any, ...]]) -> st.SearchStrategy[list[Round]]:
    return st.lists(st.tuples(st.lists(changes, min_size=1, max_size=2), END), min_size=1, max_size=3)


def _history(project: Project, rounds: list[Round], change: Callable[[tuple[Any, ...]], None]) -> None:
    project.apply()
    for changes, end in rounds:
        for op in changes:
            if op[0] == "code":
                project.edit_code()
            elif op[0] == "model":
                project.edit_model()
            else:
                change(op)
        if end[0] == "kill":
            project.killed_apply(end[1], end[2])
        else:
            project.apply()


def _other_value(value: int, same_size: bool) -> int:
    if not same_size:
        return value * 10 + 7
    return value + 1 if len(str(value + 1)) == len(str(value)) else value - 1


@SETTINGS
@example(initial=5, row_format="csv",  # a kill while new and changed (same size) files run; then one gone
         rounds=[([("add", 2), ("modify", 1, True)], ("kill", 1, None)), ([("remove", 0)], ("apply",))])
@given(initial=st.integers(1, 6), row_format=st.sampled_from(["text", "csv", "parquet"]),
       rounds=_rounds(FILE_CHANGES))
def test_file_dataset_output_equals_a_full_run_after_any_history(initial: int, row_format: str,
                                                                  rounds: list[Round]) -> None:
    project, clean = _project(FILES_SCRIPT, row_format, tabular=False)

    def add(count: int) -> None:
        for _ in range(count):
            project.write(project.new_name(".txt"), f"{100 + 37 * project.named % 900}\n")

    def change(op: tuple[Any, ...]) -> None:
        files = project.files()
        if op[0] == "add":
            add(op[1])
        elif op[0] == "remove" and len(files) > 1:  # an empty dataset is refused
            files[op[1] % len(files)].unlink()
        elif op[0] == "modify":
            path = files[op[1] % len(files)]
            project.write(path, f"{_other_value(int(path.read_text()), op[2])}\n")

    try:
        add(initial)
        _history(project, rounds, change)
    finally:
        clean()


@SETTINGS
@example(initial=[20, 8],  # a kill while a grown table's new rows and a changed table run
         rounds=[([("append", 0, 6), ("modify", 1, False)], ("kill", 0, None)), ([("add", 5)], ("apply",))])
@given(initial=st.lists(st.integers(1, 30), min_size=1, max_size=3), rounds=_rounds(TABLE_CHANGES))
def test_csv_dataset_output_equals_a_full_run_after_any_history(initial: list[int],
                                                                rounds: list[Round]) -> None:
    project, clean = _project(TABLE_SCRIPT, "csv", tabular=True)
    ids = iter(range(10**6))

    def rows(count: int) -> str:
        return "".join(f"{i},{100 + 37 * i % 900}\n" for i in (next(ids) for _ in range(count)))

    def change(op: tuple[Any, ...]) -> None:
        files = project.files()
        if op[0] == "add":
            project.write(project.new_name(".csv"), "id,x\n" + rows(op[1]))
        elif op[0] == "remove" and len(files) > 1:
            files[op[1] % len(files)].unlink()
        elif op[0] == "append":
            project.write(files[op[1] % len(files)], rows(op[2]), append=True)
        elif op[0] == "modify":
            path = files[op[1] % len(files)]
            lines = path.read_text().splitlines(keepends=True)
            at = 1 + op[1] % (len(lines) - 1)
            key, value = lines[at].rstrip("\n").split(",")
            lines[at] = f"{key},{_other_value(int(value), op[2])}\n"
            project.write(path, "".join(lines))

    try:
        for count in initial:
            project.write(project.new_name(".csv"), "id,x\n" + rows(count))
        _history(project, rounds, change)
    finally:
        clean()

