"""The three views of a review (text, Markdown, JSON), kept as golden text, over a git
history built here with fixed authors and dates: a commit that changes an entry script
only, a parameter of a base (so its variant changes too), renames a spec and adds an
input file. `RUNNER_UPDATE_GOLDEN=1` regenerates the files under tests/cli/golden/."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.local.helpers import cli, make_files

GOLDEN = Path(__file__).parent / "golden"
BASE = """\
name: golden-job
parameters:
  batch: 5
datasets:
  d: {kind: file, path: ../data/}
steps:
  - name: score
    inputs: ["${{ datasets.d }}"]
    output: {name: out}
    parallel_run:
      source_directory: ../code
      entry_script: score.py
      mini_batch_size: "${{ parameters.batch }}"
      process_count_per_node: 1
"""
VARIANT = "extends: job.yaml\nsteps:\n  - name: score\n    parallel_run:\n      process_count_per_node: 2\n"
OTHER = BASE.replace("golden-job", "other-job").replace("batch: 5", "batch: 4")
SCRIPT = "def init():\n    pass\n\n\ndef run(mini_batch):\n    return [str(p) for p in mini_batch]\n"


def _git(root: Path, *args: str, when: str = "2026-01-01T00:00:00Z") -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when,
           "HOME": str(root), "PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("history")
    make_files(root / "data", 10)
    (root / "code").mkdir()
    (root / "code" / "score.py").write_text(SCRIPT)
    (root / "code" / "util.py").write_text("SCALE = 1\n")
    (root / "specs").mkdir()
    (root / "specs" / "job.yaml").write_text(BASE)
    (root / "specs" / "job.small.yaml").write_text(VARIANT)
    (root / "specs" / "other.yaml").write_text(OTHER)
    (root / ".gitignore").write_text(".runner/\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "first")
    (root / "code" / "score.py").write_text(SCRIPT + "# a fix\n")  # the code only
    (root / "specs" / "job.yaml").write_text(BASE.replace("batch: 5", "batch: 6"))  # a parameter of the base
    _git(root, "mv", "specs/other.yaml", "specs/renamed.yaml")  # a rename
    make_files(root / "data", 1, start=10)  # a new input file, in git
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "second", when="2026-01-02T00:00:00Z")
    return root


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("RUNNER_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} differs (RUNNER_UPDATE_GOLDEN=1 regenerates it):\n{text}"


@pytest.mark.parametrize("fmt, suffix", [("text", "txt"), ("markdown", "md"), ("json", "json")])
def test_a_review_of_a_folder(history: Path, fmt: str, suffix: str) -> None:
    shown = cli("plan", "specs", "--against", "HEAD~1", "--format", fmt, "--exit-code", cwd=history)
    assert shown.returncode == 1, shown.stdout + shown.stderr
    check_golden(f"review.{suffix}", shown.stdout)
