"""Shell completion as README.md documents it: the script click writes for bash, sourced
in a real bash, completes runner's commands and their options' choices."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.local.helpers import cli, make_files, write_spec

BIN = Path(sys.executable).parent  # where `runner` is installed (the console script)


def bash(script: str, cwd: Path | None = None) -> str:
    if shutil.which("bash") is None:
        pytest.fail("bash is needed to check the completion script")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=env, capture_output=True,
                            text=True, timeout=60, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def complete(words: str, cwd: Path | None = None) -> list[str]:
    """What pressing Tab after `words` offers, as bash would compute it."""
    script = f"""
        eval "$(_RUNNER_COMPLETE=bash_source runner)"
        COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
        _runner_completion runner
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    return bash(script, cwd).split()


def test_the_bash_script_registers_a_completion_function() -> None:
    out = bash('_RUNNER_COMPLETE=bash_source runner')
    assert "_runner_completion()" in out and "complete -o nosort -F _runner_completion runner" in out


def test_commands_options_and_choices_complete() -> None:
    assert {"apply", "init", "plan", "validate", "schema", "runs"} <= set(complete("runner ''"))
    assert complete("runner va") == ["validate"]
    assert complete("runner validate --format ''") == ["text", "json", "github"]
    assert complete("runner validate --target azureml-''") == ["azureml-v2"]
    assert "--tabular" in complete("runner init --")


def test_run_ids_complete_from_the_project_s_runs(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 2)
    write_spec(tmp_path)
    first = cli("apply", "spec.yaml", cwd=tmp_path).stdout.strip()
    second = cli("apply", "spec.yaml", cwd=tmp_path).stdout.strip()
    assert complete("runner status ''", tmp_path) == ["latest", second, first]  # newest first
    assert complete(f"runner logs {second}", tmp_path) == [second]
    assert complete("runner results --head 3 j", tmp_path) == [second, first]
    assert complete("runner rm ''", tmp_path)[1:] == [second, first]
    assert complete("runner status ''", tmp_path / "data") == ["latest", second, first]  # from a subfolder
    assert complete("runner status ''", Path("/")) == ["latest"]  # no runs: nothing to offer, no error
