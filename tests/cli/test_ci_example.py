"""examples/ci/runner-pr.yml, the GitHub Actions workflow README.md documents: every
`runner` command it runs exists with the options it passes, and its Validate and Plan
steps, run as GitHub runs them, comment on what a change does."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import yaml

from runner.cli import cli
from tests.conftest import ROOT

WORKFLOW = ROOT / "examples" / "ci" / "runner-pr.yml"


def run_scripts() -> list[str]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    return [step["run"] for step in steps if "run" in step]


def runner_commands() -> list[list[str]]:
    """Each `runner ...` invocation of the scripts, as words, up to a redirection or pipe."""
    commands = []
    for script in run_scripts():
        for line in script.replace("\\\n", " ").splitlines():
            for match in re.finditer(r"(?:^\s*|\$\()runner ([^|>;)]*)", line.split(" #")[0]):
                commands.append(shlex.split(match.group(1)))
    return commands


def test_the_workflow_is_a_github_workflow() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True] == {"pull_request": {"paths": ["specs/**", "entry_scripts/**"]}}  # YAML 1.1: on
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    [job] = workflow["jobs"].values()
    assert job["steps"][0] == {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}}


def test_every_runner_command_and_option_exists() -> None:
    commands = runner_commands()
    assert [words[0] for words in commands] == ["validate", "plan"]
    for words in commands:
        command = cli.get_command(click.Context(cli), words[0])  # commands load lazily
        assert command is not None
        known = {opt for param in command.params if isinstance(param, click.Option) for opt in param.opts}
        used = {word for word in words if word.startswith("--")}
        assert used <= known, f"runner {words[0]} has no {sorted(used - known)}"
        formats = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--format"]
        choices = {choice for param in command.params if param.name == "fmt"
                   for choice in getattr(param.type, "choices", ())}
        assert set(formats) <= choices


def step_script(name: str) -> str:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    [step] = [step for job in workflow["jobs"].values() for step in job["steps"] if step.get("name") == name]
    return str(step["run"])


def test_the_workflow_steps_validate_and_plan_a_change(tmp_path: Path) -> None:
    """The Validate and Plan steps, run by bash -e as GitHub runs them, in a repository
    `runner init` made: a change to a committed spec and a new variant land in plan.md."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AML_", "RUNNER_"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(ROOT),
               SPECS="specs/", TARGET="azureml-v2", BASE="HEAD", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    assert run(sys.executable, "-m", "runner", "init", "--name", "reviewed").returncode == 0
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "base"]):
        assert run("git", *args).returncode == 0
    validated = run("bash", "-e", "-c", step_script("Validate"))
    assert (validated.returncode, validated.stdout) == (0, ""), validated.stderr

    spec = tmp_path / "specs" / "reviewed.yaml"
    spec.write_text(spec.read_text().replace('batch_size_param: "2"', 'batch_size_param: "3"')
                    .replace("error_threshold: 0 ", "error_threshold: 4 "))
    (tmp_path / "specs" / "reviewed.big.yaml").write_text('extends: reviewed.yaml\nparameters: {batch_size_param: "5"}\n')
    planned = run("bash", "-e", "-c", step_script("Plan against the base branch"))
    assert planned.returncode == 0, planned.stdout + planned.stderr
    comment = (tmp_path / "plan.md").read_text()
    assert comment.startswith("<!-- runner-plan -->\n### runner plan against `HEAD`\n")
    assert "### New spec: `specs/reviewed.big.yaml`" in comment
    line = next(n for n, text in enumerate(spec.read_text().splitlines(), 1) if "error_threshold: 4" in text)
    assert f"| `steps[0].parallel_run.error_threshold` | `0` | `4` | specs/reviewed.yaml:{line}:" in comment
    assert "3 mini-batches" in comment and "2 mini-batches" in comment  # 5 files: 2 per batch, then 3
    assert comment.count("### Changes to the job:") == 2  # the spec and its variant: a base's change is theirs

    assert run("git", "add", "specs").returncode == 0 and run("git", "commit", "-q", "-m", "change").returncode == 0
    unchanged = run("bash", "-e", "-c", step_script("Plan against the base branch"))
    assert unchanged.returncode == 0, unchanged.stderr
    assert (tmp_path / "plan.md").read_text().endswith("No spec changes what it runs.\n")

    # A change to the entry script alone changes what runs: the comment names the file.
    script = tmp_path / "entry_scripts" / "score.py"
    script.write_text(script.read_text() + "# a fix\n")
    assert run("git", "commit", "-q", "-am", "fix").returncode == 0
    fixed = run("bash", "-e", "-c", step_script("Plan against the base branch").replace("$BASE", "HEAD~1"))
    assert fixed.returncode == 0, fixed.stderr
    assert "~ `entry_scripts/score.py`" in (tmp_path / "plan.md").read_text()
