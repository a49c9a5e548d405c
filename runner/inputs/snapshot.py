"""A step's code snapshot, the one way for every target: which files of its
source_directory a run takes with it (as Azure ML uploads them at submit: azureml-core's
snapshot, azure-ai-ml's code upload), the copy, and the digest that stands for the code
in reuse fingerprints and reviews.

Which files: everything under source_directory, following links (Azure uploads what a
link points to), except what the folder's ignore file leaves out. The ignore file is
`.amlignore` if there is one, else `.gitignore`, and only the one at the top of
source_directory: both Azure SDKs read just that one (azureml._project.ignore_file,
azure.ai.ml._utils._asset_utils.get_ignore_file); nested ignore files do not count. Its
patterns are matched with git's rules, exactly as `git check-ignore` matches them: the
last matching pattern wins, `!` re-includes, a trailing `/` matches folders only, a
pattern with a `/` is anchored, `**` spans folders, and nothing inside an excluded
folder comes back. Always left out: `.git` (a repository's history, or in a worktree or
submodule the file pointing at it: never code a script runs), `.runner` (this tool's run folders: a snapshot holding earlier snapshots
would grow with every run), and Python bytecode (`__pycache__`, `.pyc`), which Python
rebuilds. Unreadable files, broken links, link loops and what is not a regular file
(FIFOs, sockets, devices) cannot be copied: listed in `left_out`, as Azure's snapshot
skips an unreadable file with a message.

Used by the plan views (file count and size, the warning above Azure's limits). The
local engine's workers run from a copy (runner/local/driver/snapshot.py) and the Azure targets
upload one (runner/azureml/code.py): both copy through `copy_code`, so what runs here
and what Azure receives are the same files, and `runner plan` compares a run's code with
`code_digest` of the folder as it is now, computed by the same rule.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import ExitCode, RunnerError
from runner.inputs.units import size_text

IGNORE_FILES = (".amlignore", ".gitignore")  # the first that exists is the one read
RUNS_FOLDER = ".runner"  # this tool's run folders: never code, and never an input either (runner/inputs/listing.py)
LEFT_OUT_FOLDERS = frozenset({".git", RUNS_FOLDER, "__pycache__"})
LEFT_OUT_SUFFIXES = (".pyc", ".pyo")
# azureml-core's limits on a snapshot (_restclient/constants.py: SNAPSHOT_MAX_SIZE_BYTES,
# SNAPSHOT_MAX_FILES); above them SDK v1 refuses to submit.
SIZE_LIMIT = 300 * 1024 * 1024
FILE_LIMIT = 2000
# What `plan` lists of a source_directory before it refuses: ten times Azure's limits.
# A pull-request bot plans strangers' specs, and `source_directory: /` walked the whole
# disk (over a minute, 560 MB); a folder ten times past what Azure takes is no code folder.
PLAN_ENTRIES = 10 * FILE_LIMIT  # files and folders looked at (ignored ones count: each costs a stat)
PLAN_BYTES = 10 * SIZE_LIMIT
_CHUNK = 1 << 20  # bytes read at a time when copying and digesting
# pathspec names the group its patterns use to match a path's parent folder instead of
# the path itself (pattern `build` matching `build/x.o`): `_DIR_MARK` in pathspec 0.12
# and 1.x alike. Git decides each path by its own name; a folder's exclusion is its own.
_PARENT_GROUP = "ps_d"


class SnapshotError(RunnerError):
    """source_directory or its ignore file cannot be read (exit 2)."""

    exit_code = ExitCode.USAGE


class SnapshotTooLarge(RunnerError):
    """source_directory holds more than `plan` lists (exit 2): not a folder of code."""

    exit_code = ExitCode.USAGE


@dataclass
class ListingBudget:
    """How much a listing may look at before it stops (`plan`'s: PLAN_ENTRIES, PLAN_BYTES)."""

    entries: int
    size: int
    seen: int = 0
    bytes: int = 0

    @classmethod
    def for_plan(cls) -> ListingBudget:
        return cls(PLAN_ENTRIES, PLAN_BYTES)

    def spend(self, folder: str, entries: int = 1, size: int = 0) -> None:
        self.seen += entries
        self.bytes += size
        if self.seen > self.entries:
            raise SnapshotTooLarge(f"too large to plan: source_directory {folder} lists more than {self.entries} "
                                   f"files and folders (Azure ML takes at most {FILE_LIMIT} files): point it at "
                                   "the step's code, or leave the rest out in its .amlignore")
        if self.bytes > self.size:
            raise SnapshotTooLarge(f"too large to plan: source_directory {folder} holds more than "
                                   f"{size_text(self.size)} (Azure ML takes at most {size_text(SIZE_LIMIT)}): "
                                   "point it at the step's code, or leave the rest out in its .amlignore")


@dataclass(frozen=True)
class CodeFile:
    rel: str  # the path inside the snapshot, with '/' separators
    path: str  # the file it is copied from
    size: int


@dataclass
class CodeListing:
    folder: str
    ignore_file: str | None  # ".amlignore", ".gitignore", or None when neither exists
    files: list[CodeFile] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # "rel (why)": cannot be copied

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def summary(self) -> str:
        rules = f"{self.ignore_file} honoured" if self.ignore_file else "no .amlignore or .gitignore"
        return f"{len(self.files):,} files, {size_text(self.size)} ({rules})"

    def limit_warning(self) -> str | None:
        """Why Azure ML v1 would refuse this snapshot, or None."""
        over = []
        if self.size > SIZE_LIMIT:
            over.append(f"{size_text(self.size)} is above Azure ML's {size_text(SIZE_LIMIT)} snapshot limit")
        if len(self.files) > FILE_LIMIT:
            over.append(f"{len(self.files):,} files are above Azure ML's {FILE_LIMIT:,}-file snapshot limit")
        if not over:
            return None
        return (f"{' and '.join(over)}: list what the step does not need in {self.folder}/.amlignore "
                "(data belongs in a dataset)")


@dataclass(frozen=True)
class _Rule:
    pattern: Any  # one compiled pathspec pattern (its class differs between pathspec 0.12 and 1.x)
    excludes: bool  # False for a `!` pattern
    folders_only: bool  # the pattern ended with '/'


class IgnoreRules:
    """The patterns of one ignore file, matched as git matches them."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._rules: list[_Rule] = []
        lines = list(lines)
        if not lines:  # no ignore file: pathspec's import (10-17 ms) is not paid
            return
        from pathspec import GitIgnoreSpec

        for line in lines:
            text = _trim_trailing_spaces(line)
            folders_only = len(text.lstrip("!")) > 1 and text.endswith("/")
            try:  # git matches `foo/` as `foo` on folders only: compile it that way
                patterns = GitIgnoreSpec.from_lines([text[:-1] if folders_only else text]).patterns
            except ValueError:
                continue  # a line git cannot use either (`!` alone, a lone backslash)
            self._rules += [_Rule(p, bool(p.include), folders_only) for p in patterns if p.include is not None]

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """Whether the ignore file itself excludes `rel` (its folders are not looked at:
        a walk never enters an excluded folder)."""
        for rule in reversed(self._rules):
            if (is_dir or not rule.folders_only) and _matches_itself(rule.pattern, rel):
                return rule.excludes
        return False

    def leaves_out(self, rel: str) -> bool:
        """Whether the file `rel` stays out of a snapshot: itself or a folder above it."""
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if parts[depth - 1] in LEFT_OUT_FOLDERS or self.ignored(folder, True):
                return True
        return rel.endswith(LEFT_OUT_SUFFIXES) or self.ignored(rel, False)


def _trim_trailing_spaces(line: str) -> str:
    """Git drops trailing spaces unless a backslash escapes them (and a CR before LF)."""
    line = line.rstrip("\r\n")
    while line.endswith(" ") and not line.endswith("\\ "):
        line = line[:-1]
    return line


def _matches_itself(pattern: Any, rel: str) -> bool:
    result = pattern.match_file(rel)
    return result is not None and result.match.groupdict().get(_PARENT_GROUP) is None


def ignore_rules(folder: str) -> tuple[str | None, IgnoreRules]:
    """The ignore file Azure reads in `folder` (.amlignore wins over .gitignore) and its rules."""
    for name in IGNORE_FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                    return name, IgnoreRules(handle.read().splitlines())
            except OSError as exc:
                raise SnapshotError(f"cannot read {path}: {exc.strerror}") from exc
    return None, IgnoreRules(())


def list_code(folder: str, exclude: Collection[str] = (), budget: ListingBudget | None = None) -> CodeListing:
    """The files a snapshot of `folder` holds, sorted by path. `exclude`: folders to
    leave out wherever they are (the runs folder, when it lies inside). `budget`: stop
    with SnapshotTooLarge, walking no further, once it is spent."""
    if not os.path.isdir(folder):
        raise SnapshotError(f"source_directory {folder} is not a folder")
    name, rules = ignore_rules(folder)
    listing = CodeListing(folder, name)
    skip = set()
    for path in exclude:
        try:
            st = os.stat(path)
            skip.add((st.st_dev, st.st_ino))
        except OSError:
            continue
    top = os.stat(folder)
    _walk(folder, "", rules, skip, {(top.st_dev, top.st_ino)}, listing, budget)
    listing.files.sort(key=lambda f: f.rel)
    return listing


def _walk(folder: str, prefix: str, rules: IgnoreRules, skip: set[tuple[int, int]], above: set[tuple[int, int]],
          listing: CodeListing, budget: ListingBudget | None = None) -> None:
    try:
        entries = _entries(folder, budget, listing.folder)
    except OSError as exc:
        listing.left_out.append(f"{prefix or './'} ({exc.strerror})")
        return
    for entry in entries:
        rel = prefix + entry.name
        try:
            st = os.stat(entry.path)  # through links, as Azure uploads what a link points to
        except OSError:
            listing.left_out.append(f"{rel} (a broken link)")
            continue
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if entry.name in LEFT_OUT_FOLDERS or key in skip or rules.ignored(rel, True):
                continue
            if key in above:
                listing.left_out.append(f"{rel}/ (a link to a folder above it)")
                continue
            _walk(entry.path, rel + "/", rules, skip, above | {key}, listing, budget)
        elif entry.name.endswith(LEFT_OUT_SUFFIXES) or entry.name == ".git" or rules.ignored(rel, False):
            continue
        elif not stat.S_ISREG(st.st_mode):
            listing.left_out.append(f"{rel} (not a regular file)")
        elif not os.access(entry.path, os.R_OK):
            listing.left_out.append(f"{rel} (not readable)")
        else:
            if budget is not None:
                budget.spend(listing.folder, 0, st.st_size)
            listing.files.append(CodeFile(rel, entry.path, st.st_size))


def _entries(folder: str, budget: ListingBudget | None, top: str) -> list[os.DirEntry[str]]:
    """A folder's entries, sorted; each spends the budget as it is read, so a folder of a
    million names is not read whole first."""
    if budget is None:
        return sorted(os.scandir(folder), key=lambda e: e.name)
    entries = []
    with os.scandir(folder) as scan:
        for entry in scan:
            budget.spend(top)
            entries.append(entry)
    return sorted(entries, key=lambda e: e.name)


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


def digest_of(files: Iterable[tuple[str, bytes]]) -> str:
    """The digest a copy holding these (path inside the snapshot, content) files would
    have: code_digest's rule, for code read from elsewhere (a git revision, in a review)."""
    digest = hashlib.sha256()
    for rel, content in sorted(files):
        digest.update(_entry(rel, len(content), hashlib.sha256(content).digest()))
    return digest.hexdigest()
