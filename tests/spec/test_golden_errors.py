"""Golden-text tests: each invalid spec gives exactly the expected diagnostics, exit 2, no traceback.

Each case is tests/spec/invalid/<case>.yaml with its expected stderr in <case>.expected
and, optionally, extra CLI arguments one per line in <case>.args and environment
variables (NAME=VALUE per line) in <case>.env. Files starting with
'_' are bases that cases extend. To accept new output after reviewing it:
RUNNER_UPDATE_GOLDEN=1 python -m pytest tests/spec/test_golden_errors.py

The corpus runs in-process through click's CliRunner (the same command, group and error
mapping as `runner validate`, without a Python start per case); a few cases also run as
real processes, so the exit code and the absence of a traceback hold end to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import cli

CORPUS = Path(__file__).parent / "invalid"
CASES = sorted(p.stem for p in CORPUS.glob("*.yaml") if not p.name.startswith("_"))
# End to end as well: a plain case, one with flags and one with environment variables.
IN_PROCESSES = ["set-flag-bad-value", "secret-echoed-by-template-error", CASES[0]]


def _args(case: str) -> list[str]:
    args_file = CORPUS / f"{case}.args"
    extra = args_file.read_text().splitlines() if args_file.exists() else []
    return ["validate", f"{case}.yaml", *extra]


def _env(case: str) -> dict[str, str]:
    env_file = CORPUS / f"{case}.env"
    if not env_file.exists():
        return {}
    return dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)


def _check(case: str, code: int, stderr: str) -> None:
    assert code == 2, stderr
    assert "Traceback" not in stderr
    expected_file = CORPUS / f"{case}.expected"
    if os.environ.get("RUNNER_UPDATE_GOLDEN"):
        expected_file.write_text(stderr)
    assert stderr == expected_file.read_text()
    # Every message names a position: file:line:col, or the command-line flag that set it.
    first = stderr.splitlines()[0]
    assert first.startswith((f"{case}.yaml:", "_", "--set")), first


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES)
def test_invalid_spec(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)
    for name in [k for k in os.environ if k.startswith(("AML_", "RUNNER_")) and k != "RUNNER_UPDATE_GOLDEN"]:
        monkeypatch.delenv(name)
    for name, value in _env(case).items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, _args(case), catch_exceptions=False)
    _check(case, result.exit_code, result.stderr)


@pytest.mark.parametrize("case", IN_PROCESSES)
def test_invalid_spec_as_a_process(case: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AML_", "RUNNER_"))}
    env.update(_env(case))
    result = subprocess.run([sys.executable, "-m", "runner", *_args(case)], cwd=CORPUS, env=env,
                            capture_output=True, text=True, timeout=60)
    _check(case, result.returncode, result.stderr)
