"""The spec's `ray:` section (runner/spec/models.py Ray): an address Ray can join, in one
of the forms the docs name, checked with plain string operations; resource amounts Ray
can reserve; and, like `azure:`, a section only its target reads."""

from __future__ import annotations

import pytest

from runner.spec.diagnostics import SpecError
from runner.spec.load import load_spec

SPEC = """
name: score
datasets:
  images: {kind: file, path: data/}
steps:
  - name: score
    inputs: ["${{ datasets.images }}"]
    output: {name: scores}
    parallel_run: {entry_script: score.py}
target: ray
ray:
  address: ADDRESS
"""


def _load(write, address: str, extra: str = "") -> str | SpecError:
    spec = write("s.yaml", SPEC.replace("ADDRESS", address) + extra)
    try:
        loaded = load_spec(spec, environ={})
    except SpecError as exc:
        return exc
    assert loaded.spec.ray is not None
    return loaded.spec.ray.address


@pytest.mark.parametrize("address", ["local", "auto", "127.0.0.1:6379", "head-0.cluster.local:6379",
                                     "ray://127.0.0.1:10001", "ray://head:10001", "[::1]:6379", "ray://[fe80::1]:1"])
def test_each_documented_address_form_is_accepted(write, address: str) -> None:
    assert _load(write, f'"{address}"') == address


@pytest.mark.parametrize("address", ["Local", "head", "head:", "head:0", "head:65536", "head:12x", ":6379",
                                     "ray://", "ray://head", "http://head:6379", "ray://ray://head:1", "he ad:1",
                                     "head:６３７９", "[]:1", "-head:1", "[::1:6379", "a" * 400 + ":" + "1" * 100])
def test_anything_else_is_a_spec_error_at_the_field(write, address: str) -> None:
    error = _load(write, f'"{address}"')
    assert isinstance(error, SpecError)
    [diag] = error.diagnostics
    assert diag.path == ("ray", "address")
    assert diag.headline().startswith("s.yaml:11:12 ray.address: a Ray address is `local`"), diag.headline()


def test_a_long_address_is_checked_without_backtracking(write) -> None:
    """The checks are string splits: a 512-character near-miss is refused at once."""
    error = _load(write, '"' + "a" * 505 + ":99999" + '"')
    assert isinstance(error, SpecError) and error.diagnostics[0].path == ("ray", "address")


@pytest.mark.parametrize(("field", "value", "ok"), [("cpus_per_worker", "0.5", True), ("gpus_per_worker", "0", True),
                                                    ("gpus_per_worker", "0.25", True),
                                                    ("gpus_per_worker", "0.00001", False),
                                                    ("cpus_per_worker", "0.00005", False)])
def test_amounts_ray_cannot_reserve_are_refused(write, field: str, value: str, ok: bool) -> None:
    found = _load(write, "auto", f"  {field}: {value}\n")
    if ok:
        assert found == "auto"
        return
    assert isinstance(found, SpecError)
    [diag] = found.diagnostics
    assert diag.path == ("ray", field) and "steps of 0.0001" in diag.message


def test_a_ray_template_that_cannot_be_rendered_counts_only_for_the_ray_target(write) -> None:
    spec = write("s.yaml", SPEC.replace("ADDRESS", '"{{ env.RAY_HEAD }}"').replace("target: ray\n", ""))
    local = load_spec(spec, environ={})
    assert local.spec.ray is None  # not rendered: nothing of it reaches a local run
    with pytest.raises(SpecError) as caught:
        load_spec(spec, environ={}, target="ray")
    assert caught.value.diagnostics[0].path == ("ray", "address")
    assert "'RAY_HEAD' is not set" in caught.value.diagnostics[0].message
    ray = load_spec(spec, environ={"RAY_HEAD": "ray://head:10001"}, target="ray").spec.ray
    assert ray is not None and ray.address == "ray://head:10001"
