"""What joining a cluster changes in the driver's process."""

from __future__ import annotations

import io

import pytest

from runner.ray.cluster import _notices_to_stderr

ray = pytest.importorskip("ray")


def test_the_clusters_notices_go_to_stderr_not_to_the_run_id_on_stdout(capsys, monkeypatch):
    worker = ray._private.worker
    monkeypatch.setattr(worker, "print_to_stdstream", worker.print_to_stdstream)  # restored after the test
    _notices_to_stderr(ray)
    _notices_to_stderr(ray)  # once is enough: joined again, it is not wrapped twice
    # As Ray's error listener calls it for "The node ... has been marked dead".
    worker.print_to_stdstream({"lines": ["The node with node id: 1 has been marked dead"], "pid": "raylet",
                               "is_err": False, "ip": "127.0.0.1"}, ignore_prefix=False)
    out, err = capsys.readouterr()
    assert out == "" and "has been marked dead" in err


def test_a_runner_package_is_known_by_its_files_not_by_where_it_is(tmp_path):
    import shutil
    import zipfile

    from runner.ray.boot import PACKAGE, package_digest, packed

    digest, data = packed()
    copy = tmp_path / "runner"
    shutil.copytree(PACKAGE, copy)  # with its bytecode, which is left out
    assert package_digest(str(copy)) == digest
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
    assert "runner/ray/boot.py" in names and not any("__pycache__" in name for name in names)
    (copy / "ray" / "host.py").write_text((copy / "ray" / "host.py").read_text() + "\n")
    assert package_digest(str(copy)) != digest


def test_a_node_with_another_runner_gets_this_one_shipped(tmp_path, own_cluster):
    """A node whose own runner differs (here: one whose worker host cannot even be imported)
    gets this one with its actor; a node with this very runner (the head, running this
    checkout) imports its own. Both workers start, and no start is counted as failed."""
    import shutil
    from pathlib import Path

    from tests.local.helpers import cli, make_files, output_rows, run_folder, write_spec
    from tests.ray.conftest import on_cluster

    other = tmp_path / "node-site" / "runner"
    shutil.copytree(Path(__file__).parents[2] / "runner", other, ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "ray" / "host.py", "a") as host:
        host.write('\nraise ImportError("another runner")\n')
    found = own_cluster(2, 1, node_env={"PYTHONPATH": str(other.parent)})
    ray.shutdown()  # this process's join: its folder (the repo) would be on the workers' path

    names = make_files(tmp_path / "data", 4)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "barrier.py").write_text(BARRIER)
    spec = write_spec(tmp_path, script="barrier.py", env={"BARRIER": str(tmp_path / "started")}, mini_batch_size=2,
                      node_count=2, process_count_per_node=1)
    result = cli("apply", str(spec), *on_cluster(found.address), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(output_rows(tmp_path, result.stdout.strip())) == sorted(f"{n}: ok" for n in names)
    step = run_folder(tmp_path, result.stdout.strip()) / "score"
    events = (step / "events.jsonl").read_text()
    assert "start_failed" not in events and "retired" not in events, events
    imported = sorted(line.removeprefix("runner from ").strip()
                      for log in (step / "logs" / "user" / "stdout").glob("node*/*.txt")
                      for line in log.read_text().splitlines() if line.startswith("runner from "))
    assert len(imported) == 2 and str(Path(__file__).parents[2] / "runner") in imported, imported
    assert any("runner-package" in path for path in imported), imported


# Every worker's init() leaves a mark; run() waits for both workers' marks, so the job
# finishes only if the worker on the other node started too (however late, under load).
BARRIER = """\
import os, sys, time

def init():
    print("runner from", os.path.dirname(sys.modules["runner"].__file__))
    os.makedirs(os.environ["BARRIER"], exist_ok=True)
    open(os.path.join(os.environ["BARRIER"], str(os.getpid())), "w").close()

def run(mini_batch):
    deadline = time.monotonic() + 120
    while len(os.listdir(os.environ["BARRIER"])) < 2:
        if time.monotonic() > deadline:
            raise RuntimeError("the other worker never started")
        time.sleep(0.05)
    return [f"{os.path.basename(path)}: ok" for path in mini_batch]
"""


def test_rays_colours_are_left_out_of_an_error_the_run_records():
    from runner.ray.cluster import _first_line

    error = RuntimeError("The actor died in \x1b[36mray::WorkerHost.__init__()\x1b[39m (pid=1)\nTraceback ...")
    assert _first_line(error) == "The actor died in ray::WorkerHost.__init__() (pid=1)"
