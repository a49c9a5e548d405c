"""examples/ci/runner-pr.yml, the GitHub Actions workflow README.md documents: every
`runner` command it runs exists with the options it passes, and the JSON its plan loop
reads is what `runner validate --format json` prints."""

from __future__ import annotations

import json
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
    assert [words[0] for words in commands] == ["validate", "validate", "plan", "plan"]
    for words in commands:
        command = cli.commands[words[0]]
        known = {opt for param in command.params if isinstance(param, click.Option) for opt in param.opts}
        used = {word for word in words if word.startswith("--")}
        assert used <= known, f"runner {words[0]} has no {sorted(used - known)}"
        formats = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--format"]
        choices = {choice for param in command.params if param.name == "fmt"
                   for choice in getattr(param.type, "choices", ())}
        assert set(formats) <= choices


def test_the_plan_loop_reads_the_files_validate_lists() -> None:
    """`runner validate "$SPECS" --format json | jq -r '.[].file'`, here without jq."""
    result = subprocess.run([sys.executable, "-m", "runner", "validate", "specs/", "--format", "json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    files = [entry["file"] for entry in json.loads(result.stdout)]
    assert files == sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").glob("*.yaml"))
    assert all(Path(ROOT / f).is_file() for f in files)
