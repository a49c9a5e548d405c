"""Files as a git revision has them, for `runner plan SPEC --against REF`: the spec and
every base of its `extends` chain are read with `git show REF:PATH`, so a pull request's
spec is compared with the one on `origin/main` without a second checkout; the review
also lists what REF had under a step's code folder, a model's path or a dataset's path
(`git ls-tree`), reads those files (`git cat-file --batch`), finds a spec's name before
a `git mv` and what changed since REF under a path (`git diff`). Paths stay those of the
working tree: relative paths in the spec resolve the same way on both sides, and only
what the files say can differ."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from runner.spec.diagnostics import Diagnostic, Mark, SpecError
from runner.spec.variants import Reader

_TIMEOUT = 30


def _git(args: list[str], cwd: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        # Paths are names, never patterns: a folder called `d*` is that folder.
        return subprocess.run(["git", "--literal-pathspecs", *args], cwd=cwd, capture_output=True,
                              timeout=_TIMEOUT, check=False, input=stdin)
    except FileNotFoundError:
        raise SpecError([Diagnostic(Mark("--against", 0, 0), (), "git is not installed")]) from None
    except subprocess.TimeoutExpired:
        raise SpecError([Diagnostic(Mark("--against", 0, 0), (), f"git {args[0]} took over {_TIMEOUT} s")]) from None


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _entries(data: bytes) -> list[str]:
    return [_text(item) for item in data.split(b"\0") if item]


@dataclass(frozen=True)
class TreeFile:
    blob: str  # the object id: equal ids, equal content
    size: int


@dataclass(frozen=True)
class Revision:
    """A commit of the repository that holds a spec, and the repository's top folder."""

    ref: str
    root: str

    @classmethod
    def of(cls, ref: str, spec: str) -> Revision:
        """The revision `ref` of the repository that holds `spec` (a file or a folder)."""
        where = Mark(f"--against {ref}", 0, 0)
        folder = spec if os.path.isdir(spec) else os.path.dirname(os.path.abspath(spec))
        top = _git(["rev-parse", "--show-toplevel"], folder)
        if top.returncode != 0:
            raise SpecError([Diagnostic(where, (), f"{spec} is not in a git repository")])
        root = _text(top.stdout).strip()
        if ref.startswith("-") or _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root).returncode:
            raise SpecError([Diagnostic(where, (), f"'{ref}' is not a commit, branch or tag of this repository "
                                                   "(in CI, fetch it first: git fetch origin main)")])
        return cls(ref, root)

    def rel(self, path: str) -> str | None:
        """`path` relative to the repository's top, with '/' ('.' for the top); None
        where it lies outside."""
        rel = os.path.relpath(os.path.realpath(os.path.abspath(path)), os.path.realpath(self.root))
        rel = rel.replace(os.sep, "/")
        return None if rel == ".." or rel.startswith("../") else rel

    def read(self, path: str) -> str:
        """A spec file's text at the revision (FileNotFoundError where it has none)."""
        folder = self.rel(os.path.dirname(os.path.abspath(path)))
        if folder is None:
            raise FileNotFoundError(path)
        shown = _git(["show", f"{self.ref}:{_join(folder, os.path.basename(path))}"], self.root)
        if shown.returncode != 0:
            raise FileNotFoundError(path)
        return shown.stdout.decode("utf-8")

    def tree(self, rel: str) -> dict[str, TreeFile]:
        """The files the revision has at `rel` (a file, or a folder's files below it, by
        their path inside it); links and submodules are not files a listing holds."""
        args = ["ls-tree", "-r", "-l", "-z", "--full-tree", self.ref]
        listed = _git([*args, "--", rel] if rel != "." else args, self.root)
        found: dict[str, TreeFile] = {}
        for entry in _entries(listed.stdout) if listed.returncode == 0 else []:
            meta, _, path = entry.partition("\t")
            mode, kind, blob, size = meta.split()
            if kind != "blob" or mode == "120000":
                continue
            inside = path if rel == "." else "" if path == rel else path[len(rel) + 1:] \
                if path.startswith(rel + "/") else None
            if inside is not None:
                found[inside or os.path.basename(path)] = TreeFile(blob, int(size))
        return found

    def blobs(self, ids: Iterable[str]) -> dict[str, bytes]:
        """The content of each object, read in one `git cat-file --batch`."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        out = _git(["cat-file", "--batch"], self.root, "".join(f"{blob}\n" for blob in wanted).encode()).stdout
        found: dict[str, bytes] = {}
        at = 0
        for blob in wanted:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            if len(header) != 3:  # "<id> missing"
                at = end + 1
                continue
            size = int(header[2])
            found[blob] = out[end + 1:end + 1 + size]
            at = end + 1 + size + 1
        return found

    def untracked(self, rel: str) -> set[str]:
        """What of the working tree under `rel` git does not hold (ignored or not added),
        by its path inside `rel`: files, and whole folders as "name/" (a folder of data
        or of runs is one entry, not a listing of its files)."""
        listed = _git(["ls-files", "-z", "--others", "--directory", "--", rel], self.root)
        prefix = "" if rel == "." else rel + "/"
        return {path[len(prefix):] for path in _entries(listed.stdout) if path.startswith(prefix)}

    def tracked(self, rel: str) -> bool:
        """Whether git holds anything at `rel` in the working tree (the index)."""
        return bool(_git(["ls-files", "-z", "--", rel], self.root).stdout.strip(b"\0"))

    def changes(self, rel: str) -> list[tuple[str, str]]:
        """(A|M|D, path inside `rel`) for each file git holds that differs between the
        revision and the working tree."""
        prefix = "" if rel == "." else rel + "/"
        diff = _entries(_git(["diff", "--no-renames", "--name-status", "-z", self.ref, "--", rel],
                             self.root).stdout)
        found = [(diff[i][0], diff[i + 1]) for i in range(0, len(diff) - 1, 2)]
        return sorted((kind, path[len(prefix):] if path.startswith(prefix) else path) for kind, path in found)

    def renames(self) -> dict[str, str]:
        """New path -> the path the revision had it at, for each file renamed since."""
        diff = _entries(_git(["diff", "--find-renames", "--diff-filter=R", "--name-status", "-z", self.ref],
                             self.root).stdout)
        return {diff[i + 2]: diff[i + 1] for i in range(0, len(diff) - 2, 3) if diff[i].startswith("R")}

    def renamed_from(self, rel: str) -> str | None:
        """The path the revision had `rel` at, where the working tree holds it renamed."""
        return self.renames().get(rel)


def _join(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}"


def git_reader(ref: str, spec: str) -> Reader:
    """A reader of files as `ref` has them, in the repository that holds `spec`."""
    return Revision.of(ref, spec).read
