"""no_links: a run folder's files are opened as files only, never through a link planted
in their place (which would have the run write a file outside it), nor as a folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.runs.folder import no_links
from runner.runs.records import DamagedFolder, RecordError


def test_a_regular_file_opens_for_reading_and_writing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    with open(path, "ab", opener=no_links) as handle:
        handle.write(b"one\n")
    with open(path, "rb", opener=no_links) as handle:
        assert handle.read() == b"one\n"


@pytest.mark.parametrize("mode", ["rb", "ab", "wb", "r+b"])
def test_a_link_in_a_files_place_is_refused_and_its_target_untouched(tmp_path: Path, mode: str) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"x" * 9000)
    path = tmp_path / "run" / "out.txt"
    path.parent.mkdir()
    path.symlink_to(outside)
    with pytest.raises(DamagedFolder, match=f"run folder damaged: {path} is a link \\(to {outside}\\), expected a file"):
        open(path, mode, opener=no_links)
    assert outside.read_bytes() == b"x" * 9000


def test_a_link_to_nothing_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.symlink_to(tmp_path / "made")
    with pytest.raises(DamagedFolder, match="is a link"):
        open(path, "ab", opener=no_links)
    assert not (tmp_path / "made").exists()


@pytest.mark.parametrize("mode", ["rb", "ab", "r+b"])
def test_a_folder_in_a_files_place_is_a_damaged_run_folder(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "ledger.jsonl"
    path.mkdir()
    with pytest.raises(RecordError, match=f"run folder damaged: {path} is a folder, expected a file"):
        open(path, mode, opener=no_links)


def test_os_open_flags_work_too_and_the_descriptor_is_not_inherited(tmp_path: Path) -> None:
    fd = no_links(tmp_path / "lock", os.O_WRONLY | os.O_CREAT)
    try:
        assert not os.get_inheritable(fd)
    finally:
        os.close(fd)
