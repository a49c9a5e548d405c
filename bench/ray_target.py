"""`python -m bench ray`: the ray target on a 3-node Ray cluster of this machine (every node
on 127.0.0.1, 1 CPU each, started and stopped here, as tests/ray/conftest.py starts one).

1. The MNIST job (the tutorial's entry script and model on PNGs, as `bench mnist` runs it)
   through `runner apply --target ray` (node_count 3, one worker per node), against Ray
   Data `map_batches` with an actor pool of 3 on the same cluster, and against the local
   engine on this machine (`--target local`, 2 workers: the machine's 2 cores). Each a
   fresh command, the contenders interleaved (the order rotated each round), the median
   of the rounds kept.
2. Recovery: a slower job on 2 of the 3 nodes; a node holding a worker removed mid-run
   (its processes killed, no graceful shutdown); the time from the removal to the lost
   worker's mini-batches running elsewhere, and whether every row came exactly once.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import COUNT, REPO, apply_job, job_spec, listing, make_files, mnist_inputs
from bench.peer_cmd import in_fresh_process
from bench.peers import run_plain_loop

NODES = 3
# Ray on Linux picks the loopback address for a local cluster with this set to 0, read as
# ray is imported (here and in every command started from here); node_ip_address pins
# each node to it. This machine's other address is not routable: a node there hangs.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
RECOVERY_MINI_BATCHES = 2_000
RECOVERY_SLEEP = 0.03  # s per mini-batch: ~30 s on 2 workers, long enough to lose one and recover


class LocalCluster:
    """A head and NODES - 1 worker nodes of 1 CPU, each its own raylet, on 127.0.0.1; this
    process joins it as a driver (to read placement groups and free CPUs)."""

    def __init__(self) -> None:
        os.environ.update(RAY_ENV)
        import ray
        from ray.cluster_utils import Cluster

        self.ray: Any = ray
        started = time.perf_counter()
        self.cluster = Cluster(initialize_head=True, connect=False, head_node_args={
            "num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False})
        for _ in range(NODES - 1):
            self.cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        self.cpus = NODES
        self.address = self.cluster.address
        if not self.address.startswith("127.0.0.1:"):
            raise SystemExit(f"the cluster is not on the loopback address: {self.address}")
        # Joined quietly: with Ray's defaults a removed node's raylet log is dumped here.
        ray.init(address=self.address, log_to_driver=False, logging_level=logging.ERROR,
                 configure_logging=False)
        self.cluster.wait_for_nodes()
        self.start_seconds = round(time.perf_counter() - started, 2)

    def wait_idle(self, timeout: float = 120) -> None:
        """Until every CPU is free: the last contender's actors and placement group gone."""
        deadline = time.monotonic() + timeout
        while self.ray.available_resources().get("CPU", 0) < self.cpus:
            if time.monotonic() > deadline:
                raise SystemExit(f"the cluster still holds CPUs: {self.ray.available_resources()}")
            time.sleep(0.2)

    def node_of(self, group_name: str) -> Any:
        """A worker node (not the head, which this process is joined through) holding a
        bundle of the placement group `group_name`, once the group is placed."""
        for _ in range(600):
            for group in self.ray.util.placement_group_table().values():
                if group["name"] == group_name and group["state"] == "CREATED":
                    used = set(group["bundles_to_node_id"].values())
                    found = [n for n in self.cluster.worker_nodes if n.node_id in used]
                    if found:
                        return found[0]
            time.sleep(0.05)
        raise SystemExit(f"no worker node holds placement group {group_name}")

    def remove(self, node: Any) -> None:
        self.cluster.remove_node(node, allow_graceful=False)
        self.cpus -= 1

    def watch_recovery(self, node_id: str, group_name: str, since: float, running: Any) -> dict[str, float]:
        """Ray's side of a node's loss, polled while `running()`: seconds from `since` to the
        node marked dead, and to the placement group's bundles placed on live nodes again."""
        found: dict[str, float] = {}
        while running() and len(found) < 2:
            now = time.time()
            if "node_dead_seconds" not in found and not any(
                    n["NodeID"] == node_id and n["Alive"] for n in self.ray.nodes()):
                found["node_dead_seconds"] = round(now - since, 2)
            for group in self.ray.util.placement_group_table().values():
                if (group["name"] == group_name and group["state"] == "CREATED"
                        and node_id not in group["bundles_to_node_id"].values()
                        and "group_replaced_seconds" not in found):
                    found["group_replaced_seconds"] = round(now - since, 2)
            time.sleep(0.1)
        return found

    def shutdown(self) -> None:
        self.ray.shutdown()
        self.cluster.shutdown()  # type: ignore[no-untyped-call]


