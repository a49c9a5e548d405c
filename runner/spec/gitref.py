"""Spec files as a git revision has them, for `runner plan SPEC --against REF`: the spec
and every base of its `extends` chain are read with `git show REF:PATH`, so a pull
request's spec is compared with the one on `origin/main` without a second checkout.
Paths stay those of the working tree: relative paths in the spec resolve the same way
on both sides, and only what the files say can differ."""

from __future__ import annotations

import os
import subprocess

from runner.spec.diagnostics import Diagnostic, Mark, SpecError
from runner.spec.variants import Reader

_TIMEOUT = 30


def _git(args: list[str], cwd: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=_TIMEOUT, check=False)
    except FileNotFoundError:
        raise SpecError([Diagnostic(Mark("--against", 0, 0), (), "git is not installed")]) from None
    except subprocess.TimeoutExpired:
        raise SpecError([Diagnostic(Mark("--against", 0, 0), (), f"git {args[0]} took over {_TIMEOUT} s")]) from None


def git_reader(ref: str, spec: str) -> Reader:
    """A reader of files as `ref` has them, in the repository that holds `spec`."""
    where = Mark(f"--against {ref}", 0, 0)
    folder = os.path.dirname(os.path.abspath(spec))
    top = _git(["rev-parse", "--show-toplevel"], folder)
    if top.returncode != 0:
        raise SpecError([Diagnostic(where, (), f"{spec} is not in a git repository")])
    root = top.stdout.decode("utf-8", "surrogateescape").strip()
    if ref.startswith("-") or _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root).returncode:
        raise SpecError([Diagnostic(where, (), f"'{ref}' is not a commit, branch or tag of this repository "
                                               "(in CI, fetch it first: git fetch origin main)")])

    def read(path: str) -> str:
        rel = os.path.relpath(os.path.realpath(os.path.dirname(os.path.abspath(path))), os.path.realpath(root))
        rel = os.path.normpath(os.path.join(rel, os.path.basename(path))).replace(os.sep, "/")
        if rel.startswith("../"):
            raise FileNotFoundError(path)
        shown = _git(["show", f"{ref}:{rel}"], root)
        if shown.returncode != 0:
            raise FileNotFoundError(path)
        return shown.stdout.decode("utf-8")

    return read
