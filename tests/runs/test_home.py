"""Where runs are kept (runner/runs/home.py): the nearest `.runner/` up from the working
directory, stopping at the top of a git repository; for `apply` the spec's project;
RUNNER_HOME over all. Then the commands, run from a subfolder, as a user would."""

from __future__ import annotations

import os
from pathlib import Path

from runner.runs.home import home
from tests.local.helpers import cli, make_files, write_spec


def _dirs(root: Path, *names: str) -> None:
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)


def test_the_nearest_runner_folder_up_from_the_working_directory(tmp_path: Path) -> None:
    _dirs(tmp_path, "project/.runner", "project/specs/deep")
    assert home(cwd=tmp_path / "project/specs/deep", environ={}) == tmp_path / "project/.runner"
    assert home(cwd=tmp_path / "project", environ={}) == tmp_path / "project/.runner"


def test_the_walk_stops_at_the_top_of_a_git_repository(tmp_path: Path) -> None:
    _dirs(tmp_path, ".runner", "repo/.git", "repo/sub")  # a stray .runner above the repository
    assert home(cwd=tmp_path / "repo/sub", environ={}) == tmp_path / "repo/.runner"
    (tmp_path / "worktree").mkdir()
    (tmp_path / "worktree/.git").write_text("gitdir: elsewhere\n")  # a worktree's .git is a file
    assert home(cwd=tmp_path / "worktree", environ={}) == tmp_path / "worktree/.runner"


def test_apply_from_elsewhere_keeps_runs_with_the_spec_s_project(tmp_path: Path) -> None:
    _dirs(tmp_path, "elsewhere", "project/.git", "project/specs", "kept/.runner", "kept/specs")
    spec = tmp_path / "project/specs/job.yaml"
    assert home(spec=spec, cwd=tmp_path / "elsewhere", environ={}) == tmp_path / "project/.runner"
    assert home(spec="../kept/specs/job.yaml", cwd=tmp_path / "elsewhere", environ={}) == tmp_path / "kept/.runner"
    # Runs already kept where one works win over the spec's project.
    _dirs(tmp_path, "elsewhere/.runner")
    assert home(spec=spec, cwd=tmp_path / "elsewhere", environ={}) == tmp_path / "elsewhere/.runner"


def test_with_nothing_to_find_the_working_directory_as_before(tmp_path: Path) -> None:
    _dirs(tmp_path, "plain/specs")
    assert home(spec="specs/job.yaml", cwd=tmp_path / "plain", environ={}) == tmp_path / "plain/.runner"


def test_runner_home_wins_relative_to_the_working_directory(tmp_path: Path) -> None:
    _dirs(tmp_path, "project/.runner", "project/sub")
    cwd = tmp_path / "project/sub"
    assert home(cwd=cwd, environ={"RUNNER_HOME": str(tmp_path / "state")}) == tmp_path / "state"
    assert home(cwd=cwd, environ={"RUNNER_HOME": "../../state"}) == tmp_path / "state"
    assert home(cwd=cwd, environ={"RUNNER_HOME": ""}) == tmp_path / "project/.runner"


def test_commands_from_a_subfolder_use_the_project_s_runs_and_reuse(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    make_files(tmp_path / "data", 12)
    write_spec(tmp_path, step={"allow_reuse": True})
    first = cli("apply", "spec.yaml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    sub = tmp_path / "notebooks" / "deep"
    sub.mkdir(parents=True)
    listed = cli("runs", cwd=sub)
    assert listed.returncode == 0 and first.stdout.strip() in listed.stdout, listed.stderr
    again = cli("apply", "../../spec.yaml", cwd=sub)  # the spec's paths stay relative to the spec
    assert again.returncode == 0, again.stderr
    assert f"reused the output of run {first.stdout.strip()}" in again.stderr
    assert not (sub / ".runner").exists() and not (tmp_path / "notebooks" / ".runner").exists()
    shown = cli("results", "latest", cwd=sub)
    assert shown.returncode == 0 and "has 12 rows" in shown.stdout
    elsewhere = cli("runs", cwd=sub, env={"RUNNER_HOME": str(tmp_path / "other")})
    assert elsewhere.stdout == "" and f"under {tmp_path / 'other' / 'runs'}" in elsewhere.stderr


def test_a_relative_runner_home_is_taken_from_where_the_command_runs(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 3)
    write_spec(tmp_path)
    applied = cli("apply", "spec.yaml", cwd=tmp_path, env={"RUNNER_HOME": "state"})
    assert applied.returncode == 0, applied.stderr
    assert (tmp_path / "state" / "runs" / applied.stdout.strip() / "run.json").is_file()
    assert not (tmp_path / ".runner").exists()
    assert os.listdir(tmp_path / "state") == ["runs"]


def test_a_runner_home_that_is_a_file_is_said_so(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 2)
    write_spec(tmp_path)
    (tmp_path / "home").write_text("not a folder")
    for args in (("runs",), ("status", "latest"), ("apply", "spec.yaml")):
        result = cli(*args, cwd=tmp_path, env={"RUNNER_HOME": "home"})
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == f"runner: RUNNER_HOME=home is not a folder ({tmp_path / 'home'}); " \
                                        "point it at the folder to keep runs in", result.stderr
