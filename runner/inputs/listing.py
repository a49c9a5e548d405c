"""What files an input location names, the same for every target: a folder (walked
recursively, links followed once), a glob (`**` spans folders), or one file; what is not
a regular file is skipped and reported. The local engine reads these files; `runner
plan` counts them (runner/inputs/work.py); the Azure targets upload them."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from runner.errors import ExitCode, RunnerError
from runner.inputs.remote import StoreError, is_store, stat_objects
from runner.inputs.snapshot import RUNS_FOLDER
from runner.plan.references import InputPlan, is_remote

_MAGIC = re.compile(r"[*?[]")
_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
                   ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}


class InputError(RunnerError):
    """An input that cannot be listed: missing, empty, remote, or not readable (exit 2)."""

    exit_code = ExitCode.USAGE


def is_glob(location: str) -> bool:
    return bool(_MAGIC.search(location))


def iter_files(location: str, skipped: list[str] | None = None) -> Iterator[os.DirEntry[str] | str]:
    """Every file a location names, in a stable order: a folder (recursively), a glob
    (`**` crosses folders), or one file. Yields DirEntry objects where a walk has them.
    What is not a regular file (a device, FIFO or socket, or a link to one) is never
    read: reading /dev/zero never ends, a FIFO blocks. Such entries go to `skipped`.
    Objects on object storage (runner/inputs/remote.py) by their URIs."""
    if is_store(location):
        yield from (uri for uri, _ in _objects(location))
        return
    for _, entry, _ in _located(location, [] if skipped is None else skipped):
        yield entry


def stat_files(location: str, skipped: list[str] | None = None) -> Iterator[tuple[str, os.stat_result]]:
    """What iter_files lists, each file by its absolute path with its stat (a dangling
    link's or a link loop's own). Made once per folder, not per file: the absolute path
    (an os.path.abspath per file was a tenth of planning with one-file mini-batches), and
    the folder's descriptor each name is stat'ed from (the kernel then looks up one name,
    not every folder of the path again: a third of the stat's cost). Objects on object
    storage by their URIs, their identity in the stat (runner/inputs/remote.py)."""
    if is_store(location):
        yield from _objects(location)
        return
    for path, entry, folder in _located(location, [] if skipped is None else skipped):
        try:
            st = os.stat(entry) if isinstance(entry, str) else os.stat(entry.name, dir_fd=folder)
        except OSError:  # a dangling link, a link loop: the link's own size and time
            st = os.lstat(path)
        yield path, st


def _objects(location: str) -> Iterator[tuple[str, os.stat_result]]:
    try:
        yield from stat_objects(location)
    except StoreError as exc:  # an input that cannot be listed, as a local one
        raise InputError(str(exc)) from exc


# Each file: its absolute path, its entry, and the descriptor of the open folder holding
# it (None for a location that is one file, the entry then its path).
_Located = tuple[str, os.DirEntry[str] | str, int | None]


def _located(location: str, skipped: list[str]) -> Iterator[_Located]:
    if is_remote(location):
        raise InputError(f"{location} is a datastore URI: it is read on the azure targets only; "
                         "locally, give a path on this machine or on object storage (s3://, az://, gs://)")
    if _MAGIC.search(location):
        root = glob_root(location)
        pattern = _glob_regex(os.path.abspath(location))
        if os.path.isdir(root):
            for found in _walk(root, os.path.abspath(root), skipped):
                if pattern.fullmatch(found[0]):
                    yield found
        return
    if os.path.isdir(location):
        yield from _walk(location, os.path.abspath(location), skipped)
    elif os.path.isfile(location):
        yield os.path.abspath(location), location, None
    elif not os.path.exists(location):
        raise InputError(f"{location} does not exist")
    else:
        raise InputError(f"{location} is neither a file nor a folder")


def _walk(folder: str, absolute: str, skipped: list[str], seen: set[tuple[int, int]] | None = None) -> Iterator[_Located]:
    """Linked folders are followed, each real folder once (so a link loop ends). The
    runs folder inside is left out, as a code snapshot leaves it out: a dataset of `.`
    would otherwise read the run's own lock and records. `absolute`: the folder's
    os.path.abspath; an entry's is it and the entry's name (a name is never `.` or `..`,
    so there is nothing more to normalize). The folder stays open while its entries are
    yielded: stat_files stats each name from it."""
    seen = set() if seen is None else seen
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise InputError(f"cannot list {folder}: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise InputError(f"cannot list {folder}: {exc.strerror or exc}") from exc
        prefix = absolute if absolute.endswith(os.sep) else absolute + os.sep
        for entry in entries:
            if entry.name == RUNS_FOLDER:
                continue
            try:
                is_dir, is_file = entry.is_dir(), entry.is_file()
            except OSError:  # a link loop (ELOOP), a link through an unreadable folder
                is_dir, is_file = False, False
            if is_dir:
                yield from _walk(entry.path, prefix + entry.name, skipped, seen)
            elif is_file or (entry.is_symlink() and not os.path.exists(entry.path)):
                # A dangling link, or a loop of links, is an input that cannot be read: its
                # mini-batch fails and lists it, rather than the file quietly vanishing.
                yield prefix + entry.name, entry, fd
            else:
                skipped.append(entry.path)
    finally:
        os.close(fd)


def glob_root(pattern: str) -> str:
    parts = pattern.split(os.sep)
    fixed = []
    for part in parts:
        if _MAGIC.search(part):
            break
        fixed.append(part)
    return os.sep.join(fixed) or "."


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Glob to regex: `*` and `?` stay within a folder, `**/` spans folders, hidden
    names match only a pattern that starts with a dot (as glob.glob does)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append(r"(?:[^/.][^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(r"(?:[^/.][^/]*)?(?:/[^/.][^/]*)*")
            i += 2
        elif c == "*":
            out.append(r"[^/]*" if i and pattern[i - 1] != "/" else r"(?:[^/.][^/]*)?")
            i += 1
        elif c == "?":
            out.append(r"[^/]")
            i += 1
        elif c == "[" and "]" in pattern[i + 2:]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out))


def table_format(spec: InputPlan, path: str) -> str:
    """csv, jsonl, parquet, or json (a `.json` file: one JSON array, or JSON Lines), by
    the suffix before a compression suffix (`rows.jsonl.gz` is JSON Lines)."""
    if spec.format:
        return spec.format
    stem, suffix = os.path.splitext(path)
    if suffix.lower() in _COMPRESSIONS:
        suffix = os.path.splitext(stem)[1]
    return _SUFFIX_FORMATS.get(suffix.lower(), "csv")


def compression_of(path: str) -> str | None:
    """How a table file is compressed, by its suffix, as pandas infers it."""
    return _COMPRESSIONS.get(os.path.splitext(path)[1].lower())
