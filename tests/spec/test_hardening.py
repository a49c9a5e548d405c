"""A stranger's spec cannot make `validate` or `plan` do work out of proportion to it:
checks over one long scalar grow linearly with its length, and a template is refused
before it builds a value larger than the sandbox's caps, not after."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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


# Each built a value of 0.4 to 5.7 GB (or would have) before a check saw it.
TEMPLATES = [
    "{{ range(10000)|map('string')|join('x'*200000) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '{:.999999999f}'.format(1) }}",
    "{{ '{:>99999999}{:>99999999}{:>99999999}'.format(1, 2, 3) }}",
    "{{ '{0:{1}}'.format(1, 999999999) }}",
    "{{ '{a:<999999999}'.format_map({'a': 1}) }}",
    "{{ ('{:262144}' * 2000).format(*range(2000)) }}",
    "{{ ('{:>999999999}'|escape).format(1) }}",
    "{{ ('x'*200000).join(range(10000)|map('string')) }}",
    "{{ (range(10000)|map('string')|list)|join('y'*100000) }}",
    "{{ range(10000)|map('string')|map('replace', '1', 'x'*100000)|list|length }}",
    "{{ " + " ~ ".join(["('x'*262144)"] * 2000) + " }}",
    "{{ ('x'*262144) }}" * 2000,
    "{{ ('a'*200000)|replace('a', 'b'*1000) }}",
    "{{ 'a'.center(999999999) }}{{ 'a'.ljust(999999999) }}",
    "{{ 'a'.rjust(999999999) }}", "{{ 'a'.zfill(999999999) }}",
    "{{ ('\t'*200000).expandtabs(1000) }}",
    "{{ 'a'|center(999999999) }}", "{{ ('a\n'*100000)|indent(10000) }}", "{{ ('a '*100000)|wordwrap(5) }}",
    "{{ '%999999999d'|format(1) }}", "{{ '%999999999d' % 1 }}",
    "{{ 'x'*999999999 }}", "{{ ('x'*200000) + ('y'*200000) }}", "{{ (range(10000)|list)*2000 }}",
]
_LIMIT = 100 << 20


def _validate(folder: Path, template: str) -> tuple[int, str, int]:
    """Exit code, standard error and peak memory (bytes) of `runner validate` of a spec
    whose description is `template`, in its own process."""
    (folder / "s.yaml").write_text(BASE + f"description: {json.dumps(template)}\n")
    with open(folder / "stderr", "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "runner", "validate", "--no-files", "s.yaml"], cwd=folder,
                                stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not every child's so far
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, (folder / "stderr").read_text(), usage.ru_maxrss * 1024


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> int:
    code, stderr, peak = _validate(tmp_path_factory.mktemp("baseline"), "{{ 'small' ~ 'ok' }}")
    assert code == 0, stderr
    return peak


@pytest.mark.parametrize("template", TEMPLATES, ids=[t[:40] for t in TEMPLATES])
def test_a_template_is_refused_before_it_allocates(tmp_path: Path, baseline: int, template: str) -> None:
    code, stderr, peak = _validate(tmp_path, template)
    assert code == 2, stderr
    assert "s.yaml:" in stderr and "description: template" in stderr and "Traceback" not in stderr, stderr
    assert peak - baseline < _LIMIT, f"{(peak - baseline) >> 20} MB: {stderr}"


def _datasets(path: str, partition_format: str | None = None) -> str:
    extra = f", partition_format: '{partition_format}'" if partition_format else ""
    return BASE.replace("images: {kind: file, path: data/images/}", f"images: {{kind: file, path: '{path}'{extra}}}")


@pytest.mark.parametrize(("path", "partition_format"), [
    ("data/*x*x*x*x*x*xy", None),  # matched against a 120-character name: minutes
    ("data/**/a/**/b/**/c.csv", None),
    ("data/", "/{a}/*x*x*xy"),
    ("data/", "/{a}{b}{c}.csv"),
])
def test_patterns_that_would_backtrack_are_refused(write, path: str, partition_format: str | None) -> None:
    with pytest.raises(SpecError, match="matching it could take minutes") as info:
        load_spec(write("s.yaml", _datasets(path, partition_format)))
    assert info.value.diagnostics[0].path[:2] == ("datasets", "images")


@pytest.mark.parametrize(("path", "partition_format"), [
    ("data/**/*.csv", None), ("data/*/part-*.csv", None), ("data/", "/{year}/{month}/{name}.png"),
    ("data/", "/{PartitionDate:yyyy/MM/dd}/{name}-*.csv"),
])
def test_ordinary_patterns_pass(write, path: str, partition_format: str | None) -> None:
    load_spec(write("s.yaml", _datasets(path, partition_format)))


def test_two_crowded_folder_names_are_refused(write) -> None:
    with pytest.raises(SpecError, match="too many wildcards"):
        load_spec(write("s.yaml", _datasets("data/*x*y/*x*y/*.csv")))


@pytest.mark.parametrize("requirement", ["a" * 20_000, "pandas\nnumpy", "a" * 5_000 + "\nb\nc"])
def test_a_requirement_is_one_short_line(write, requirement: str) -> None:
    azure = "azure:\n  compute: {name: cpu}\n  environment: {name: env, pip: [" + json.dumps(requirement) + "]}\n"
    with pytest.raises(SpecError) as info:
        load_spec(write("s.yaml", BASE + azure))
    assert info.value.diagnostics[0].path == ("azure", "environment", "pip", 0)
