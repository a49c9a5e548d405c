"""What an input location lists (runner/inputs/listing.py): links that cannot be read
are items that fail by name; the tool's own `.runner` folder is never an input."""

from __future__ import annotations

import json
import os
from pathlib import Path

from runner.inputs.listing import stat_files
from tests.local.helpers import cli, make_files, run_folder, write_spec


def _listed(location: Path) -> list[str]:
    return sorted(os.path.relpath(path, location) for path, _ in stat_files(str(location)))


def test_a_file_link_loop_is_listed_like_a_dangling_link(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 3)
    (tmp_path / "data" / "a").symlink_to(tmp_path / "data" / "b")
    (tmp_path / "data" / "b").symlink_to(tmp_path / "data" / "a")
    assert _listed(tmp_path / "data") == ["a", "b", "f0000.txt", "f0001.txt", "f0002.txt"]


def test_a_link_loop_fails_its_items_by_name(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 3)
    (tmp_path / "data" / "a").symlink_to(tmp_path / "data" / "b")
    (tmp_path / "data" / "b").symlink_to(tmp_path / "data" / "a")
    write_spec(tmp_path, mini_batch_size=1, run_max_try=1)
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "internal error" not in applied.stderr
    failed = (run_folder(tmp_path, applied.stdout.strip()) / "score" / "failed_items.jsonl").read_text()
    names = sorted(os.path.basename(path) for line in failed.splitlines()
                   for path in json.loads(line)["mini_batch"]["files"])
    assert names == ["a", "b"], failed


def test_the_runs_folder_is_never_an_input(tmp_path: Path) -> None:
    make_files(tmp_path, 2)
    (tmp_path / ".runner" / "runs" / "job-1").mkdir(parents=True)
    (tmp_path / ".runner" / "runs" / "job-1" / "job.json").write_text("{}")
    (tmp_path / "sub" / ".runner").mkdir(parents=True)
    (tmp_path / "sub" / ".runner" / "x").write_text("x")
    assert _listed(tmp_path) == ["f0000.txt", "f0001.txt"]
    assert _listed(tmp_path / ".runner") == ["runs/job-1/job.json"]  # named itself: listed


def test_a_dataset_of_the_project_folder_leaves_the_runs_out(tmp_path: Path) -> None:
    make_files(tmp_path, 4)
    write_spec(tmp_path, dataset={"kind": "file", "path": "."}, run_max_try=1)
    items = []
    for _ in range(2):  # the second run's `.` holds the first run's folder
        applied = cli("apply", "spec.yaml", cwd=tmp_path)
        assert applied.returncode == 0, applied.stderr
        step = json.loads((run_folder(tmp_path, applied.stdout.strip()) / "score" / "step.json").read_text())
        items.append(step["items"])
    assert items == [6, 6]  # spec.yaml, code/faulty.py and the four files
