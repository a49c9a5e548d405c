"""Input identity: each input file's size, modification time and inode, recorded when
the job is planned (the descriptors' `sig`) and checked before a mini-batch reads it.

A byte range (or a Parquet file's row groups, or a partition's tables) names rows only
in the file it was cut from: a table changed during the run or between a kill and
`runner resume` fails the mini-batch that reads it ("input changed since the run was
planned: PATH"), counted and listed in the failed-items report, rather than giving
duplicated or missing rows. `runner resume` looks at every unfinished mini-batch's
tables first and refuses, listing them (`changed_inputs`), unless told to go on.

A file dataset's lists carry no identities: a changed file there cannot duplicate or
lose a row (one row per path, made from the file run() reads), and they cost too much
for that: a stat per file in the workers was a third of the no-op dispatch rate at
mini_batch_size 10, and recording them a sixth of the planning time of 1M files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from runner.errors import ExitCode, RunnerError
from runner.inputs import remote
from runner.local.partition.descriptors import ByteRange, Descriptor, DescriptorError, Partition, RowGroups, decode


class UnreadableInput(RunnerError, ValueError):
    """A mini-batch's input cannot be read as its descriptor says; the message names the
    file (a worker reports it as it is, without its traceback). Exit 2."""

    exit_code = ExitCode.USAGE


class InputChanged(UnreadableInput):
    """A file a mini-batch names is not the file the job planned."""

    def __init__(self, path: str) -> None:
        super().__init__(f"input changed since the run was planned: {shown(path)}")
        self.path = path


def shown(path: str) -> str:
    """A path as text that can be printed: bytes that are not UTF-8 (a name the OS gave
    us with surrogate escapes) as \\x escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def of_stat(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def item_identity(path: str, st: os.stat_result, digest: bool = False) -> list[Any]:
    """An input item's identity for an incremental step (runner/local/reuse/items.py):
    [size, mtime_ns], or with `digest` [size, SHA-256 of the content] for stores where
    times cannot be trusted; a file that cannot be read has ["unreadable"] as its digest,
    never equal to a good one, so it runs (and fails by name in its worker)."""
    return identity_of(path, digest)(path, st)


def identity_of(location: str, digest: bool = False) -> Callable[[str, os.stat_result], list[Any]]:
    """item_identity for every item of the input at `location`, chosen once an input:
    whether it is on object storage is the input's answer, not each path's."""
    if remote.is_store(location):  # the store's change marker (etag, generation) stands for the content
        return _store_digest if digest else _store_identity
    return _content_identity if digest else _stat_identity


def _stat_identity(path: str, st: os.stat_result) -> list[Any]:
    return [st.st_size, st.st_mtime_ns]


def _store_identity(path: str, st: os.stat_result) -> list[Any]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _store_digest(path: str, st: os.stat_result) -> list[Any]:
    return [st.st_size, f"store-{st.st_ino}"]


def _content_identity(path: str, st: os.stat_result) -> list[Any]:
    sha = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                sha.update(chunk)
    except OSError:
        return [st.st_size, "unreadable"]
    return [st.st_size, sha.hexdigest()]


def identity(path: str) -> list[int] | None:
    """What `path` names now (through links; a dangling link's own), None when gone.
    An object on object storage: as its store says now (a store that cannot be asked
    raises StoreError, exit 2: it says why, where "changed" would mislead)."""
    if remote.is_store(path):
        st = remote.identity(path)
        return of_stat(st) if st is not None else None
    try:
        return of_stat(os.stat(path))
    except FileNotFoundError:
        try:
            return of_stat(os.lstat(path))
        except OSError:
            return None
    except OSError:
        return None


def pairs(descriptor: Descriptor) -> Iterator[tuple[str, list[int] | None]]:
    """Each file a descriptor names with its recorded identity (none for lines written
    before identities were)."""
    if isinstance(descriptor, Partition):
        if descriptor.sigs is not None:
            yield from zip(descriptor.files, descriptor.sigs)
    elif isinstance(descriptor, (ByteRange, RowGroups)) and descriptor.sig is not None:
        yield descriptor.path, descriptor.sig


def check(descriptor: Descriptor) -> None:
    """Raise InputChanged for the first file that is not what was planned."""
    for path, sig in pairs(descriptor):
        if identity(path) != sig:
            raise InputChanged(path)


def check_open(handle: IO[bytes], path: str, sig: list[int] | None) -> None:
    """After reading an open file: it must still be the planned one (a change while it
    was read shows in its size or modification time; an object's, in its etag)."""
    if sig is None:
        return
    now = identity(path) if remote.is_store(path) else of_stat(os.fstat(handle.fileno()))
    if now != sig:
        raise InputChanged(path)


def changed_inputs(minibatches: str | Path, done: Callable[[int], bool]) -> list[str]:
    """The files of the mini-batches still to run that changed since the job was planned."""
    changed: dict[str, None] = {}
    seen: dict[str, list[int] | None] = {}
    with open(minibatches, "rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                descriptor = decode(line)
            except DescriptorError as exc:
                raise DescriptorError(f"{minibatches}:{number}: {exc}") from exc
            if done(descriptor.id):
                continue
            for path, sig in pairs(descriptor):
                if path not in seen:
                    seen[path] = identity(path)
                if seen[path] != sig:
                    changed[path] = None
    return list(changed)
