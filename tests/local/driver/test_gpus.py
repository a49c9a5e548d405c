"""GPU placement on the local engine: worker process i of a node sees device i mod N of
the devices it shares (runner/inputs/gpus.py), set in its configuration before the
entry script is imported; without devices, CUDA_VISIBLE_DEVICES is left as it was."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runner import api
from runner.inputs.gpus import shared_devices
from runner.local.driver.slots import Slot
from runner.local.driver.workers import worker_config
from runner.runs.folder import StepFolder
from runner.runs.status import Status
from tests.local.helpers import cli, make_files, output_rows, write_spec


def _configs(root: Path, environ: dict[str, str], **parallel_run: object) -> dict[tuple[int, int], str | None]:
    write_spec(root, **parallel_run)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        step = api.plan("spec.yaml").steps[0]
    finally:
        os.chdir(cwd)
    folder = StepFolder(root / "run" / "score")
    folder.update(status=Status.RUNNING)
    devices = shared_devices(step.environment_variables, environ)
    slots = [Slot(index=n * 3 + p, node=n, process=p) for n in range(2) for p in range(3)]
    return {(s.node, s.process): worker_config(step, folder, None, s, devices).env.get("CUDA_VISIBLE_DEVICES")
            for s in slots}


def test_each_worker_process_of_a_node_gets_its_own_device(tmp_path: Path) -> None:
    got = _configs(tmp_path, {"RUNNER_GPUS": "0,1"})
    assert got == {(0, 0): "0", (0, 1): "1", (0, 2): "0", (1, 0): "0", (1, 1): "1", (1, 2): "0"}


def test_the_steps_own_cuda_visible_devices_is_split_among_its_workers(tmp_path: Path) -> None:
    got = _configs(tmp_path, {"RUNNER_GPUS": "0,1"}, env={"CUDA_VISIBLE_DEVICES": "5,6,7"})
    assert got == {(0, 0): "5", (0, 1): "6", (0, 2): "7", (1, 0): "5", (1, 1): "6", (1, 2): "7"}


@pytest.mark.parametrize("environ", [{"RUNNER_GPUS": ""}, {"RUNNER_GPUS": "none"}, {"CUDA_VISIBLE_DEVICES": ""}])
def test_without_devices_the_environment_keeps_its_own(tmp_path: Path, environ: dict[str, str]) -> None:
    assert set(_configs(tmp_path, environ).values()) == {None}


def _devices_seen(root: Path, workers: int, gpus: str) -> list[str]:
    make_files(root / "data", 10)
    write_spec(root, script="devices.py", mini_batch_size=1, process_count_per_node=workers,
               env={"WORKERS": str(workers)})
    applied = cli("apply", "spec.yaml", cwd=root, env={"RUNNER_GPUS": gpus})
    assert applied.returncode == 0, applied.stderr
    rows = output_rows(root, applied.stdout.strip())
    assert len(rows) == 10
    return sorted({row.split(": ", 1)[1] for row in rows})


@pytest.fixture(autouse=True)
def _no_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # the machine's own choice would win over RUNNER_GPUS


def test_a_real_run_gives_two_workers_a_device_each(tmp_path: Path) -> None:
    assert _devices_seen(tmp_path, 2, "0,1") == ["node0.process000 0", "node0.process001 1"]


def test_a_real_run_on_one_device_shares_it(tmp_path: Path) -> None:
    assert _devices_seen(tmp_path, 2, "0") == ["node0.process000 0", "node0.process001 0"]


def test_the_plan_says_which_worker_sees_which_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.render import plan_json, plan_text

    write_spec(tmp_path, node_count=2, process_count_per_node=3)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNNER_GPUS", "0,1")
    plan = api.plan("spec.yaml")
    assert ("  gpus           node0/process000 -> 0, node0/process001 -> 1, node0/process002 -> 0, "
            "node1/process000 -> 0, node1/process001 -> 1, node1/process002 -> 0 (CUDA_VISIBLE_DEVICES, "
            "from RUNNER_GPUS)") in plan_text(plan)
    assert json.loads(plan_json(plan))["steps"][0]["gpus"]["node1/process001"] == "1"
    monkeypatch.setenv("RUNNER_GPUS", "none")
    assert "gpus " not in plan_text(plan) and json.loads(plan_json(plan))["steps"][0]["gpus"] == {}


def test_the_plan_names_the_first_workers_and_counts_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.render import plan_text

    write_spec(tmp_path, node_count=3, process_count_per_node=4)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNNER_GPUS", "0,1,2,3")
    text = plan_text(api.plan("spec.yaml"))
    assert "node1/process003 -> 3, ... (4 more) (CUDA_VISIBLE_DEVICES, from RUNNER_GPUS)" in text
