"""The code a revision has, by the snapshot's rules: the same files and the same digest
as a snapshot of a checkout of it (runner.inputs.snapshot), read from git alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

from runner.inputs.snapshot import code_digest
from runner.review.revision import code_at
from runner.spec.gitref import Revision


def _git(root: Path, *args: str) -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(root), "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


def test_the_code_at_a_revision_is_what_a_snapshot_of_its_checkout_holds(tmp_path: Path) -> None:
    code = tmp_path / "code"
    (code / "pkg" / "__pycache__").mkdir(parents=True)
    (code / "score.py").write_text("def run(b):\n    return b\n")
    (code / "pkg" / "util.py").write_text("X = 1\n")
    (code / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"\0")
    (code / "notes.md").write_text("left out\n")
    (code / ".amlignore").write_text("*.md\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-f", ".")
    _git(tmp_path, "commit", "-q", "-m", "code")
    digest, files = code_at(Revision.of("HEAD", str(code)), "code")
    assert (digest, files) == code_digest(str(code), ())
    assert sorted(files) == [".amlignore", "pkg/util.py", "score.py"]
    (code / "score.py").write_text("def run(b):\n    return []\n")
    _git(tmp_path, "commit", "-q", "-am", "edit")
    assert code_at(Revision.of("HEAD~1", str(code)), "code") == (digest, files)


def test_a_path_is_a_name_not_a_pattern(tmp_path: Path) -> None:
    for folder in ("d*", "data1"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.txt").write_text(folder)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "data")
    rev = Revision.of("HEAD", str(tmp_path / "d*"))
    assert list(rev.tree("d*")) == ["a.txt"] and rev.tracked("d*")
    (tmp_path / "data1" / "a.txt").write_text("changed")
    assert rev.changes("d*") == [] and rev.changes("data1") == [("M", "a.txt")]
