"""The one way a step's code is copied, for every target: the files `list_code` lists
(runner.plan.snapshot's rules, which mirror Azure ML's upload), copied into a folder of
their own, with the digest that stands for the code in reuse fingerprints and reviews.

The local engine's workers run from such a copy (runner/local/snapshot.py) and the Azure
targets upload one (runner/azureml/code.py): both copy through `copy_code`, so what runs
here and what Azure receives are the same files, and `runner plan` compares a run's code
with `code_digest` of the folder as it is now, computed by the same rule.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from runner.plan.snapshot import CodeListing, SnapshotError, list_code

_CHUNK = 1 << 20


@dataclass(frozen=True)
class CodeCopy:
    """A finished copy: where it is, its digest, and how many files and bytes it holds
    (a file that vanished between listing and copying is not counted)."""

    folder: Path
    digest: str
    files: int
    size: int


def copy_code(listing: CodeListing, target: Path) -> CodeCopy:
    """Copy the listed files into `target` (replacing a copy there, or one cut short) and
    digest them as copied. Built beside the target and renamed into place, so a copy
    that is there is whole. SnapshotError where a file cannot be copied; a full disk is
    raised as the OSError it is (each engine has its own full-disk message)."""
    tmp = target.with_name(target.name + ".tmp")
    for old in (tmp, target):
        shutil.rmtree(old, ignore_errors=True)
    tmp.mkdir(parents=True)
    digest = hashlib.sha256()
    files = size = 0
    for item in listing.files:
        copied = _copy(item.path, tmp / item.rel, item.rel, digest)
        if copied is not None:
            files, size = files + 1, size + copied
    os.replace(tmp, target)
    return CodeCopy(target, digest.hexdigest(), files, size)


def _copy(source: str, target: Path, rel: str, digest: hashlib._Hash) -> int | None:
    """Copy one file, adding its name, size and bytes (as copied) to the digest.
    A copy, never a hard link: an editor that saves in place, or `>>`, writes to the
    file's inode, which a hard-linked snapshot shares (and an upload must not read a file
    being saved). None: it vanished since listed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    hashed = hashlib.sha256()
    size = 0
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                dst.write(chunk)
                hashed.update(chunk)
                size += len(chunk)
        shutil.copymode(source, target)  # an executable helper stays executable
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        raise SnapshotError(f"cannot copy {source} into the step's code snapshot: {exc.strerror or exc}") from exc
    digest.update(_entry(rel, size, hashed.digest()))
    return size


def _entry(rel: str, size: int, content: bytes) -> bytes:
    """One file in a snapshot's digest: its name, size and content digest."""
    return rel.encode("utf-8", "surrogateescape") + b"\0" + str(size).encode() + b"\0" + content


def code_digest(source_directory: str, exclude: Collection[str]) -> tuple[str, dict[str, str]]:
    """The digest a copy of source_directory taken now would have (no copy), and each
    file's content digest by name: what `runner plan` compares with a run's snapshot."""
    listing = list_code(source_directory, exclude)
    digest = hashlib.sha256()
    files: dict[str, str] = {}
    for item in listing.files:
        hashed = hashlib.sha256()
        size = 0
        try:
            with open(item.path, "rb") as handle:
                for chunk in iter(lambda: handle.read(_CHUNK), b""):
                    hashed.update(chunk)
                    size += len(chunk)
        except OSError:
            continue  # as a copy skips a file that vanished
        digest.update(_entry(item.rel, size, hashed.digest()))
        files[item.rel] = hashed.hexdigest()
    return digest.hexdigest(), files
