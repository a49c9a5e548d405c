"""A real Ray cluster of several nodes on this machine, every node on 127.0.0.1, started
and stopped by the tests (ray.cluster_utils.Cluster: a head and worker nodes, each its
own raylet and processes, as `ray start` would make them)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Ray on Linux picks the loopback address for a local cluster with this set to 0, read
# when ray is imported (so before it), and node_ip_address pins each node to it: nothing
# a test starts is reached at another address (this machine's other address is not
# routable: a node there is a hang).
os.environ.update({"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"})
ray = pytest.importorskip("ray")


class LocalCluster:
    def __init__(self, nodes: int, cpus: int, node_env: dict[str, str] | None = None) -> None:
        """`node_env`: the environment of the nodes other than the head (and their workers')."""
        from ray.cluster_utils import Cluster

        self.cluster = Cluster(initialize_head=True, connect=False, head_node_args={
            "num_cpus": cpus, "node_ip_address": "127.0.0.1", "include_dashboard": False})
        for _ in range(nodes - 1):
            self.cluster.add_node(num_cpus=cpus, node_ip_address="127.0.0.1", env_vars=node_env)
        self.cpus = nodes * cpus
        self.address = self.cluster.address
        assert self.address.startswith("127.0.0.1:"), self.address
        self.cluster.connect()  # this process as a driver too: to see the cluster's resources

    def add_node(self) -> None:
        self.cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        self.cpus += 1

    def remove_node_of(self, group_name: str) -> None:
        """A worker node (not the head) that holds a bundle of the placement group `group_name`."""
        table = ray.util.placement_group_table()
        [group] = [g for g in table.values() if g["name"] == group_name and g["state"] == "CREATED"]
        used = set(group["bundles_to_node_id"].values())
        node = next(n for n in self.cluster.worker_nodes if n.node_id in used)
        self.cluster.remove_node(node)
        self.cpus -= 1

    def wait_idle(self, timeout: float = 90) -> None:
        """Until every CPU is free again: no actor and no placement group of a job is left."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ray.available_resources().get("CPU", 0) >= self.cpus:
                return
            time.sleep(0.5)
        raise AssertionError(f"the cluster still holds CPUs: {ray.available_resources()} of {self.cpus}")

    def shutdown(self) -> None:
        ray.shutdown()
        self.cluster.shutdown()


@pytest.fixture(scope="session")
def _shared_cluster() -> Iterator[LocalCluster]:
    found = LocalCluster(3, 1)
    try:
        yield found
    finally:
        found.shutdown()


@pytest.fixture
def cluster(_shared_cluster: LocalCluster) -> LocalCluster:
    """3 nodes of 1 CPU, shared by the tests that leave it as they found it (this process
    joined to it again after a test of its own cluster left)."""
    if not ray.is_initialized():
        ray.init(address=_shared_cluster.address, logging_level="ERROR", log_to_driver=False)
    return _shared_cluster


@pytest.fixture
def own_cluster() -> Iterator[Callable[..., LocalCluster]]:
    """A cluster of one test's own, for one that removes nodes."""
    made: list[LocalCluster] = []

    def make(nodes: int = 3, cpus: int = 1, node_env: dict[str, str] | None = None) -> LocalCluster:
        if ray.is_initialized():
            ray.shutdown()  # the shared cluster's connection; `cluster` joins it again
        made.append(LocalCluster(nodes, cpus, node_env))
        return made[-1]
    try:
        yield make
    finally:
        for found in made:
            found.shutdown()


def worker_processes(root: Path) -> list[int]:
    """Worker programs of the runs under `root` hosted by Ray actors on this machine (their
    working directory is the code a host unpacked; their environment names the run
    folder): another job's on the same machine are not counted."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"runner.local.worker.main" in cmdline and cwd.startswith("/tmp/runner-code") \
                and str(root).encode() in environ:
            found.append(int(entry.name))
    return found


def _parent(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise OSError(f"no parent for {pid}")


def actor_pids(root: Path) -> list[int]:
    """The Ray actors hosting the workers of the runs under `root`: the processes named
    `ray::...` that are parents of a worker's guard (runner/ray/host.py). The guard forks
    the worker without exec, so both show the worker's command line."""
    found = set()
    for pid in worker_processes(root):
        try:
            parent = _parent(pid)
            if Path(f"/proc/{parent}/cmdline").read_bytes().startswith(b"ray::"):
                found.add(parent)
        except OSError:
            continue
    return sorted(found)


def on_cluster(address: str, *extra: str) -> list[str]:
    """The options that send a spec's apply to the cluster at `address`."""
    return ["--target", "ray", "--set", f"ray.address={address}", *extra]


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
