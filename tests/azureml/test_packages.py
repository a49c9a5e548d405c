"""The pip packages Azure requires of a ParallelRunStep's environment, merged with the
spec's own: a package the spec lists keeps its version and gains the extras Azure needs."""

from __future__ import annotations

from runner.azureml.compile_v1 import REQUIRED_PIP, with_required


def test_a_listed_package_gains_the_extras_it_lacks() -> None:
    # A tabular input needs [pandas]; the spec's [fuse] alone used to suppress it (issue 13).
    assert with_required(["azureml-dataset-runtime[fuse]"], REQUIRED_PIP) == [
        "azureml-dataset-runtime[fuse,pandas]", "azureml-core"]
    assert with_required(["Azureml_Dataset-Runtime[fuse] >=1.60", "azureml-core==1.61"], REQUIRED_PIP) == [
        "Azureml_Dataset-Runtime[fuse,pandas] >=1.60", "azureml-core==1.61"]
    assert with_required(["azureml-dataset-runtime[pandas,fuse]==1.62"], REQUIRED_PIP) == [
        "azureml-dataset-runtime[pandas,fuse]==1.62", "azureml-core"]
    assert with_required(["azureml-dataset-runtime>=1.60"], REQUIRED_PIP) == [
        "azureml-dataset-runtime[pandas,fuse]>=1.60", "azureml-core"]
    assert with_required(["pandas"], REQUIRED_PIP) == ["pandas", *REQUIRED_PIP]
    assert with_required(["--extra-index-url https://pkgs/simple"], ["mltable"]) == [
        "--extra-index-url https://pkgs/simple", "mltable"]
