"""Fuzz `runner validate` with mutated specs: whatever a stranger writes, the answer is
exit 0 or 2 with a message, never an internal error (exit 3) or a traceback.

Mutations start from the specs we ship (variants and all): values replaced with values
of other types, sizes and scripts, keys dropped or added, values nested deeply, and the
YAML text itself cut or spliced with YAML's special characters.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from runner.cli import cli

SPECS = Path(__file__).parents[2] / "specs"
SEEDS = sorted(p.name for p in SPECS.glob("*.yaml"))
SPECIAL = [
    "${{ parameters.batch_size_param }}", "${{ datasets.mnist }}", "${{ models.nope }}", "${{ steps.x.outputs.y }}",
    "${{ parameters. }}", "{{ env.HOME }}", "{{ env.NOPE }}", "{{ lipsum(200000) }}", "{{ 'a'*99999999 }}",
    "{{ 9**9**9 }}", "{{ [[0]*65536]*65536|sum(start=[]) }}", "{{ 'abc'|xmlattr }}", "{% for x in y %}",
    "{PartitionDate:yyyy/MM/dd}", "/{a}/{a}", "{my-key}", "{1x}", "é" * 200, "1MB", "10GB", "99999999999999999999GB",
    "-1", "", " ", "~", "..", "/etc/passwd", "C:\\x", "a\x00b", "\t", "\u202e", "AccountKey=" + "A" * 40,
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.x", "postgres://u:p@h/d", "score", "file", "tabular",
]
KEYS = st.sampled_from(["name", "steps", "inputs", "parallel_run", "entry_script", "mini_batch_size", "kind",
                        "path", "partition_format", "partition_keys", "output", "extends", "parameters",
                        "datasets", "models", "azure", "x", "é", "<<", "1"]) | st.text(max_size=12)
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(-10**60, 10**60) | st.floats()
           | st.text(max_size=40) | st.sampled_from(SPECIAL))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
                      max_leaves=8)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if len(path) > 40:  # a nested mutation: mutate around it, not inside it
        return out
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*path, index))
    return out


def _mutate(root: Any, data: st.DataObject) -> Any:
    path = data.draw(st.sampled_from(_paths(root)))
    op = data.draw(st.sampled_from(["replace", "delete", "add", "nest"]))
    if not path:
        return data.draw(VALUES) if op == "replace" else root
    parent = root
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if op == "replace":
        parent[last] = data.draw(VALUES)
    elif op == "delete":
        del parent[last]
    elif op == "add" and isinstance(parent[last], dict):
        parent[last][data.draw(KEYS)] = data.draw(VALUES)
    elif op == "nest":
        depth = data.draw(st.integers(1, 2000))
        value = parent[last]
        for _ in range(depth):
            value = [value]
        parent[last] = value
    return root


def _validate(folder: Path, name: str) -> None:
    result = CliRunner().invoke(cli, ["validate", str(folder / name)], env={"AML_COMPUTE_CLUSTER_NAME": None})
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, f"{type(result.exception).__name__}: {result.exception}\n{(folder / name).read_text()[:2000]}"
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output


def _copy_specs(tmp_path_factory: Any) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "specs"
    shutil.copytree(SPECS, folder)
    return folder


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_mutated_specs_never_crash_validate(tmp_path_factory: Any, seed: str, data: st.DataObject) -> None:
    folder = _copy_specs(tmp_path_factory)
    root = yaml.safe_load((folder / seed).read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        root = _mutate(root, data)
    try:
        text = yaml.safe_dump(root, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, UnicodeEncodeError, RecursionError):
        assume(False)  # not expressible as YAML by PyYAML's emitter
    (folder / seed).write_text(text, encoding="utf-8", errors="surrogatepass")
    _validate(folder, seed)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_spliced_yaml_text_never_crashes_validate(tmp_path_factory: Any, seed: str, data: st.DataObject) -> None:
    folder = _copy_specs(tmp_path_factory)
    text = (folder / seed).read_text()
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 20))
        insert = data.draw(st.text(alphabet=st.sampled_from(list("[]{}:,-'\"&*!|>#%@`?\n\t \\0xé")), max_size=8)
                           | st.sampled_from(SPECIAL))
        text = text[:at] + insert + text[at + cut:]
    (folder / seed).write_text(text, encoding="utf-8", errors="surrogatepass")
    _validate(folder, seed)
