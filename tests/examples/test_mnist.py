"""The README's first command, end to end: the tutorial's two runs on the local engine,
with real TensorFlow, on digits made from scikit-learn's data set."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.local.helpers import cli, example_project, output_rows

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return example_project(tmp_path_factory.mktemp("mnist"), "mnist")


def _labels(root: Path) -> dict[str, str]:
    with open(root / "data" / "mnist-labels.csv") as handle:
        return {row["file"]: row["label"] for row in csv.DictReader(handle)}


def test_the_tutorial_run_classifies_every_image_once(project):
    result = cli("apply", "specs/mnist.yaml", cwd=project, timeout=600)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    rows = output_rows(project, run_id, step="predict-digits-mnist", output="inferences", file="mnist_outputs.txt")
    labels = _labels(project)
    files = [row.split(": ")[0] for row in rows]
    assert len(rows) == len(labels) == 360 and sorted(files) == sorted(labels)
    accuracy = sum(labels[f] == row.split(": ")[1] for f, row in zip(files, rows)) / len(rows)
    assert accuracy > 0.9
    shown = cli("results", run_id, cwd=project)
    assert shown.stdout.splitlines()[0] == "mnist_outputs.txt has 360 rows" and len(shown.stdout.splitlines()) == 11
    again = cli("apply", "specs/mnist.yaml", cwd=project, timeout=600)
    assert again.returncode == 0 and f"reused the output of run {run_id}" in again.stderr


def test_the_single_image_variant(project):
    result = cli("apply", "specs/mnist.single-image.yaml", cwd=project, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = output_rows(project, result.stdout.strip(), step="predict-digits-mnist", output="inferences",
                       file="mnist_outputs.txt")
    assert rows == [f"0.png: {_labels(project)['0.png']}"]


def test_the_azure_environment_can_load_the_model_it_is_given(project):
    """The spec's Azure environment pins the TensorFlow that trained the example model:
    a Keras 3 model does not load in another major Keras (the tutorial's 2.13 is Keras 2)."""
    import json

    import yaml
    from packaging.requirements import Requirement

    spec = yaml.safe_load((project / "specs" / "mnist.yaml").read_text())
    [pin] = [Requirement(p) for p in spec["azure"]["environment"]["pip"] if p.startswith("tensorflow")]
    trained_with = json.loads((project / "models" / "mnist" / "example.json").read_text())["tensorflow"]
    assert pin.specifier.contains(trained_with), f"{pin} does not admit {trained_with}, which trained the model"
