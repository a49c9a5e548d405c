"""The `runner-validate` pre-commit hook, run by the real `pre-commit` tool.

`pre-commit try-repo` installs this package from a git repository into a virtualenv of
its own (from PyPI: this test needs the network `make setup` needs) and runs the hook
from .pre-commit-hooks.yaml on a temporary project with a good and a bad spec. It is
given a committed copy of the working tree, not the checkout itself: try-repo reads a
repository's HEAD plus its tracked changes only, so new files not yet added would be
missing from what it installs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
# What `pip install .` reads: the package, its metadata, and the hooks file.
PACKAGE_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml")

GOOD = """\
name: good
datasets:
  texts: {kind: file, path: ../data/}
steps:
  - name: count
    inputs: ["${{ datasets.texts }}"]
    output: {name: counts}
    parallel_run:
      source_directory: ..
      entry_script: score.py
      mini_batch_size: 2
"""
BAD = GOOD.replace("name: good", "name: bad").replace("mini_batch_size: 2", "mini_batch_size: 2\n      eror_threshold: 3")


def git(*args: str, cwd: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=60)


def committed_copy(dest: Path) -> Path:
    """This working tree's package as a one-commit repository."""
    for name in PACKAGE_FILES:
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "runner", dest / "runner", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git("init", "-q", cwd=dest)
    git("add", ".", cwd=dest)
    git("commit", "-q", "-m", "snapshot", cwd=dest)
    return dest


def try_repo(repo: Path, project: Path, home: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run([str(PRE_COMMIT), "try-repo", str(repo), "runner-validate", "--verbose", "--files", *files],
                          cwd=project, env=env, capture_output=True, text=True, timeout=900)


def test_try_repo_passes_a_good_spec_and_fails_a_bad_one(tmp_path: Path) -> None:
    assert PRE_COMMIT.exists(), "pre-commit is in the dev extra: `make setup` installs it"
    repo = tmp_path / "runner"
    repo.mkdir()
    committed_copy(repo)
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "good.yaml").write_text(GOOD)
    (project / "specs" / "bad.yaml").write_text(BAD)
    (project / "specs" / "typo.yaml").write_text(GOOD.replace("entry_script: score.py", "entry_script: scor.py"))
    (project / "score.py").write_text("def run(mini_batch):\n    return mini_batch\n")
    (project / "data").mkdir()
    (project / "data" / "a.txt").write_text("a\n")
    (project / "notes.yaml").write_text("steps: [not, a, spec]\n")  # outside specs/: not the hook's
    git("init", "-q", cwd=project)
    git("add", ".", cwd=project)

    good = try_repo(repo, project, tmp_path / "cache", "specs/good.yaml", "notes.yaml")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "runner validate" in good.stdout and "Passed" in good.stdout
    assert "ok    specs/good.yaml" in good.stdout  # --verbose: the hook's own output

    # The environment is reused: the second run installs nothing.
    both = try_repo(repo, project, tmp_path / "cache", "specs/good.yaml", "specs/bad.yaml", "specs/typo.yaml")
    assert both.returncode == 1, both.stdout + both.stderr
    assert "Failed" in both.stdout
    assert "specs/bad.yaml:12:7 steps[0].parallel_run.eror_threshold: unknown field 'eror_threshold'; " \
           "did you mean 'error_threshold'?" in both.stdout
    # The hook runs in the repository: a file the spec names must be there, as apply needs it.
    assert "specs/typo.yaml:10:21 steps[0].parallel_run.entry_script: scor.py does not exist; " \
           "did you mean 'score.py'?" in both.stdout
    assert "ok    specs/good.yaml" in both.stdout
