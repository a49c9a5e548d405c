"""`runner init`: the project it writes validates (for every target), runs on the local
engine, matches its editor schema, passes its own pre-commit hook, and never overwrites
a file without --force."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from runner.spec.schema import spec_schema
from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def runner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AML_", "RUNNER_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_project_validates_and_runs_as_it_is(tmp_path: Path) -> None:
    made = runner("init", "word-count", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "word-count"
    assert "word-count/specs/word-count.yaml" in made.stdout.splitlines()
    assert "next: cd word-count && runner validate specs/ && runner apply specs/word-count.yaml" in made.stderr
    for target in ("local", "azureml", "azureml-v2"):
        valid = runner("validate", "specs/", "--target", target, cwd=project)
        assert valid.returncode == 0, valid.stderr
        assert valid.stdout.splitlines() == ["ok    specs/word-count.one-per-batch.yaml", "ok    specs/word-count.yaml"]
    applied = runner("apply", "specs/word-count.yaml", cwd=project)
    assert applied.returncode == 0, applied.stderr
    # In input order: two workers finish mini-batches in any order.
    results = runner("results", "latest", "--sorted", cwd=project)
    assert results.stdout.splitlines()[:3] == ["counts.txt has 5 rows", "01-azure.txt: 8 words",
                                               "02-local.txt: 7 words"]
    # The variant runs one file per mini-batch: five mini-batches.
    variant = runner("apply", "specs/word-count.one-per-batch.yaml", cwd=project)
    assert variant.returncode == 0, variant.stderr
    [step] = json.loads(runner("status", "latest", "--json", cwd=project).stdout)["steps"]
    assert (step["status"], step["mini_batches"], step["items"]) == ("succeeded", 5, 5)
    # .amlignore keeps data/, models/ and schema/ out of the code snapshot: the script,
    # the two specs and the three dot files are left.
    assert step["snapshot_files"] == 6


def test_a_tabular_project_runs_as_it_is(tmp_path: Path) -> None:
    made = runner("init", "--tabular", "--name", "score-rows", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    for target in ("local", "azureml", "azureml-v2"):
        valid = runner("validate", "specs", "--target", target, cwd=tmp_path)
        assert valid.returncode == 0, valid.stderr
    applied = runner("apply", "specs/score-rows.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    results = runner("results", "latest", "--head", "2", "--sorted", cwd=tmp_path)
    assert results.stdout.splitlines() == ["scores.txt has 80 rows", "1 13.145", "2 15.165"]


def test_the_spec_names_the_schema_written_beside_it(tmp_path: Path) -> None:
    assert runner("init", "--name", "schema-check", cwd=tmp_path).returncode == 0
    spec_file = tmp_path / "specs" / "schema-check.yaml"
    text = spec_file.read_text()
    schema_ref = re.match(r"# yaml-language-server: \$schema=(\S+)\n", text)
    assert schema_ref, text[:200]
    schema_file = (spec_file.parent / schema_ref.group(1)).resolve()
    schema = json.loads(schema_file.read_text())
    assert schema == json.loads(json.dumps(spec_schema()))  # what `runner schema` writes today
    jsonschema.validate(yaml.safe_load(text), schema)
    variant = (tmp_path / "specs" / "schema-check.one-per-batch.yaml").read_text()
    assert variant.startswith("# yaml-language-server: $schema=../schema/runner-variant.schema.json\n")
    assert (tmp_path / ".gitignore").read_text().count(".runner/") == 1
    assert "data/" in (tmp_path / ".amlignore").read_text().splitlines()


def test_existing_files_are_kept_unless_forced(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("mine\n")
    (tmp_path / "entry_scripts").mkdir()
    (tmp_path / "entry_scripts" / "score.py").write_text("# mine\n")
    refused = runner("init", "--name", "keep-mine", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.startswith("runner: runner init would overwrite 2 file(s); nothing was written "
                                     "(--force overwrites them):\n")
    assert "  entry_scripts/score.py\n" in refused.stderr and "  .gitignore\n" in refused.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".gitignore", "entry_scripts", "score.py"]
    assert (tmp_path / ".gitignore").read_text() == "mine\n"
    forced = runner("init", "--name", "keep-mine", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert ".runner/" in (tmp_path / ".gitignore").read_text()
    assert runner("validate", "specs", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("args, message", [
    (["--name", "Bad_Name"], "--name 'Bad_Name' is not a step name Azure ML accepts"),
    (["a-file"], "Directory 'a-file' is a file"),
])
def test_bad_arguments_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "a-file").write_text("x")
    result = runner("init", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_the_pre_commit_hook_it_configures_runs(tmp_path: Path) -> None:
    """pre-commit runs the project's own hook (`repo: local`, the runner installed here):
    a good spec passes, a broken one fails the commit with its message."""
    assert runner("init", "--name", "hooked", cwd=tmp_path).returncode == 0
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PRE_COMMIT_COLOR": "never",
           "PRE_COMMIT_HOME": str(tmp_path / ".cache"), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env = {k: v for k, v in env.items() if not k.startswith(("AML_", "RUNNER_"))}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    assert run("git", "init", "-q").returncode == 0
    assert run("git", "add", "specs", ".pre-commit-config.yaml").returncode == 0
    passed = run(str(BIN / "pre-commit"), "run", "--all-files")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"runner validate\.+Passed", passed.stdout)
    spec = tmp_path / "specs" / "hooked.yaml"
    spec.write_text(spec.read_text().replace("run_max_try: 3", "run_max_tries: 3"))
    failed = run(str(BIN / "pre-commit"), "run", "--files", "specs/hooked.yaml")
    assert failed.returncode == 1
    assert re.search(r"runner validate\.+Failed", failed.stdout)
    assert "unknown field 'run_max_tries'; did you mean 'run_max_try'?" in failed.stdout


@pytest.mark.parametrize(("folder", "picked", "why"), [
    ("ab", "batch-inference", "is too short for a spec name"),
    ("My Project", "my-project", "is not a name Azure ML accepts"),
])
def test_a_name_not_the_folder_s_is_said_with_why(tmp_path: Path, folder: str, picked: str, why: str) -> None:
    made = runner("init", folder, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / folder / "specs" / f"{picked}.yaml").is_file()
    assert f"named the spec '{picked}': the folder's name '{folder}' {why} (3-32 lowercase letters, digits or " \
           "dashes, starting with a letter); --name picks another" in made.stderr, made.stderr


def test_a_folder_name_that_fits_is_used_without_a_word(tmp_path: Path) -> None:
    made = runner("init", "scorer", cwd=tmp_path)
    assert made.returncode == 0 and "named the spec" not in made.stderr, made.stderr
    assert (tmp_path / "scorer" / "specs" / "scorer.yaml").is_file()
