"""The tabular example: CSV rows scored by a scikit-learn model, cut by bytes and by a
partition key; the output keeps the key columns and joins back to every input row."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.local.helpers import cli, example_project, run_folder

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return example_project(tmp_path_factory.mktemp("tabular"), "tabular")


def _scores(root: Path, run_id: str) -> pd.DataFrame:
    return pd.read_csv(run_folder(root, run_id) / "score-rows" / "outputs" / "scores" / "scores.csv")


@pytest.mark.parametrize("spec, mini_batches", [("specs/tabular.yaml", 16), ("specs/tabular.by-clinic.yaml", 4)])
def test_every_row_is_scored_once_and_joins_back(project, spec, mini_batches):
    result = cli("apply", spec, cwd=project, timeout=300)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    scores = _scores(project, run_id)
    inputs = pd.concat([pd.read_csv(p) for p in sorted((project / "data" / "tabular").glob("*.csv"))])
    assert len(scores) == len(inputs) and scores["id"].is_unique
    joined = inputs[["id", "clinic"]].merge(scores, on="id", suffixes=("", "_out"))
    assert len(joined) == len(inputs) and (joined["clinic"] == joined["clinic_out"]).all()
    assert scores["malignant_probability"].between(0, 1).all()
    step = json.loads((run_folder(project, run_id) / "score-rows" / "step.json").read_text())
    assert step["mini_batches"] == mini_batches
