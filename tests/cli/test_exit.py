"""How `runner` leaves (runner/cli/__init__.py): without the interpreter's teardown, but
with its output flushed, its atexit functions run, its exit code kept, and a thread
that is not a daemon waited for."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import runner
from tests.cli.one_file import SPEC

ROOT = Path(runner.__file__).resolve().parents[1]

# `python -m runner ARGS` (runpy, as -m runs it), with what a caller's code can leave behind:
# an atexit function, an object freed only by the teardown, and optionally a thread.
_PROBE = textwrap.dedent("""
    import atexit, runpy, sys, threading, time, types

    class Freed:
        def __del__(self):
            sys.stderr.write("teardown ran\\n")

    probe = sys.modules["probe"] = types.ModuleType("probe")
    probe.freed = Freed()
    atexit.register(lambda: print("atexit ran", flush=False))
    if sys.argv[1] == "thread":
        threading.Thread(target=lambda: (time.sleep(0.3), print("thread finished", flush=True))).start()
    sys.argv = ["runner", *sys.argv[2:]]
    runpy.run_module("runner", run_name="__main__", alter_sys=True)
""")



def _runner(tmp_path: Path, *args: str, thread: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", _PROBE, "thread" if thread else "-", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)


def test_a_command_leaves_without_the_teardown_but_with_its_output_and_atexit_functions(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    done = _runner(tmp_path, "validate", "--no-files", "spec.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["ok    spec.yaml", "atexit ran"]
    assert "teardown ran" not in done.stderr


def test_a_failing_command_keeps_its_exit_code_and_diagnostics(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC.replace("name: one-file", "name: X"))
    done = _runner(tmp_path, "validate", "--no-files", "spec.yaml")
    assert done.returncode == 2
    assert "spec.yaml:1:7" in done.stderr and "atexit ran" in done.stdout
    assert "teardown ran" not in done.stderr


def test_a_thread_that_is_not_a_daemon_is_waited_for(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    done = _runner(tmp_path, "validate", "--no-files", "spec.yaml", thread=True)
    assert done.returncode == 0, done.stderr
    assert "thread finished" in done.stdout and "atexit ran" in done.stdout
