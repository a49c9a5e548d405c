"""`--target ray` on a real 3-node cluster: the same rows as the local engine, logs and
status in the run folder as locally, and nothing left on the cluster afterwards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.local.helpers import cli, example_project, expected_rows, make_files, output_rows, run_folder, write_spec
from tests.ray.conftest import LocalCluster, on_cluster, worker_processes


def _both(root: Path, cluster: LocalCluster, spec: Path, *extra: str, timeout: float = 300,
          output: str = "out", file: str = "parallel_run_step.txt", step: str = "score") -> tuple[str, str]:
    local = cli("apply", str(spec), *extra, cwd=root, timeout=timeout)
    assert local.returncode == 0, local.stderr
    remote = cli("apply", str(spec), *extra, *on_cluster(cluster.address), cwd=root, timeout=timeout)
    assert remote.returncode == 0, remote.stderr
    ids = local.stdout.strip(), remote.stdout.strip()
    assert (sorted(output_rows(root, ids[0], step, output, file))
            == sorted(output_rows(root, ids[1], step, output, file)))
    return ids


def test_a_file_dataset_gives_the_local_rows_with_a_worker_per_node(tmp_path, cluster):
    names = make_files(tmp_path / "data", 60)
    spec = write_spec(tmp_path, env={"SLEEP": "0.02"}, mini_batch_size=2, node_count=3, process_count_per_node=1)
    _, run_id = _both(tmp_path, cluster, spec)
    rows = output_rows(tmp_path, run_id)
    assert len(rows) == len(names) == len(set(rows))
    step = run_folder(tmp_path, run_id) / "score"
    # The local layout: a log per worker, node by node, written on the nodes.
    for node in range(3):
        assert "init in" in (step / "logs" / "user" / "stdout" / f"node{node}" / "process000.stdout.txt").read_text()
    status = json.loads(cli("status", run_id, "--json", cwd=tmp_path).stdout)
    assert status["status"] == "succeeded" and json.loads((run_folder(tmp_path, run_id) / "job.json")
                                                          .read_text())["target"] == "ray"
    cluster.wait_idle()
    assert worker_processes(tmp_path) == []


def test_a_tabular_dataset_gives_the_local_rows(tmp_path, cluster):
    data = tmp_path / "tables"
    data.mkdir()
    for part in range(3):
        lines = ["id,x", *(f"{part * 100 + i},{i}" for i in range(100))]
        (data / f"part{part}.csv").write_text("\n".join(lines) + "\n")
    spec = write_spec(tmp_path, script="tabular.py", dataset={"kind": "tabular", "path": "tables/"},
                      mini_batch_size="1KB", node_count=3, process_count_per_node=1, append_row_format="csv")
    _, run_id = _both(tmp_path, cluster, spec)
    assert len(output_rows(tmp_path, run_id)) == 301  # a header and each row once
    cluster.wait_idle()


def test_the_mnist_example_gives_the_local_rows(tmp_path, cluster):
    pytest.importorskip("tensorflow")
    project = example_project(tmp_path, "mnist")
    extra = ("--set-param", "process_count_param=1", "--set", "steps[0].parallel_run.node_count=3",
             "--set", "steps[0].allow_reuse=false")
    _, run_id = _both(project, cluster, project / "specs" / "mnist.yaml", *extra, timeout=900,
                      step="predict-digits-mnist", output="inferences", file="mnist_outputs.txt")
    assert len(output_rows(project, run_id, "predict-digits-mnist", "inferences", "mnist_outputs.txt")) == 360
    cluster.wait_idle()


def test_an_unreachable_cluster_is_a_clear_error_and_makes_no_run(tmp_path, cluster):
    make_files(tmp_path / "data", 2)
    spec = write_spec(tmp_path)
    result = cli("apply", str(spec), *on_cluster("127.0.0.1:9"), cwd=tmp_path, timeout=300)
    assert result.returncode == 3 and "cannot join the Ray cluster at 127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / ".runner" / "runs").exists()


def test_a_step_the_cluster_has_no_room_for_fails_its_preflight(tmp_path, cluster):
    make_files(tmp_path / "data", 2)
    spec = write_spec(tmp_path, node_count=2, process_count_per_node=4)
    result = cli("apply", str(spec), *on_cluster(cluster.address), cwd=tmp_path, timeout=300,
                 env={"RUNNER_RAY_PLACEMENT_TIMEOUT": "3"})
    assert result.returncode == 2, result.stderr
    assert "the Ray cluster has no room for step 'score'" in result.stderr and "Traceback" not in result.stderr
    cluster.wait_idle()


def test_a_worker_that_fails_to_import_after_another_did_is_a_failed_start(tmp_path, cluster):
    """Workers elsewhere start one by one: once one imported the script, mini-batches go,
    and a later one's import error retires that worker instead of failing the pre-flight."""
    names = make_files(tmp_path / "data", 12)
    spec = write_spec(tmp_path, script="imports_once.py", mini_batch_size=2, node_count=3, process_count_per_node=1,
                      run_max_try=2)
    shutil.copy(Path(__file__).parent / "scripts" / "imports_once.py", tmp_path / "code" / "imports_once.py")
    result = cli("apply", str(spec), *on_cluster(cluster.address), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(output_rows(tmp_path, result.stdout.strip())) == expected_rows(names)
    events = (run_folder(tmp_path, result.stdout.strip()) / "score" / "events.jsonl").read_text()
    assert "this node cannot import the model's package" in events
    cluster.wait_idle()


def test_address_local_starts_a_cluster_of_this_machine_on_loopback_for_the_run(tmp_path):
    """No cluster given: one is started for the run and ended with it, on 127.0.0.1 even
    where Ray would pick another address (this machine's is not reachable from itself)."""
    import os
    import subprocess
    import sys

    names = make_files(tmp_path / "data", 6)
    spec = write_spec(tmp_path, mini_batch_size=2, node_count=1, process_count_per_node=2)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    result = subprocess.run([sys.executable, "-m", "runner", "apply", str(spec), "--target", "ray"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(output_rows(tmp_path, result.stdout.strip())) == expected_rows(names)
