"""Golden-text tests: each invalid spec gives exactly the expected diagnostics, exit 2, no traceback.

Each case is tests/spec/invalid/<case>.yaml with its expected stderr in <case>.expected
and, optionally, extra CLI arguments one per line in <case>.args and environment
variables (NAME=VALUE per line) in <case>.env. Files starting with
'_' are bases that cases extend. To accept new output after reviewing it:
RUNNER_UPDATE_GOLDEN=1 python -m pytest tests/spec/test_golden_errors.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "invalid"
CASES = sorted(p.stem for p in CORPUS.glob("*.yaml") if not p.name.startswith("_"))


def run_validate(case: str) -> subprocess.CompletedProcess[str]:
    args_file = CORPUS / f"{case}.args"
    extra = args_file.read_text().splitlines() if args_file.exists() else []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AML_", "RUNNER_"))}
    env_file = CORPUS / f"{case}.env"
    if env_file.exists():
        env.update(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return subprocess.run([sys.executable, "-m", "runner", "validate", f"{case}.yaml", *extra],
                          cwd=CORPUS, env=env, capture_output=True, text=True, timeout=60)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES)
def test_invalid_spec(case: str) -> None:
    result = run_validate(case)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    expected_file = CORPUS / f"{case}.expected"
    if os.environ.get("RUNNER_UPDATE_GOLDEN"):
        expected_file.write_text(result.stderr)
    assert result.stderr == expected_file.read_text()
    # Every message names a position: file:line:col, or the command-line flag that set it.
    first = result.stderr.splitlines()[0]
    assert first.startswith((f"{case}.yaml:", "_", "--set")), first
