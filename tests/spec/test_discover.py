"""Which YAML below a folder is a runner spec (runner/spec/discover.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.spec.discover import find_specs, is_spec_text
from tests.conftest import BASE


@pytest.mark.parametrize("text", [
    BASE,
    "extends: base.yaml\nparameters: {batch: 2}\n",
    "# yaml-language-server: $schema=../schema/runner-variant.schema.json\nparameters: {}\n",
    "name: x\nsteps:\n  - name: a\n    inputs: [\n",  # broken YAML that was meant to be a spec
    "name: x\nsteps:\n  - name: a\n    parallel_run: {entry_script: s.py}\n    parallel_run: {}\n",  # duplicate key
])
def test_specs(text: str) -> None:
    assert is_spec_text(text)


@pytest.mark.parametrize("text", [
    "name: env\nchannels: [conda-forge]\ndependencies: [python=3.11]\n",  # conda
    "on: push\njobs:\n  test:\n    steps:\n      - run: make test\n",  # GitHub Actions
    "trigger: [main]\nsteps:\n  - script: make test\n",  # Azure DevOps
    "extends:\n  template: base.yml\n",  # Azure DevOps template
    "repos:\n  - repo: local\n",  # pre-commit
    "paths:\n  - pattern: ./*.csv\n",  # MLTable
    "- a\n- b\n",
    "a: 1\n---\nb: 2\n",
    "{{ .Values.x }}: [\n",  # a Helm template: not YAML at all
])
def test_not_specs(text: str) -> None:
    assert not is_spec_text(text)


def test_hidden_and_underscored_names_are_skipped(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yml", "c.json", "_base.yaml", ".hidden.yaml", ".git/x.yaml", "_parts/y.yaml",
                 "sub/d.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(BASE)
    assert find_specs(str(tmp_path)) == [str(tmp_path / n) for n in ("a.yaml", "b.yml", "sub/d.yaml")]
