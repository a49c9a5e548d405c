"""Runs execute a snapshot of source_directory, as Azure ML runs its upload: real runs
through the CLI, code edited between a kill and a resume, files the ignore file leaves out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.local.helpers import cli, make_files, output_rows, run_folder, write_spec

# One worker, one file per mini-batch: f0000 to f0004 commit, then the worker waits at
# f0005 until the test opens the gate, so the driver is killed at a known point.
GATED = '''
import os, time
from version import VERSION  # a module beside the entry script: all of source_directory is snapshotted
MARKERS = os.environ["FAULT_MARKERS"]

def run(mini_batch):
    rows = []
    for path in mini_batch:
        name = os.path.basename(path)
        if name == "f0005.txt":
            open(os.path.join(MARKERS, "at-gate"), "w").close()
            while not os.path.exists(os.path.join(MARKERS, "open")):
                time.sleep(0.01)
        rows.append(f"{VERSION} {name}")
    return rows
'''


def _apply(root: Path) -> tuple[int, str, str]:
    done = cli("apply", "spec.yaml", cwd=root)
    return done.returncode, done.stdout.strip(), done.stderr


def _kill_at_gate(root: Path) -> str:
    proc = subprocess.Popen([sys.executable, "-m", "runner", "apply", "spec.yaml"], cwd=root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    deadline = time.monotonic() + 60
    ledgers: list[Path] = []
    while time.monotonic() < deadline:
        ledgers = list((root / ".runner" / "runs").glob("*/score/ledger.jsonl"))
        if (root / "markers" / "at-gate").exists() and ledgers and len(ledgers[0].read_bytes().splitlines()) == 5:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    else:
        raise AssertionError("the run never reached the gate")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return ledgers[0].parents[1].name


def _step_record(root: Path, run_id: str) -> dict[str, object]:
    record: dict[str, object] = json.loads((run_folder(root, run_id) / "score" / "step.json").read_text())
    return record


def test_code_edited_between_a_kill_and_a_resume_never_mixes_versions(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 10)
    write_spec(tmp_path, script="gated.py", mini_batch_size=1, process_count_per_node=1,
               step={"allow_reuse": True})
    code = tmp_path / "code"
    (code / "gated.py").write_text(GATED)
    (code / "version.py").write_text('VERSION = "v1"\n')
    first = _kill_at_gate(tmp_path)
    before = _step_record(tmp_path, first)
    assert before["fingerprint"] and before["snapshot"] and before["snapshot_files"] == 2
    assert sorted(output_rows(tmp_path, first)) == [f"v1 {n}" for n in names[:5]]

    (code / "version.py").write_text('VERSION = "v2"\n')  # edited while the run is stopped
    (tmp_path / "markers" / "open").touch()
    resumed = cli("resume", first, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(output_rows(tmp_path, first)) == [f"v1 {n}" for n in names]  # every row from v1, once
    after = _step_record(tmp_path, first)
    assert (after["fingerprint"], after["snapshot"]) == (before["fingerprint"], before["snapshot"])

    code_, second, err = _apply(tmp_path)  # v2 is other code: not the resumed run's output
    assert code_ == 0 and "reused" not in err, err
    assert sorted(output_rows(tmp_path, second)) == [f"v2 {n}" for n in names]
    (code / "version.py").write_text('VERSION = "v1"\n')  # v1 again: the resumed run is v1's output
    code_, third, err = _apply(tmp_path)
    assert code_ == 0 and f"reused the output of run {first}" in err, err
    assert sorted(output_rows(tmp_path, third)) == [f"v1 {n}" for n in names]


READER = '''
import os

def run(mini_batch):
    with open("lookup.txt") as handle:  # relative: the working directory is the snapshot
        value = handle.read().strip()
    return [f"{os.path.basename(path)}: {value}" for path in mini_batch]
'''


def test_a_file_the_ignore_file_leaves_out_is_not_there_for_the_script(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 4)
    write_spec(tmp_path, script="reader.py", error_threshold=0, process_count_per_node=1)
    code = tmp_path / "code"
    (code / "reader.py").write_text(READER)
    (code / "lookup.txt").write_text("42\n")
    (code / ".gitignore").write_text("lookup.txt\n")
    (code / "__pycache__").mkdir()
    (code / "__pycache__" / "stale.cpython-311.pyc").write_bytes(b"not bytecode")
    status, run_id, err = _apply(tmp_path)
    assert status == 1 and "FileNotFoundError" in err and "lookup.txt" in err, err
    snapshot = run_folder(tmp_path, run_id) / "score" / "snapshot"
    assert sorted(p.name for p in snapshot.iterdir() if p.name != "__pycache__") == [".gitignore", "reader.py"]
    assert not (snapshot / "__pycache__" / "stale.cpython-311.pyc").exists()

    (code / ".amlignore").write_text("# .amlignore wins over .gitignore\n")
    status, run_id, err = _apply(tmp_path)
    assert status == 0, err
    assert sorted(output_rows(tmp_path, run_id)) == [f"{n}: 42" for n in names]


def test_an_entry_script_left_out_of_the_snapshot_is_a_preflight_error(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 2)
    write_spec(tmp_path, script="faulty.py")
    (tmp_path / "code" / ".amlignore").write_text("*.py\n")
    status, _, err = _apply(tmp_path)
    assert status == 2, err
    assert "faulty.py is left out of the step's code snapshot by" in err and ".amlignore" in err


def test_preflight_names_the_users_file_and_a_resume_keeps_the_snapshot(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 2)
    write_spec(tmp_path, script="faulty.py")
    script = tmp_path / "code" / "faulty.py"
    good = script.read_text()
    script.write_text("def run(:\n")
    status, run_id, err = _apply(tmp_path)
    assert status == 2 and f"entry_script {script} has a syntax error at line 1" in err, err
    script.write_text(good)  # fixed, but the run is the code it started with
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 2 and "syntax error at line 1" in resumed.stderr, resumed.stderr
    assert "to run the code as it is now, `runner retry" in resumed.stderr and "--update-code`" in resumed.stderr
    status, _, err = _apply(tmp_path)
    assert status == 0, err
