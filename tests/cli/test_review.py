"""Reviewing a spec change: `runner plan --against REF`, `runner diff`, the work and the
reuse decision, as a reviewer (or a CI bot) sees them, in a real git repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.local.helpers import cli, make_files

SPEC = """\
name: review-job
datasets:
  d: {kind: file, path: data/}
steps:
  - name: score
    inputs: ["${{ datasets.d }}"]
    output: {name: out}
    parallel_run:
      source_directory: code
      entry_script: score.py
      mini_batch_size: 5
      error_threshold: 3
      process_count_per_node: 1
"""
SCRIPT = "def init():\n    pass\n\n\ndef run(mini_batch):\n    return [str(p) for p in mini_batch]\n"


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(cwd), "PATH": "/usr/bin:/bin"})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    make_files(tmp_path / "data", 20)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text(SCRIPT)
    (tmp_path / "spec.yaml").write_text(SPEC)
    (tmp_path / ".gitignore").write_text(".runner/\ndata/\n")
    _git("init", "-q", "-b", "main", cwd=tmp_path)
    _git("add", ".", cwd=tmp_path)
    _git("commit", "-q", "-m", "spec", cwd=tmp_path)
    return tmp_path


def test_plan_against_head_reports_each_change_where_it_is_written(repo: Path) -> None:
    changed = SPEC.replace("mini_batch_size: 5", "mini_batch_size: 10").replace("error_threshold: 3",
                                                                                 "error_threshold: 0")
    (repo / "spec.yaml").write_text(changed)
    shown = cli("plan", "spec.yaml", "--against", "HEAD", cwd=repo)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "steps[0].parallel_run.mini_batch_size  5 -> 10  (spec.yaml:11:24)" in out
    assert "steps[0].parallel_run.error_threshold  3 -> 0  (spec.yaml:12:24)" in out
    assert "20 files" in out and "-> 4 mini-batches" in out and "-> 2 mini-batches" in out
    assert cli("plan", "spec.yaml", "--against", "HEAD", "--exit-code", cwd=repo).returncode == 1
    as_json = json.loads(cli("plan", "spec.yaml", "--against", "HEAD", "--format", "json", cwd=repo).stdout)
    assert {c["field"] for c in as_json["fields"]} == {"steps[0].parallel_run.mini_batch_size",
                                                       "steps[0].parallel_run.error_threshold"}


def test_no_change_and_exit_code(repo: Path) -> None:
    same = cli("plan", "spec.yaml", "--against", "HEAD", "--exit-code", cwd=repo)
    assert same.returncode == 0 and same.stdout.startswith("No changes"), same.stdout + same.stderr


def test_the_whole_extends_chain_is_read_from_the_revision(repo: Path) -> None:
    (repo / "variant.yaml").write_text("extends: spec.yaml\nsteps:\n  - name: score\n    parallel_run:\n"
                                       "      node_count: 2\n")
    _git("add", "variant.yaml", cwd=repo)
    _git("commit", "-q", "-m", "variant", cwd=repo)
    (repo / "spec.yaml").write_text(SPEC.replace("error_threshold: 3", "error_threshold: 7"))
    shown = cli("plan", "variant.yaml", "--against", "HEAD", cwd=repo)
    assert "steps[0].parallel_run.error_threshold  3 -> 7  (spec.yaml:12:24)" in shown.stdout, shown.stdout


def test_a_spec_new_in_the_change_and_a_bad_ref(repo: Path) -> None:
    (repo / "new.yaml").write_text(SPEC.replace("review-job", "new-job"))
    added = cli("plan", "new.yaml", "--against", "HEAD", "--exit-code", cwd=repo)
    assert added.returncode == 1 and "(none) -> new-job  (new.yaml:1:7)" in added.stdout, added.stdout
    assert added.stdout.startswith("new.yaml is new: new.yaml at HEAD does not exist")
    bad = cli("plan", "spec.yaml", "--against", "no-such-branch", cwd=repo)
    assert bad.returncode == 2 and "'no-such-branch' is not a commit" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_diff_in_markdown_renders_a_table(repo: Path) -> None:
    (repo / "other.yaml").write_text(SPEC.replace("mini_batch_size: 5", "mini_batch_size: 1"))
    shown = cli("diff", "spec.yaml", "other.yaml", "--format", "markdown", cwd=repo)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "| | field | before | after | set at |" in lines
    assert "| ~ | `steps[0].parallel_run.mini_batch_size` | `5` | `1` | other.yaml:11:24 |" in lines
    assert any(line.startswith("| `score` |") and "20 mini-batches" in line for line in lines)


def test_plan_shows_the_work_and_why_a_step_would_run_or_be_reused(repo: Path) -> None:
    first = cli("plan", "spec.yaml", cwd=repo).stdout
    assert "work           20 files, " in first and "-> 4 mini-batches on 1 worker" in first
    assert "reuse          runs: no earlier successful run of this step" in first
    applied = cli("apply", "spec.yaml", cwd=repo)
    assert applied.returncode == 0, applied.stderr
    run_id = applied.stdout.strip().splitlines()[-1]
    assert f"reuse          would reuse run {run_id} (nothing changed)" in cli("plan", "spec.yaml", cwd=repo).stdout
    (repo / "code" / "score.py").write_text(SCRIPT + "# edited\n")
    assert (f"reuse          runs: score.py changed since run {run_id}"
            in cli("plan", "spec.yaml", cwd=repo).stdout)
    (repo / "code" / "score.py").write_text(SCRIPT)
    make_files(repo / "data", 3, start=20)
    assert f"reuse          runs: 3 input files added since run {run_id}" in cli("plan", "spec.yaml", cwd=repo).stdout
    markdown = cli("plan", "spec.yaml", "--format", "markdown", cwd=repo).stdout
    assert "| `score` | `23 files," in markdown and "<details><summary>Resolved spec</summary>" in markdown


def test_no_view_of_a_plan_or_a_change_shows_a_secret(repo: Path) -> None:
    # A value from a secret variable ends up in the header, the compiled pipeline and
    # the diff, not only in the resolved spec: each view hides it wherever it is.
    # (Not in the experiment's name: a name holding a secret is refused, spec/leaks.py.)
    azure = ("      environment_variables: {DB: \"exp-{{ env.DB_PASS }}\"}\n"
             "azure:\n  compute: {name: cpu-cluster}\n  environment: {name: env, pip: [pandas]}\n")
    (repo / "spec.yaml").write_text(SPEC + azure)
    _git("commit", "-q", "-am", "azure", cwd=repo)
    (repo / "spec.yaml").write_text(SPEC + azure + "description: \"{{ env.MY_TOKEN }}\"\n")
    env = {"DB_PASS": "hunter2-pw", "MY_TOKEN": "tok-abc123"}
    shown = [cli("plan", "spec.yaml", *args, cwd=repo, env=env).stdout for args in (
        (), ("--json",), ("--format", "markdown"), ("--target", "azureml-v2"), ("--target", "azureml"),
        ("--against", "HEAD", "--target", "azureml-v2", "--format", "markdown"),
        ("--against", "HEAD", "--format", "json"))]
    shown.append(cli("diff", "spec.yaml", "spec.yaml", "--target", "azureml", cwd=repo, env=env).stdout)
    for text in shown:
        assert "hunter2" not in text and "tok-abc123" not in text, text
    assert "***" in shown[5]