def ray_target(args: argparse.Namespace) -> dict[str, Any]:
    data, root = mnist_inputs(args.work, args.copies)
    files = listing(data)
    script = REPO / "entry_scripts" / "digit_identification.py"
    argv = ["--model", str(root / "models" / "mnist")]
    # Not measured: the first process to load TensorFlow and read the images pays for the
    # page cache, whichever contender it is.
    run_plain_loop(script, argv, [files[i:i + 64] for i in range(0, len(files), 64)], 2,
                   args.work / "loop-ray-warmup")
    cluster = LocalCluster()
    try:
        rows = [_mnist_size(args, cluster, data, files, script, argv, size) for size in args.ray_sizes]
        recovery = _recovery(args, cluster)
    finally:
        cluster.shutdown()
    return {"nodes": NODES, "cpus_per_node": 1, "local_workers": 2, "copies": args.copies,
            "rounds": args.repeat, "kept": "median", "cluster_start_seconds": cluster.start_seconds,
            "rows": rows, "recovery": recovery}


def _mnist_size(args: argparse.Namespace, cluster: LocalCluster, data: Path, files: list[str], script: Path,
                argv: list[str], size: int) -> dict[str, Any]:
    job = args.work / f"job-ray-mnist-{size}"
    found: dict[str, list[tuple[float, float, float]]] = {"runner_ray": [], "ray_data": [], "runner_local": []}
    for round_ in range(args.repeat):
        names = list(found)
        for name in names[round_ % 3:] + names[:round_ % 3]:  # interleaved, the order rotated
            shutil.rmtree(job, ignore_errors=True)
            job.mkdir(parents=True)
            cluster.wait_idle()
            found[name].append(_contender(name, job, cluster, data, script, argv, size, len(files)))
    row: dict[str, Any] = {"mini_batch_size": size, "files": len(files)}
    for name, runs in found.items():
        wall = statistics.median(r[0] for r in runs)
        row[name] = {"end_to_end_seconds": round(wall, 2), "files_per_second": round(len(files) / wall, 1),
                     "first_rows_seconds": round(statistics.median(r[1] for r in runs), 2),
                     "rows_span_seconds": round(statistics.median(r[2] - r[1] for r in runs), 2),
                     "all_seconds": [round(r[0], 2) for r in runs]}
    row["ray_over_ray_data"] = round(row["ray_data"]["end_to_end_seconds"] / row["runner_ray"]["end_to_end_seconds"], 3)
    row["ray_over_local"] = round(row["runner_local"]["end_to_end_seconds"] / row["runner_ray"]["end_to_end_seconds"],
                                  3)
    return row


def _contender(name: str, job: Path, cluster: LocalCluster, data: Path, script: Path, argv: list[str], size: int,
               count: int) -> tuple[float, float, float]:
    """One fresh command of `name`, once its rows are checked: its wall seconds, and the
    seconds from its start to its first and to its last rows (the runner's: its ledger's
    commit times; Ray Data's: batches reaching its driver)."""
    started = time.time()
    if name == "ray_data":
        out = job / "rows.txt"
        found = in_fresh_process("ray", data, size, NODES, "--script", str(script), "--argv", json.dumps(argv),
                                 "--address", cluster.address, "--out", str(out))
        rows = sum(1 for _ in open(out))
        wall, first, last = found["end_to_end_seconds"], found["first_rows_at"], found["last_rows_at"]
    else:
        ray = name == "runner_ray"
        spec = job_spec(data, REPO, "entry_scripts/digit_identification.py", size, 1 if ray else 2, argv)
        extra = ("--target", "ray", "--set", f"ray.address={cluster.address}",
                 "--set", f"steps[0].parallel_run.node_count={NODES}") if ray else ("--target", "local")
        wall, run = apply_job(job, spec, "apply", "spec.yaml", *extra)
        rows = sum(1 for _ in open(run / "step" / "outputs" / "out" / "parallel_run_step.txt"))
        commits = [json.loads(line)["t"] / 1000 for line in open(run / "step" / "ledger.jsonl")]
        first, last = min(commits), max(commits)
    if rows != count:
        raise SystemExit(f"{name}: {rows} rows for {count} images")
    return float(wall), first - started, last - started


