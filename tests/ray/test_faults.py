"""Faults on a real Ray cluster: a node lost, an actor's process killed, a hung run()
past its timeout, the driver killed then resumed. Every row exactly once, tries counted
as locally, and no actor or worker left behind."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.faults.test_crashes import assert_exactly_once, ledger_lines, run_id_of, start, wait_for
from tests.local.helpers import cli, make_files, run_folder, write_spec
from tests.ray.conftest import LocalCluster, actor_pids, on_cluster, worker_processes
from tests.ray.conftest import wait_for as wait_until


def _events(root: Path, run_id: str) -> list[dict[str, object]]:
    path = run_folder(root, run_id) / "score" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _tries(root: Path, run_id: str) -> dict[int, int]:
    ledger = run_folder(root, run_id) / "score" / "ledger.jsonl"
    return {r["mb"]: r["tries"] for r in map(json.loads, ledger.read_text().splitlines())}


def _slow_job(root: Path, files: int, nodes: int, sleep: str = "0.25") -> list[str]:
    names = make_files(root / "data", files)
    write_spec(root, env={"SLEEP": sleep}, mini_batch_size=1, node_count=nodes, process_count_per_node=1)
    return names


def _finish(proc, timeout: float = 300) -> None:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err


def test_a_node_lost_mid_run_fails_only_its_mini_batch_once_and_a_replacement_starts(
        tmp_path: Path, own_cluster: Callable[..., LocalCluster]) -> None:
    cluster = own_cluster(3)
    # Two bundles on three nodes: room for a replacement. Enough mini-batches for the
    # slower actor's cold start under load, while the other runs.
    names = _slow_job(tmp_path, 120, nodes=2)
    proc = start(tmp_path, "apply", "spec.yaml", *on_cluster(cluster.address))
    # Both workers past their start-up: the node lost holds a working worker and its
    # mini-batch in flight (a node lost during its actor's start is a failed start).
    assert _all_working(tmp_path, 2, proc), "the run finished before both workers ran"
    cluster.remove_node_of("runner-score")
    _finish(proc)
    run_id = run_id_of(tmp_path)
    assert_exactly_once(tmp_path, run_id, names, 120)
    restarts = [e for e in _events(tmp_path, run_id) if e["kind"] == "restart"]
    assert len(restarts) == 1, restarts
    tries = _tries(tmp_path, run_id)
    assert sorted(tries.values())[-2:] in ([1, 1], [1, 2])  # at most the one in flight counted a try
    cluster.wait_idle()
    assert worker_processes(tmp_path) == []


def _all_working(root: Path, workers: int, proc, timeout: float = 120) -> bool:
    """Until each of `workers` has committed a mini-batch (past its start-up: an actor
    killed during it is a failed start, not a lost mini-batch); False if the run ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list((root / ".runner" / "runs").glob("*/score/ledger.jsonl"))
        lines = found[0].read_bytes().splitlines() if found else []
        if len({json.loads(line)["worker"] for line in lines if line.endswith(b"}")}) >= workers:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    raise AssertionError("not every worker started")


def test_an_actor_process_killed_fails_one_try_and_is_replaced(tmp_path: Path, cluster: LocalCluster) -> None:
    # Long enough for the slowest actor's start under load (the others run meanwhile).
    names = _slow_job(tmp_path, 120, nodes=3)
    proc = start(tmp_path, "apply", "spec.yaml", *on_cluster(cluster.address))
    assert _all_working(tmp_path, 3, proc), "the run finished before every worker ran"
    os.kill(actor_pids(tmp_path)[0], signal.SIGKILL)
    _finish(proc)
    run_id = run_id_of(tmp_path)
    assert_exactly_once(tmp_path, run_id, names, 120)
    [restart] = [e for e in _events(tmp_path, run_id) if e["kind"] == "restart"]
    assert "died" in str(restart["error"])
    assert sum(t - 1 for t in _tries(tmp_path, run_id).values()) <= 1
    cluster.wait_idle()
    assert worker_processes(tmp_path) == []


def test_a_hung_run_is_killed_at_its_timeout_with_its_children(tmp_path: Path, cluster: LocalCluster) -> None:
    make_files(tmp_path / "data", 8)
    write_spec(tmp_path, env={"FAULT": "hang", "FAULT_ON": "f0003.txt"}, mini_batch_size=1, node_count=2,
               process_count_per_node=1, run_invocation_timeout=3, run_max_try=2)
    result = cli("apply", "spec.yaml", *on_cluster(cluster.address), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr  # error_threshold -1: failures are counted, not fatal
    run_id = result.stdout.strip()
    failed = (run_folder(tmp_path, run_id) / "score" / "failed_items.jsonl").read_text()
    assert "f0003.txt" in failed and len(failed.splitlines()) == 1
    assert "did not return within run_invocation_timeout (3 s)" in failed
    records = [json.loads(line) for line in
               (run_folder(tmp_path, run_id) / "score" / "ledger.jsonl").read_text().splitlines()]
    assert [r["tries"] for r in records if r.get("status") == "failed"] == [2]
    child = int((tmp_path / "markers" / "child.pid").read_text())
    wait_until(lambda: not os.path.exists(f"/proc/{child}"), 30, "the hung run()'s child to be ended")
    cluster.wait_idle()


def test_the_driver_killed_leaves_nothing_on_the_cluster_and_resume_finishes_exactly_once(
        tmp_path: Path, cluster: LocalCluster) -> None:
    names = _slow_job(tmp_path, 45, nodes=3)
    proc = start(tmp_path, "apply", "spec.yaml", *on_cluster(cluster.address))
    assert wait_for(tmp_path, 8, proc, timeout=120)
    proc.kill()
    proc.wait()
    done = ledger_lines(tmp_path)
    wait_until(lambda: worker_processes(tmp_path) == [], 60, "the killed driver's workers to end")
    cluster.wait_idle()  # Ray ended the driver's actors and placement group
    run_id = run_id_of(tmp_path)
    time.sleep(0.5)
    assert ledger_lines(tmp_path) == done  # nothing committed after the driver died
    resumed = cli("resume", run_id, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert_exactly_once(tmp_path, run_id, names, 45)
    cluster.wait_idle()


def test_cancel_stops_the_actors_and_resume_finishes_exactly_once(tmp_path: Path, cluster: LocalCluster) -> None:
    names = _slow_job(tmp_path, 45, nodes=3)
    proc = start(tmp_path, "apply", "spec.yaml", *on_cluster(cluster.address))
    assert wait_for(tmp_path, 6, proc, timeout=120)
    run_id = run_id_of(tmp_path)
    canceled = cli("cancel", run_id, cwd=tmp_path, timeout=120)
    assert canceled.returncode == 0, canceled.stderr
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert json.loads(cli("status", run_id, "--json", cwd=tmp_path).stdout)["status"] == "canceled"
    cluster.wait_idle()
    assert worker_processes(tmp_path) == []
    resumed = cli("resume", run_id, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert_exactly_once(tmp_path, run_id, names, 45)
