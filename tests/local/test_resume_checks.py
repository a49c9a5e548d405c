"""What `runner resume` checks of a run folder before it runs anything again."""

from __future__ import annotations

import json
from pathlib import Path

from runner.runs.folder import RunFolder
from runner.runs.status import Status
from tests.local.helpers import cli, make_files, run_folder, write_spec


def test_a_mini_batch_naming_a_file_outside_its_dataset_is_refused_on_resume(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 10)
    (tmp_path / "private.txt").write_text("7\n")
    write_spec(tmp_path)
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    run = RunFolder(run_folder(tmp_path, applied.stdout.strip()))
    step = run.step("score")
    lines = step.ledger.read_text().splitlines(keepends=True)
    last = json.loads(lines[-1])["mb"]
    step.ledger.write_text("".join(lines[:-1]))  # as if killed before its last commit
    batches = step.minibatches.read_text().splitlines()
    for index, line in enumerate(batches):
        descriptor = json.loads(line)
        if descriptor["id"] == last:  # edited by hand: a file that was never an input
            descriptor.update(files=[str(tmp_path / "private.txt")], n=1)
            batches[index] = json.dumps(descriptor, separators=(",", ":"))
    step.minibatches.write_text("\n".join(batches) + "\n")
    run.update(status=Status.INTERRUPTED)
    step.update(status=Status.INTERRUPTED)
    resumed = cli("resume", run.id, cwd=tmp_path)
    assert resumed.returncode == 2, resumed.stderr
    assert "private.txt" in resumed.stderr and "minibatches.jsonl" in resumed.stderr, resumed.stderr
    assert not any(row.startswith("private.txt") for row in
                   (step.outputs / "out" / "parallel_run_step.txt").read_text().splitlines())
