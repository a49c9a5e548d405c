"""Listing object storage (runner/inputs/listing.py over runner/inputs/remote.py) against
moto's S3 server: the order a local folder is walked in, globs over keys, identities."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.inputs.listing import InputError, stat_files
from tests.store.conftest import Store

KEYS = ["a.txt", "a/b.txt", "a/c/d.txt", "a-b.txt", "b.csv", "day=1/part-0.csv", "day=1/part-1.csv",
        "day=2/part-0.csv", "day=2/other.csv", "z.txt"]


@pytest.fixture
def listed(s3: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    import fsspec

    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    fsspec.AbstractFileSystem.clear_instance_cache()  # a client made with this environment
    local = tmp_path / "data"
    for key in KEYS:
        (local / key).parent.mkdir(parents=True, exist_ok=True)
        (local / key).write_text(key)
    prefix = f"listing-{tmp_path.name}"
    s3.upload(local, prefix)
    yield local, s3.uri(prefix)
    fsspec.AbstractFileSystem.clear_instance_cache()


def test_objects_are_listed_in_the_order_a_local_folder_is_walked(listed: tuple[Path, str]) -> None:
    local, remote = listed
    walked = [os.path.relpath(path, local) for path, _ in stat_files(str(local))]
    objects = [(uri[len(remote) + 1:], st.st_size) for uri, st in stat_files(remote + "/")]
    assert [key for key, _ in objects] == walked
    assert all(size == len(key) for key, size in objects)
    assert [uri for uri, _ in stat_files(remote)] == [f"{remote}/{key}" for key in walked]  # no trailing slash


def test_a_glob_matches_keys_as_a_local_glob_matches_files(listed: tuple[Path, str]) -> None:
    local, remote = listed
    for pattern in ("day=*/part-*.csv", "*.txt"):
        walked = [os.path.relpath(path, local) for path, _ in stat_files(str(local / pattern))]
        assert [uri[len(remote) + 1:] for uri, _ in stat_files(f"{remote}/{pattern}")] == walked


def test_one_object_and_a_missing_one(listed: tuple[Path, str]) -> None:
    _, remote = listed
    [(uri, st)] = list(stat_files(f"{remote}/a/b.txt"))
    assert uri == f"{remote}/a/b.txt" and st.st_size == len("a/b.txt") and st.st_ino
    with pytest.raises(InputError, match="does not exist"):
        list(stat_files(f"{remote}/nothing-here/"))
