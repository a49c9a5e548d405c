"""What an input location lists (runner/inputs/listing.py): links that cannot be read
are items that fail by name; the tool's own `.runner` folder is never an input."""

from __future__ import annotations

import json
import os
from pathlib import Path

from runner.inputs.listing import iter_files, stat_files
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


def test_each_file_is_listed_by_its_absolute_path_however_the_location_is_written(tmp_path: Path) -> None:
    """stat_files makes a folder's absolute path once and joins each name to it: the
    same path os.path.abspath gives each file, with its stat, from any spelling."""
    make_files(tmp_path / "data" / "sub", 2)
    make_files(tmp_path / "data", 2)
    (tmp_path / "other").mkdir()
    os.symlink(tmp_path / "data" / "sub", tmp_path / "data" / "link")
    before = os.getcwd()
    os.chdir(tmp_path / "other")
    try:
        for location in ["../data", "../data/", "../other/../data", str(tmp_path / "data") + "//", ".././data/sub/..",
                         "../data/**/*.txt", "../data/*/f0001.txt", "../data/f0000.txt", "../data/sub/../f0001.txt"]:
            listed = list(stat_files(location))
            assert listed, location
            assert [path for path, _ in listed] == [os.path.abspath(entry if isinstance(entry, str) else entry.path)
                                                    for entry in iter_files(location)], location
            assert all((st.st_ino, st.st_size, st.st_mtime_ns) == (os.stat(path).st_ino, os.stat(path).st_size,
                                                                    os.stat(path).st_mtime_ns) for path, st in listed)
    finally:
        os.chdir(before)


def test_each_file_is_stat_ed_from_its_folder_and_every_folder_is_closed_again(tmp_path: Path) -> None:
    """stat_files stats a name from its open folder: a file, a link to one, a dangling
    link (its own stat) alike; the folders are closed after, even when a listing is left
    half-read."""
    make_files(tmp_path / "data" / "a" / "b", 3)
    (tmp_path / "data" / "a" / "f.txt").write_text("longer\n")
    (tmp_path / "data" / "a" / "to-f").symlink_to(tmp_path / "data" / "a" / "f.txt")
    (tmp_path / "data" / "a" / "gone").symlink_to(tmp_path / "nowhere")
    open_before = len(os.listdir("/proc/self/fd"))
    listed = dict(stat_files(str(tmp_path / "data")))
    assert len(listed) == 6
    for path, st in listed.items():
        real = os.lstat(path) if path.endswith("gone") else os.stat(path)
        assert (st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode) == (real.st_ino, real.st_size, real.st_mtime_ns,
                                                                       real.st_mode), path
    assert listed[str(tmp_path / "data" / "a" / "to-f")].st_size == 7
    half = stat_files(str(tmp_path / "data"))
    next(half)  # inside data/a/b: three folders open
    assert len(os.listdir("/proc/self/fd")) == open_before + 3
    half.close()
    assert len(os.listdir("/proc/self/fd")) == open_before
