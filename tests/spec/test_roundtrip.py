"""Property: a valid spec, dumped to YAML and loaded again, is the same spec."""

from __future__ import annotations

import string
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.spec.load import load_spec
from runner.spec.models import Spec

names = st.from_regex(r"^[a-z][a-z0-9]{1,10}[a-z0-9]$", fullmatch=True)
asset = st.from_regex(r"^[A-Za-z][A-Za-z0-9_]{0,8}$", fullmatch=True)
text = st.text(alphabet=string.ascii_letters + string.digits + " .,:-_/#'\"é", max_size=30)
mini_batch = st.one_of(st.integers(1, 10_000), st.integers(1, 999).map(str))


@st.composite
def specs(draw) -> dict:
    datasets = draw(st.dictionaries(asset, st.builds(lambda p: {"kind": "file", "path": p}, text.filter(str.strip)),
                                    min_size=1, max_size=3))
    step_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    steps = []
    for name in step_names:
        run = {
            "entry_script": draw(st.sampled_from(["score.py", "src/score.py"])),
            "mini_batch_size": draw(mini_batch),
            "error_threshold": draw(st.integers(-1, 1000)),
            "allowed_failed_count": draw(st.one_of(st.none(), st.integers(-1, 100))),
            "allowed_failed_percent": draw(st.one_of(st.none(), st.floats(0, 100))),
            "output_action": "summary_only",
            "run_invocation_timeout": draw(st.integers(1, 3600)),
            "run_max_try": draw(st.integers(1, 10)),
            "process_count_per_node": draw(st.one_of(st.none(), st.integers(1, 64))),
            "node_count": draw(st.integers(1, 100)),
            "logging_level": draw(st.sampled_from(["WARNING", "INFO", "DEBUG"])),
            "environment_variables": draw(st.dictionaries(st.from_regex(r"^[A-Z_][A-Z0-9_]{0,6}$", fullmatch=True),
                                                          text, max_size=2)),
        }
        steps.append({
            "name": name,
            "description": draw(st.one_of(st.none(), text)),
            "inputs": [f"${{{{ datasets.{draw(st.sampled_from(sorted(datasets)))} }}}}"],
            "arguments": draw(st.lists(st.sampled_from(["--a", "--b=1", "x", "3"]), max_size=3).map(
                lambda args: ["--flag", *args])),
            "allow_reuse": draw(st.booleans()),
            "parallel_run": run,
        })
    return {"name": draw(names), "description": draw(text), "datasets": datasets,
            "parameters": draw(st.dictionaries(asset.filter(lambda s: "-" not in s),
                                               st.one_of(st.integers(), text, st.booleans()), max_size=3)),
            "steps": steps}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=specs())
def test_dump_and_reload_is_identity(data: dict, tmp_path_factory) -> None:
    expected = Spec.model_validate(data)
    folder = Path(tmp_path_factory.mktemp("rt"))
    first = folder / "spec.yaml"
    first.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    loaded = load_spec(str(first), environ={}).spec
    assert loaded == expected
    # And the fully resolved form (defaults filled in) reloads to the same spec again.
    second = folder / "resolved.yaml"
    second.write_text(yaml.safe_dump(loaded.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    assert load_spec(str(second), environ={}).spec == loaded