def _recovery(args: argparse.Namespace, cluster: LocalCluster) -> dict[str, Any]:
    """A run on 2 of the 3 nodes; once a tenth of it is committed, a node holding a worker
    is removed. Times from the removal (s): the driver's `restart` event for the lost
    worker, its replacement's first committed mini-batch, and the commit of the mini-batch
    that was in flight on it (the one with a second try)."""
    size = 10
    data = make_files(args.work / "files-20000", RECOVERY_MINI_BATCHES * size)
    job = args.work / "job-ray-recovery"
    shutil.rmtree(job, ignore_errors=True)
    counts = job / "counts"
    counts.mkdir(parents=True)
    cluster.wait_idle()
    spec = job_spec(data, COUNT.parent, COUNT.name, size, 1,
                    env={"COUNT_DIR": str(counts), "SLEEP": str(RECOVERY_SLEEP)})
    (job / "spec.yaml").write_text(spec)
    started = time.perf_counter()
    with open(job / "stderr.txt", "w") as err:  # a file, not a pipe: nothing reads it while it runs
        proc = subprocess.Popen([sys.executable, "-m", "runner", "apply", "spec.yaml", "--target", "ray",
                                 "--set", f"ray.address={cluster.address}",
                                 "--set", "steps[0].parallel_run.node_count=2"],
                                cwd=job, stdout=subprocess.DEVNULL, stderr=err)
    ledger = _wait_for_ledger(job, proc, RECOVERY_MINI_BATCHES // 10)
    node = cluster.node_of("runner-step")
    committed = len(ledger.read_bytes().splitlines())
    removed_at = time.time()
    cluster.remove(node)
    removal_seconds = time.time() - removed_at
    ray_side = cluster.watch_recovery(node.node_id, "runner-step", removed_at, lambda: proc.poll() is None)
    proc.wait(timeout=600)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"the recovery run failed:\n{(job / 'stderr.txt').read_text()[-4000:]}")
    step = ledger.parent
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    events = [json.loads(line) for line in step.joinpath("events.jsonl").read_text().splitlines()] \
        if step.joinpath("events.jsonl").exists() else []
    restarts = [e for e in events if e["kind"] == "restart" and e["t"] >= removed_at]
    rows = (step / "outputs" / "out" / "parallel_run_step.txt").read_text().splitlines()
    exactly_once = (sorted(rows) == listing(data) and sorted(r["mb"] for r in records)
                    == list(range(RECOVERY_MINI_BATCHES)))
    result: dict[str, Any] = {
        "mini_batches": RECOVERY_MINI_BATCHES, "mini_batch_size": size, "sleep_per_mini_batch": RECOVERY_SLEEP,
        "node_count": 2, "committed_before_removal": committed, "removal_call_seconds": round(removal_seconds, 2),
        "run_seconds": round(wall, 2), "restarts": len(restarts), "exactly_once": exactly_once,
        "retried_mini_batches": sum(1 for r in records if r["tries"] > 1), **ray_side}
    if restarts:
        lost = restarts[0]["worker"]
        result["lost_worker"] = lost
        result["restart_event_seconds"] = round(restarts[0]["t"] - removed_at, 2)
        replaced = [r["t"] / 1000 for r in records if r["worker"] == lost and r["t"] / 1000 > restarts[0]["t"]]
        if replaced:
            result["replacement_first_commit_seconds"] = round(min(replaced) - removed_at, 2)
        again = [r["t"] / 1000 for r in records if r["tries"] > 1]
        if again:
            result["in_flight_recommitted_seconds"] = round(min(again) - removed_at, 2)
    return result


