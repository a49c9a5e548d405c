"""The earlier-run matching of an incremental step holds nothing per item: at 10,000,000
files a dict of every earlier item (~290 bytes each with its key) would be ~2.9 GB of
driver memory, where `bench scale` keeps the driver under 200 MB."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from runner import api
from runner.local.reuse.incremental import count, matching
from runner.runs.folder import list_runs
from tests.local.helpers import cli, write_spec


def _matching_peak(root: Path, files: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """Peak Python allocation of matching `files` unchanged files against the run that
    scored them (what `runner plan` and an incremental apply's planning do)."""
    data = root / "data"
    for folder in range(files // 1_000):
        os.makedirs(data / f"d{folder:03d}")
        for i in range(1_000):
            os.close(os.open(data / f"d{folder:03d}" / f"{i:04d}.txt", os.O_CREAT | os.O_WRONLY, 0o644))
    write_spec(root, script="noop_rows.py", step={"incremental": True}, mini_batch_size=1_000,
               process_count_per_node=1, run_invocation_timeout=120)
    (root / "code" / "noop_rows.py").write_text(
        "def init():\n    pass\n\n\ndef run(mini_batch):\n    return [str(path) for path in mini_batch]\n")
    done = cli("apply", "spec.yaml", cwd=root, timeout=600)
    assert done.returncode == 0, done.stderr
    monkeypatch.chdir(root)
    job = api.plan("spec.yaml").steps[0]
    [earlier] = list_runs(root / ".runner" / "runs")
    tracemalloc.start()
    try:
        items = matching(earlier, job)
        count(job, items)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (items.reuse.reused, items.reuse.new, items.reuse.gone) == (files, 0, 0)
    return peak


def test_matching_an_earlier_run_holds_nothing_per_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "small").mkdir()
    (tmp_path / "large").mkdir()
    small = _matching_peak(tmp_path / "small", 5_000, monkeypatch)
    large = _matching_peak(tmp_path / "large", 50_000, monkeypatch)
    assert large - small < 1024 * 1024, (small, large)
