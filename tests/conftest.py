from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A run's report is drawn by a process the driver starts as the run ends (about a second
# of CPU): the suite's hundreds of runs do without; tests/report turns it back on.
os.environ["RUNNER_REPORT"] = "0"
# Tests send SIGINT to the commands they start, as Ctrl-C would. A suite started from a
# background job (a CI script's `cmd &`) inherits SIGINT ignored, which every command it
# starts would inherit too (an ignored signal stays ignored across exec): Python's
# handler here is reset to the default in each child instead.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write dedented files under a temporary folder that is also the working directory."""
    monkeypatch.chdir(tmp_path)

    def _write(name: str, text: str) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return name

    return _write


BASE = """
name: score-images
parameters:
  images: {dataset: images}
  batch: 4
datasets:
  images: {kind: file, path: data/images/}
  single: {kind: file, path: data/images/0.png}
models:
  clf: {path: models/clf}
steps:
  - name: score-images
    inputs: ["${{ parameters.images }}"]
    output: {name: scores}
    arguments: ["--model", "${{ models.clf }}"]
    parallel_run:
      entry_script: score.py
      mini_batch_size: "${{ parameters.batch }}"
      error_threshold: 5
"""