def _wait_for_ledger(job: Path, proc: subprocess.Popen[bytes], lines: int) -> Path:
    ledger = None
    while ledger is None or len(ledger.read_bytes().splitlines()) < lines:
        ledger = next(iter((job / ".runner" / "runs").glob("*/step/ledger.jsonl")), None)
        if proc.poll() is not None:
            raise SystemExit("the recovery run ended before a node could be removed:\n"
                             f"{(job / 'stderr.txt').read_text()[-4000:]}")
        time.sleep(0.05)
    return ledger


def markdown(result: dict[str, Any]) -> list[str]:
    lines = [f"A Ray cluster of {result['nodes']} nodes of {result['cpus_per_node']} CPU on this machine (2 cores, "
             f"all nodes on 127.0.0.1; started in {result['cluster_start_seconds']} s, not counted). "
             f"{result['copies'] * 360:,} PNGs, the tutorial's entry script and model. Each contender a fresh "
             f"command, {result['rounds']} rounds interleaved (order rotated), the median kept; images/s over "
             "the end-to-end wall (s in brackets), TensorFlow's import and init() included:",
             "- runner ray: `runner apply --target ray`, node_count 3, process_count_per_node 1 (3 actors);",
             "- Ray Data: `map_batches` with an actor pool of 3 on the same cluster, batch_size = "
             "mini_batch_size, the script imported and init() once per actor, rows written by the driver;",
             f"- runner local: `runner apply --target local`, {result['local_workers']} workers (the machine's "
             "2 cores; the cluster idle meanwhile).", "",
             "| mini_batch_size | images | runner ray | Ray Data | runner local | "
             "Ray Data s / runner ray s | local s / runner ray s |", "|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        cells = [f"{row[k]['files_per_second']} ({row[k]['end_to_end_seconds']})"
                 for k in ("runner_ray", "ray_data", "runner_local")]
        lines.append(f"| {row['mini_batch_size']} | {row['files']:,} | {' | '.join(cells)} | "
                     f"{row['ray_over_ray_data']} | {row['ray_over_local']} |")
    lines += ["", "Where the time goes (medians, s): from the command's start to its first rows (the runner's "
              "first ledger commit; Ray Data's first batch at its driver), then from the first rows to the last. "
              "Before its first mini-batch the runner waits for a worker to import the entry script (locally: every "
              "worker), TensorFlow's import being most of that here.", "",
              "| mini_batch_size | runner ray: to first, first to last | Ray Data: to first, first to last | "
              "runner local: to first, first to last |", "|---|---|---|---|"]
    for row in result["rows"]:
        cells = [f"{row[k]['first_rows_seconds']}, {row[k]['rows_span_seconds']}"
                 for k in ("runner_ray", "ray_data", "runner_local")]
        lines.append(f"| {row['mini_batch_size']} | {' | '.join(cells)} |")
    r = result["recovery"]
    lines += ["", f"Recovery: {r['mini_batches']:,} mini-batches of {r['mini_batch_size']} (run() sleeps "
              f"{r['sleep_per_mini_batch']} s) on node_count {r['node_count']} of 3 nodes; after "
              f"{r['committed_before_removal']} were committed, a node holding a worker is removed "
              "(Cluster.remove_node, allow_graceful=False). Seconds from the removal:", "",
              "| node marked dead (Ray) | placement group re-placed (Ray) | driver's restart event | "
              "replacement's first commit | in-flight mini-batch recommitted | restarts | retried | run s | "
              "exactly once |", "|---|---|---|---|---|---|---|---|---|",
              f"| {r.get('node_dead_seconds', '-')} | {r.get('group_replaced_seconds', '-')} | "
              f"{r.get('restart_event_seconds', '-')} | {r.get('replacement_first_commit_seconds', '-')} | "
              f"{r.get('in_flight_recommitted_seconds', '-')} | {r['restarts']} | {r['retried_mini_batches']} | "
              f"{r['run_seconds']} | {r['exactly_once']} |"]
    return lines
