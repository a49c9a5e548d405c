"""The code snapshot's listing: ignore rules checked against real git (`git ls-files`,
`git check-ignore`) on temporary repositories, and what Azure's snapshot does beyond them."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

from runner.inputs.snapshot import FILE_LIMIT, IgnoreRules, list_code
from tests.local.helpers import cli, make_files, write_spec

# A git that reads nothing but the repository's own top .gitignore.
GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "XDG_CONFIG_HOME": os.devnull}


def _git(root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, text=True, env=GIT_ENV,
                          check=False)


def _tree(root: Path, files: list[str], rules: list[str], line_end: str = "\n") -> None:
    root.mkdir(exist_ok=True)
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    (root / ".gitignore").write_text("".join(line + line_end for line in rules))
    assert _git(root, "init", "-q", "--template=", ".").returncode == 0


def _git_files(root: Path) -> set[str]:
    """What `git add .` would take: untracked files that the rules do not exclude."""
    listed = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    assert listed.returncode == 0, listed.stderr
    return {rel for rel in listed.stdout.split("\0") if rel}


def _git_ignored(root: Path, paths: list[str]) -> set[str]:
    checked = _git(root, "check-ignore", "--stdin", "-z", stdin="".join(p + "\0" for p in paths))
    assert checked.returncode in (0, 1), checked.stderr  # 1: none of them is ignored
    return {rel for rel in checked.stdout.split("\0") if rel}


def _folders(files: list[str]) -> list[str]:
    return sorted({"/".join(f.split("/")[:i]) for f in files for i in range(1, f.count("/") + 1)})


def _agrees_with_git(root: Path, files: list[str], rules: list[str], line_end: str = "\n") -> None:
    _tree(root, files, rules, line_end)
    ours = {f.rel for f in list_code(str(root)).files}
    assert ours == _git_files(root), rules
    # Path by path too, folders included: check-ignore answers for what lies under an
    # excluded folder as well, as leaves_out does.
    parsed = IgnoreRules(rules)
    ignored = _git_ignored(root, [*files, *_folders(files)])
    assert {f for f in files if parsed.leaves_out(f)} == {f for f in files if f in ignored}, rules
    top = [d for d in _folders(files) if "/" not in d]
    assert {d for d in top if parsed.ignored(d, True)} == {d for d in top if d in ignored}, rules


FILES = ["a.log", "keep.log", "sub/b.log", "sub/keep.log", "build/out.o", "sub/build", "top.txt", "sub/top.txt",
         "docs/x.md", "sub/docs/x.md", "foo/keep", "foo/x", "foo/sub/y", "a/b", "a/x/y/b", "c/b/c", "tmp/t",
         "sub/tmp/t", "data/keep.txt", "data/x.txt", "src/m.py", "src/n.txt", "#hash", "!bang", "sp ace ",
         "abc.txt", "d.txt", "z.txt"]


@pytest.mark.parametrize("rules", [
    ["*.log", "!keep.log"],  # negation
    ["*.log", "!/keep.log"],  # an anchored negation
    ["build/"],  # a folder only: the file sub/build stays
    ["build"],  # a folder and a file alike
    ["/top.txt", "docs/*.md"],  # anchored: by a leading '/' or a '/' inside
    ["**/tmp", "a/**/b"],  # '**' spans folders, or none
    ["foo/**", "!foo/keep"],  # everything inside foo, yet foo itself is entered
    ["data/", "!data/keep.txt"],  # nothing inside an excluded folder comes back
    ["data", "!data/keep.txt"],
    ["*", "!*/", "!*.py"],  # keep only Python files, in any folder
    ["*", "!*.py"],  # ... while '*' excludes the folders themselves
    ["\\#hash", "\\!bang", "sp\\ ace\\ "],  # escapes
    ["[a-c]*.txt", "?.txt"],  # character classes and '?'
    ["# a comment", "", "   ", "z.txt   "],  # comments, blank lines, trailing spaces
    ["sub/"],
    ["/sub/*", "!/sub/keep.log"],
    ["*.log", "!sub"],  # a folder re-included: its files are still decided by their own names
    ["*.log", "!sub/", "!a"],
])
def test_the_ignore_rules_match_as_git_does(tmp_path: Path, rules: list[str]) -> None:
    _agrees_with_git(tmp_path, FILES, rules)


def test_crlf_line_ends_are_read_as_git_reads_them(tmp_path: Path) -> None:
    _agrees_with_git(tmp_path, FILES, ["*.log", "!keep.log", "build/"], line_end="\r\n")


def _random_case(rnd: random.Random) -> tuple[list[str], list[str]]:
    """A small tree whose names the patterns often hit, and up to six patterns."""
    names, pieces = ["a", "b", "ab", "x.py", "y.log"], ["a", "b", "*", "**", "x.py", "*.log", "?", "a*", "[ab]", "ab"]
    files: list[str] = []
    for _ in range(rnd.randint(1, 12)):
        rel = "/".join(rnd.choice(names) for _ in range(rnd.randint(1, 3)))
        # A name cannot be a file and a folder at once: the first to claim it keeps it.
        if not any(rel == f or rel.startswith(f + "/") or f.startswith(rel + "/") for f in files):
            files.append(rel)
    rules = []
    for _ in range(rnd.randint(1, 6)):
        text = "/".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 2)))
        text = ("/" if rnd.random() < 0.5 else "") + text + ("/" if rnd.random() < 0.5 else "")
        rules.append(("!" if rnd.random() < 0.5 else "") + text)
    return files, rules


def test_random_rules_on_random_trees_match_git(tmp_path: Path) -> None:
    """Seeded, so every run checks the same 150 cases (a Hypothesis search seldom found
    the cases where a pattern matches a path's folder rather than the path)."""
    rnd = random.Random(12)
    for case in range(150):
        files, rules = _random_case(rnd)
        _agrees_with_git(tmp_path / str(case), files, rules)


def test_amlignore_wins_and_a_nested_gitignore_does_not_count(tmp_path: Path) -> None:
    """As both Azure SDKs read it: the top .amlignore if there is one, else the top
    .gitignore; git would also honour sub/.gitignore, Azure does not."""
    _tree(tmp_path, ["score.py", "notes.txt", "sub/secret.txt", "sub/.gitignore"], ["notes.txt"])
    (tmp_path / "sub" / ".gitignore").write_text("secret.txt\n")
    listing = list_code(str(tmp_path))
    assert listing.ignore_file == ".gitignore"
    assert {f.rel for f in listing.files} == {".gitignore", "score.py", "sub/.gitignore", "sub/secret.txt"}
    assert "sub/secret.txt" not in _git_files(tmp_path)  # where git differs
    (tmp_path / ".amlignore").write_text("*.py\n")
    listing = list_code(str(tmp_path))
    assert listing.ignore_file == ".amlignore"
    assert {f.rel for f in listing.files} == {".amlignore", ".gitignore", "notes.txt", "sub/.gitignore",
                                              "sub/secret.txt"}


def test_what_is_always_left_out_and_what_cannot_be_copied(tmp_path: Path) -> None:
    code = tmp_path / "code"
    for rel in ("score.py", "__pycache__/score.cpython-311.pyc", "pkg/__pycache__/m.pyc", "pkg/m.pyc", "pkg/m.py",
                ".git/HEAD", "sub/.git", ".runner/runs/r/run.json", "runs/r/run.json"):
        (code / rel).parent.mkdir(parents=True, exist_ok=True)
        (code / rel).write_text("x")
    outside = tmp_path / "shared.py"
    outside.write_text("shared = 1\n")
    (code / "shared.py").symlink_to(outside)  # a link: what it points to is copied
    (code / "loop").symlink_to(code)
    (code / "dangling").symlink_to(tmp_path / "gone")
    os.mkfifo(code / "pipe")
    listing = list_code(str(code), exclude=[str(code / "runs")])
    assert [f.rel for f in listing.files] == ["pkg/m.py", "score.py", "shared.py"]
    assert listing.files[-1].path == str(code / "shared.py") and listing.files[-1].size == outside.stat().st_size
    assert sorted(listing.left_out) == ["dangling (a broken link)", "loop/ (a link to a folder above it)",
                                        "pipe (not a regular file)"]


def test_size_and_file_count_against_azures_limits(tmp_path: Path) -> None:
    make_files(tmp_path / "many", FILE_LIMIT)
    listing = list_code(str(tmp_path))
    assert listing.limit_warning() is None
    assert listing.summary() == f"{FILE_LIMIT:,} files, 8.7 KiB (no .amlignore or .gitignore)"
    (tmp_path / "one-more.txt").write_text("x")
    assert "2,001 files are above Azure ML's 2,000-file snapshot limit" in (list_code(str(tmp_path)).limit_warning()
                                                                          or "")
    with open(tmp_path / "weights.bin", "wb") as handle:  # sparse: 301 MB of size, no disk
        handle.truncate(301 << 20)
    warning = list_code(str(tmp_path)).limit_warning() or ""
    assert "301.0 MiB is above Azure ML's 300.0 MiB snapshot limit" in warning and ".amlignore" in warning
    (tmp_path / ".amlignore").write_text("*.bin\nmany/\n")
    assert list_code(str(tmp_path)).limit_warning() is None


def test_plan_shows_each_steps_snapshot_and_warns_above_the_limit(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 2)
    write_spec(tmp_path, script="faulty.py")
    (tmp_path / "code" / ".gitignore").write_text("*.bin\n")
    shown = cli("plan", "spec.yaml", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "  code snapshot  2 files, " in shown.stdout and "(.gitignore honoured)" in shown.stdout
    assert "warning" not in shown.stdout
    with open(tmp_path / "code" / "weights.pt", "wb") as handle:
        handle.truncate(301 << 20)
    shown = cli("plan", "spec.yaml", cwd=tmp_path)
    assert "  code snapshot  3 files, 301.0 MiB" in shown.stdout
    assert "  warning        301.0 MiB is above Azure ML's 300.0 MiB snapshot limit" in shown.stdout
