"""A stranger's spec cannot make `validate` or `plan` do work out of proportion to it:
checks over one long scalar grow linearly with its length."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from runner.spec.diagnostics import SpecError
from runner.spec.load import load_spec
from runner.spec.secrets import credential_kind
from runner.spec.templating import render_tree
from runner.spec.yaml_loader import load_yaml
from tests.conftest import BASE

# Shapes that made the old regular expressions backtrack from every position: runs of
# letters (a URL scheme that never reaches `://`), unclosed `${{`, `-eyJ` (a JWT start at
# every word boundary), and random letters with the punctuation the checks look for.
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:@/.-=&?%+"


def _shapes(size: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["a" * size, "${{" * (size // 3), "-eyJ" * (size // 4), "x://" + "a:" * (size // 2),
            "".join(rng.choice(_ALPHABET) for _ in range(size))]


def _seconds(work: Callable[[], object]) -> float:
    """The best of three: the least disturbed by whatever else the machine does."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return max(best, 1e-4)


@pytest.mark.parametrize("seed", [1, 2])
def test_credential_check_is_linear_in_the_scalar(seed: int) -> None:
    small, large = _shapes(4_000, seed), _shapes(40_000, seed)
    for short, long in zip(small, large):
        ratio = _seconds(lambda: credential_kind(long)) / _seconds(lambda: credential_kind(short))
        assert ratio < 30, (long[:12], ratio)  # quadratic is ~100x; linear ~10x


def test_validating_a_long_scalar_is_linear(tmp_path) -> None:
    def spec(size: int) -> str:
        return BASE + f'description: "{"a" * size}"\n'
    short, long = spec(4_000), spec(40_000)

    def validate(text: str) -> Callable[[], object]:
        return lambda: load_spec(str(tmp_path / "s.yaml"), text=text)
    # Parsing (PyYAML) is linear and dominates a linear validation: compare like with like.
    ratio = _seconds(validate(long)) / _seconds(validate(short))
    assert ratio < 30, ratio


def test_templates_with_long_unclosed_bindings_are_linear() -> None:
    def tree(size: int) -> Callable[[], object]:
        text = "name: x\ndescription: '" + "${{" * (size // 3) + "'\n"
        return lambda: render_tree(load_yaml(text, "s.yaml"))
    ratio = _seconds(tree(40_000)) / _seconds(tree(4_000))
    assert ratio < 30, ratio


def test_a_long_scalar_that_is_a_credential_is_still_found() -> None:
    url = "postgres://" + "u" * 100_000 + ":p@host/db"
    assert credential_kind(url) == "a URL with a password in it"
    with pytest.raises(SpecError, match="URL with a password"):
        load_spec("s.yaml", text=BASE + f'description: "{url}"\n')
