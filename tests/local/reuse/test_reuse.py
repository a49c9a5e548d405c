"""allow_reuse's fingerprint, in-process: what changes it and what must not."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from runner.local.reuse.fingerprint import fingerprint
from runner.plan.plan import StepPlan
from runner.plan.references import ArgumentPlan, InputPlan


def _step(tmp_path: Path, run: str) -> StepPlan:
    """A step reading another step's output (input, side input and argument), as job.json
    holds it for run folder `run`."""
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "score.py").write_text("def run(batch):\n    return batch\n")
    upstream = f"/runs/{run}/first/outputs/o/"
    produced = InputPlan("steps.first.outputs.o", "file", upstream, step="first", output="o")
    return StepPlan(
        name="second", source_directory=str(code), entry_script=str(code / "score.py"), inputs=[produced],
        side_inputs=[produced], output="p", append_row_file="rows.txt", workers=1, node_count=1,
        process_count_per_node=1, mini_batch="2 files", mini_batch_size=2, partition_keys=None, error_threshold=-1,
        allowed_failed_count=None, allowed_failed_percent=None, run_max_try=3, run_invocation_timeout=60,
        logging_level="INFO", arguments=[ArgumentPlan("--upstream"), ArgumentPlan(upstream, produced)],
        environment_variables={}, allow_reuse=True, bindings={})


def test_another_steps_output_counts_by_its_producer_not_its_path(tmp_path: Path) -> None:
    first, second = _step(tmp_path, "run-1"), _step(tmp_path, "run-2")
    assert fingerprint(first, "listing", {"first": "abc"}, "code") == fingerprint(second, "listing", {"first": "abc"},
                                                                                "code")
    assert fingerprint(first, "listing", {"first": "abc"}, "code") != fingerprint(first, "listing",
                                                                                {"first": "changed"}, "code")


def test_the_definition_the_listing_and_the_code_change_it(tmp_path: Path) -> None:
    step = _step(tmp_path, "run-1")
    before = fingerprint(step, "listing", {"first": "abc"}, "code")
    assert fingerprint(dataclasses.replace(step, run_max_try=2), "listing", {"first": "abc"}, "code") != before
    assert fingerprint(step, "other listing", {"first": "abc"}, "code") != before
    assert fingerprint(step, "listing", {"first": "abc"}, "other code") != before


def test_the_code_counts_by_its_snapshot_not_the_live_folder(tmp_path: Path) -> None:
    """The code part is the snapshot's digest: editing source_directory afterwards
    changes nothing (runner.local.driver.snapshot takes the digest; tests/local/test_snapshot_runs.py)."""
    step = _step(tmp_path, "run-1")
    before = fingerprint(step, "listing", {"first": "abc"}, "code")
    (tmp_path / "code" / "score.py").write_text("def run(batch):\n    return batch[:1]\n")
    assert fingerprint(step, "listing", {"first": "abc"}, "code") == before
