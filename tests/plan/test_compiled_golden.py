"""The compiled Azure pipelines of the example specs, as `runner plan --target ... --out`
writes them, compared with files kept in git: a change to the compilers shows up in
review as a diff of these. Regenerate with RUNNER_UPDATE_GOLDEN=1 (then read the diff).
tests/azureml/ builds the real SDK objects from the same compiled data and loads every
v2 file here with azure.ai.ml.load_job."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner import api
from tests.conftest import ROOT

GOLDEN = Path(__file__).parent / "golden"
CASES = [(spec, target) for spec in ("mnist", "mnist.single-image", "tabular.azure")
         for target in ("azureml", "azureml-v2")]


def golden_path(spec: str, target: str) -> Path:
    return GOLDEN / f"{spec}.{target}.yaml"


def compiled_text(spec: str, target: str) -> str:
    # As from the repository root, with no AML_* variables (the spec's templates read them).
    _, compiled = api.plan_compiled(f"specs/{spec}.yaml", target=target, environ={}, base_dir=".", files=False)
    assert compiled is not None
    return compiled.text


@pytest.mark.parametrize(("spec", "target"), CASES)
def test_compiled_example_matches_golden(spec: str, target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    text = compiled_text(spec, target)
    path = golden_path(spec, target)
    if os.environ.get("RUNNER_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} is stale (RUNNER_UPDATE_GOLDEN=1 regenerates it)"


def test_plan_out_writes_the_golden_job_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--out` in another folder: local paths are relative to the file, so it still works there."""
    monkeypatch.chdir(ROOT)
    _, compiled = api.plan_compiled("specs/mnist.yaml", target="azureml-v2", environ={}, files=False,
                                    base_dir=str(tmp_path))
    assert compiled is not None
    code = compiled.data["jobs"]["predict_digits_mnist"]["component"]["task"]["code"]
    assert (tmp_path / code).resolve() == ROOT
    assert (tmp_path / compiled.data["inputs"]["mnist_param"]["path"]).resolve() == ROOT / "data" / "mnist"


@pytest.mark.parametrize(("target", "before", "after"), [("azureml", "allow_reuse: true", "allow_reuse: false"),
                                                         ("azureml-v2", "is_deterministic: true",
                                                          "is_deterministic: false")])
def test_no_reuse_compiles_every_step_to_run_again(target: str, before: str, after: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`apply --no-reuse` on Azure ML: the plan without reuse, as the backend compiles it."""
    monkeypatch.chdir(ROOT)
    plan = api.plan("specs/mnist.yaml", target=target, environ={})
    backend = api.backend_for(target)
    as_is, compiled = backend.compile(plan, base_dir="."), backend.compile(plan.without_reuse(), base_dir=".")
    assert as_is is not None and before in as_is.text
    assert compiled is not None and after in compiled.text and before not in compiled.text
