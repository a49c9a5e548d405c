"""This machine's GPUs (runner/inputs/gpus.py): nvidia-smi's listing, the override, and
the user's own CUDA_VISIBLE_DEVICES, which the workers split rather than replace."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from runner.inputs import gpus
from runner.inputs.gpus import Devices, assignment, parse_nvidia_smi, shared_devices, split_ids

H100S = """\
GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5d3bc1a4-6e6f-8c0e-35a1-51dc1d2f7e10)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-0f8c7e3d-4b2a-11ee-9c7e-0242ac120002)
"""
MIG = """\
GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5d3bc1a4-6e6f-8c0e-35a1-51dc1d2f7e10)
  MIG 3g.40gb     Device  0: (UUID: MIG-1a2b3c4d-0000-5555-aaaa-0123456789ab)
  MIG 3g.40gb     Device  1: (UUID: MIG-9f8e7d6c-1111-4444-bbbb-ba9876543210)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-0f8c7e3d-4b2a-11ee-9c7e-0242ac120002)
"""


def test_nvidia_smi_listing_gives_each_gpu_by_index() -> None:
    assert parse_nvidia_smi(H100S) == ("0", "1")


def test_a_gpu_split_into_mig_instances_gives_each_instance_by_uuid() -> None:
    assert parse_nvidia_smi(MIG) == ("MIG-1a2b3c4d-0000-5555-aaaa-0123456789ab",
                                     "MIG-9f8e7d6c-1111-4444-bbbb-ba9876543210", "1")


@pytest.mark.parametrize("text", ["", "No devices were found\n", "GPU x: odd\nGPU : none\n", "MIG 1g: (UUID: MIG-a)\n",
                                  "GPU 0" + " " * 200_000 + "(UUID:" * 10_000])
def test_odd_listings_give_no_made_up_device(text: str) -> None:
    assert parse_nvidia_smi(text) == ()


@pytest.mark.parametrize(("text", "ids"), [("0,1", ("0", "1")), (" 2 , 3 ", ("2", "3")), ("", ()), ("none", ()),
                                           ("NONE", ()), ("GPU-abc", ("GPU-abc",)), (",,", ())])
def test_device_lists_split_as_cuda_reads_them(text: str, ids: tuple[str, ...]) -> None:
    assert split_ids(text) == ids


def test_the_users_choice_comes_first_then_the_override_then_the_machine() -> None:
    step = shared_devices({"CUDA_VISIBLE_DEVICES": "2,3"}, {"CUDA_VISIBLE_DEVICES": "5", "RUNNER_GPUS": "0,1"})
    assert step.ids == ("2", "3") and "environment_variables" in step.source
    environment = shared_devices({}, {"CUDA_VISIBLE_DEVICES": "5", "RUNNER_GPUS": "0,1"})
    assert environment.ids == ("5",)
    hidden = shared_devices({}, {"CUDA_VISIBLE_DEVICES": "", "RUNNER_GPUS": "0,1"})
    assert hidden.ids == ()  # the user hid every GPU: nothing to assign, the empty value stays
    assert shared_devices({}, {"RUNNER_GPUS": "0,1"}) == Devices(("0", "1"), "RUNNER_GPUS")
    assert shared_devices({}, {"RUNNER_GPUS": "none"}).ids == ()


def test_process_i_of_each_node_gets_device_i_mod_n() -> None:
    devices = Devices(("0", "1"), "RUNNER_GPUS")
    assert assignment(devices, node_count=2, per_node=3) == [
        (0, 0, "0"), (0, 1, "1"), (0, 2, "0"), (1, 0, "0"), (1, 1, "1"), (1, 2, "0")]
    assert assignment(Devices((), "nvidia-smi -L"), 2, 3) == []
    assert devices.for_process(5) == "1" and Devices((), "x").for_process(0) is None


def _nvidia_smi(folder: Path, body: str) -> None:
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


LISTS = "printf '%s\\n' " + " ".join(f"'{line}'" for line in H100S.splitlines())  # printf: sh's own, no PATH


@pytest.mark.parametrize(("body", "ids"), [(LISTS, ("0", "1")),
                                           ("echo 'NVIDIA-SMI has failed' >&2; exit 9", ()), (None, ())])
def test_the_machine_listing_runs_nvidia_smi_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  body: str | None, ids: tuple[str, ...]) -> None:
    if body is not None:
        _nvidia_smi(tmp_path, body)
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi at all where body is None
    gpus.machine_gpus.cache_clear()
    try:
        assert gpus.machine_gpus() == ids
        assert shared_devices({}, {}).ids == ids
        (tmp_path / "nvidia-smi").unlink(missing_ok=True)
        assert gpus.machine_gpus() == ids  # cached: read once per process
    finally:
        gpus.machine_gpus.cache_clear()
    assert os.environ["PATH"] == str(tmp_path)
