"""Worker processes with real runs: what run() and init() start dies with the worker,
even in a session of its own (when the run ends, when the driver kills the worker, when
the worker dies, when the driver is killed); a failure after run() closed fd 1 and 2
keeps its traceback; a thread left running does not hold a finished worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.local.procs.proctree import end_tree
from tests.local.helpers import cli, make_files, output_rows, pid_alive, run_folder, write_spec

ROOT = Path(__file__).parents[2]

# A child in a session of its own, so killing the worker's session misses it; its pid
# and session go to a marker file.
CHILD = """
import os, subprocess, time
MARKERS = os.environ["FAULT_MARKERS"]

def start_child(tag):
    child = subprocess.Popen(["sleep", "300"], start_new_session=True)
    with open(os.path.join(MARKERS, f"{tag}-{child.pid}.tmp"), "w") as handle:
        handle.write(f"{child.pid} {os.getsid(child.pid)} {os.getsid(0)}")
    os.rename(os.path.join(MARKERS, f"{tag}-{child.pid}.tmp"), os.path.join(MARKERS, f"{tag}-{child.pid}"))
    return child.pid
"""


def _script(root: Path, name: str, text: str) -> None:
    (root / "code").mkdir(exist_ok=True)
    (root / "code" / name).write_text(CHILD + text)


def _children(root: Path, tag: str = "") -> list[int]:
    """The pids of the children the script started, each checked to be in a session of
    its own (else the test would prove nothing)."""
    pids = []
    for marker in (root / "markers").glob(f"{tag}*-*"):
        if marker.suffix == ".tmp":
            continue
        pid, child_session, worker_session = (int(x) for x in marker.read_text().split())
        assert child_session == pid != worker_session
        pids.append(pid)
    return pids


def _ours(root: Path) -> list[int]:
    """Every live process of this test's run but the driver: each has the spec's
    environment (its FAULT_MARKERS names this test's folder)."""
    needle = f"\0FAULT_MARKERS={root / 'markers'}\0".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            environ = b"\0" + Path(f"/proc/{name}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ and pid_alive(int(name)):
            found.append(int(name))
    return found


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    """Those of `pids` still alive after `seconds` (polled, so a fast end passes at once)."""
    deadline = time.monotonic() + seconds
    while True:
        alive = [p for p in pids if pid_alive(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


def _apply(root: Path) -> tuple[int, str, str]:
    result = cli("apply", "spec.yaml", cwd=root, timeout=180)
    return result.returncode, result.stdout.strip(), result.stderr


def _manifest(root: Path, run_id: str) -> list[dict[str, object]]:
    text = (run_folder(root, run_id) / "score" / "failed_items.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_children_in_a_new_session_end_with_the_run(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 4)
    _script(tmp_path, "spawn.py", "def run(mb):\n    start_child('run')\n    return mb\n")
    write_spec(tmp_path, script="spawn.py", mini_batch_size=1)
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    assert len(output_rows(tmp_path, run_id)) == 4
    children = _children(tmp_path)
    assert len(children) == 4
    assert _gone_within(children, 2.0) == []
    assert _gone_within(_ours(tmp_path), 2.0) == []


def test_a_child_of_a_timed_out_run_dies_with_the_killed_worker(tmp_path: Path) -> None:
    """The retry (in a new worker) looks for the hung try's child: it must be gone then,
    killed with the worker, not at the end of the run."""
    make_files(tmp_path / "data", 3)
    _script(tmp_path, "hang.py", """
def run(mb):
    first = [p for p in os.listdir(MARKERS) if p.startswith("hung-") and not p.endswith(".tmp")]
    if "f0000" in mb[0] and not first:
        start_child("hung")
        time.sleep(300)
    if "f0000" in mb[0]:
        pid = int(first[0].split("-")[1])
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] != "Z":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the hung try's child {pid} is alive")
            time.sleep(0.02)
    return mb
""")
    write_spec(tmp_path, script="hang.py", mini_batch_size=1, process_count_per_node=1, run_invocation_timeout=2,
               run_max_try=2)
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    assert len(output_rows(tmp_path, run_id)) == 3, err
    [hung] = _children(tmp_path, "hung")
    assert not pid_alive(hung)
    log = (run_folder(tmp_path, run_id) / "score/logs/sys/driver.log").read_text()
    assert "run_invocation_timeout (2 s)" in log


def test_a_worker_that_exits_takes_what_it_started_with_it(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 2)
    _script(tmp_path, "crash.py", """
def run(mb):
    if "f0000" in mb[0]:
        start_child("crash")
        os._exit(5)
    return mb
""")
    write_spec(tmp_path, script="crash.py", mini_batch_size=1, process_count_per_node=1, run_max_try=1)
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    [entry] = _manifest(tmp_path, run_id)
    assert "the worker process died (exit code 5)" in str(entry["error"])
    [child] = _children(tmp_path, "crash")
    assert _gone_within([child], 2.0) == []


def test_an_exception_after_closing_fd_1_and_2_keeps_its_traceback(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 3)
    _script(tmp_path, "closes.py", """
def run(mb):
    if "f0001" in mb[0]:
        os.close(1)
        os.close(2)
        raise ValueError("raised after closing fd 1 and 2")
    print("scored", mb)
    return mb
""")
    write_spec(tmp_path, script="closes.py", mini_batch_size=1, process_count_per_node=1, run_max_try=1)
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    assert len(output_rows(tmp_path, run_id)) == 2
    [entry] = _manifest(tmp_path, run_id)
    error = str(entry["error"])
    assert "Traceback" in error and "ValueError: raised after closing fd 1 and 2" in error, error
    log = (run_folder(tmp_path, run_id) / "score/logs/sys/driver.log").read_text()
    assert "died" not in log and "restart" not in log, log
    # fd 2 went back to the worker's log: the traceback is there too.
    stderr = (run_folder(tmp_path, run_id) / "score/logs/user/stderr/node0/process000.stderr.txt").read_text()
    assert "ValueError: raised after closing fd 1 and 2" in stderr


def test_a_thread_left_running_does_not_hold_a_finished_worker(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 4)
    _script(tmp_path, "threads.py", """
import threading

def init():
    threading.Thread(target=time.sleep, args=(60,)).start()

def run(mb):
    threading.Thread(target=time.sleep, args=(60,)).start()
    return mb
""")
    write_spec(tmp_path, script="threads.py", mini_batch_size=2)
    started = time.monotonic()
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    # The stop grace is 10 s: a worker held by its threads took at least that.
    assert time.monotonic() - started < 8
    assert len(output_rows(tmp_path, run_id)) == 4
    assert _gone_within(_ours(tmp_path), 2.0) == []


def _start_driver(root: Path) -> subprocess.Popen[bytes]:
    with open(root / "driver.err", "wb") as err:
        return subprocess.Popen([sys.executable, "-m", "runner", "apply", "spec.yaml"], cwd=root,
                                stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _wait_until(condition: Callable[[], object], driver: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        error = (root / "driver.err").read_text()
        assert driver.poll() is None, f"the driver ended first ({driver.returncode}): {error}"
        assert time.monotonic() < deadline, f"the run never got that far: {error}"
        time.sleep(0.005)


@pytest.mark.parametrize("when", ["first_worker_seen", "children_started"])
def test_a_killed_driver_leaves_no_worker_and_no_descendant(tmp_path: Path, when: str) -> None:
    make_files(tmp_path / "data", 8)
    _script(tmp_path, "init_child.py", """
def init():
    start_child("init")

def run(mb):
    start_child("run")
    time.sleep(300)
""")
    write_spec(tmp_path, script="init_child.py", mini_batch_size=1, process_count_per_node=2)
    driver = _start_driver(tmp_path)
    try:
        if when == "first_worker_seen":  # killed in its first second, workers starting
            _wait_until(lambda: _ours(tmp_path), driver, tmp_path)
        else:
            _wait_until(lambda: len(_children(tmp_path, "run")) == 2, driver, tmp_path)
        seen = _ours(tmp_path)
        driver.kill()
    finally:
        driver.kill()
        driver.wait()
    left = _gone_within(_ours(tmp_path), 2.0)
    assert left == [], f"alive 2 s after the driver was killed: {left} (seen: {seen})"
    assert _gone_within(_children(tmp_path), 0.0) == []


def test_ctrl_c_ends_the_workers_with_what_they_started(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 8)
    _script(tmp_path, "slow.py", "def run(mb):\n    start_child('run')\n    time.sleep(300)\n")
    write_spec(tmp_path, script="slow.py", mini_batch_size=1, process_count_per_node=2)
    driver = _start_driver(tmp_path)
    try:
        _wait_until(lambda: len(_children(tmp_path, "run")) == 2, driver, tmp_path)
        driver.send_signal(signal.SIGINT)
        assert driver.wait(60) == 130
    finally:
        driver.kill()
        driver.wait()
    # The driver waited for its workers: nothing is left by the time it exits.
    assert _gone_within(_ours(tmp_path), 0.5) == []


def test_end_tree_stops_and_kills_a_tree_that_keeps_forking(tmp_path: Path) -> None:
    """A tree that forks and leaves sessions as fast as it can, killed from outside."""
    script = ("import os, subprocess, sys, time\n"
              "for _ in range(3):\n"
              "    subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
              "    if os.fork() == 0:\n"
              "        os.setsid()\n"
              "        continue\n"
              "    break\n"
              "while True:\n"
              "    subprocess.Popen(['true']).wait()\n")
    root = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        time.sleep(0.5)
        killed = end_tree(root.pid, include_root=True)
        assert root.pid in killed and len(killed) >= 7  # 4 Pythons, 3 sleeps, some `true`
        root.wait(5)
        assert root.returncode == -signal.SIGKILL
        # Those not the test's children went to init (this test is no subreaper): all dead.
        assert _gone_within(killed, 2.0) == []
    finally:
        root.kill()
        root.wait()
