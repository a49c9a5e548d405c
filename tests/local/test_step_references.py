"""Another step's output, named as an argument or a side input, on the local engine:
the entry script gets the folder (as Azure mounts one), and reuse still works."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from tests.local.helpers import SCRIPTS, cli, make_files, output_rows, run_folder


def two_steps(root: Path, second: dict[str, object]) -> None:
    code = root / "code"
    code.mkdir()
    for script in ("faulty.py", "upstream.py"):
        shutil.copy(SCRIPTS / script, code / script)
    (root / "markers").mkdir()
    make_files(root / "data", 4)
    run = {"source_directory": "code", "mini_batch_size": 2, "process_count_per_node": 1,
           "environment_variables": {"FAULT_MARKERS": str(root / "markers")}}
    spec = {"name": "chain", "datasets": {"d": {"kind": "file", "path": "data/"}}, "steps": [
        {"name": "first", "inputs": ["${{ datasets.d }}"], "output": {"name": "o"}, "allow_reuse": True,
         "parallel_run": {**run, "entry_script": "faulty.py"}},
        {"name": "second", "output": {"name": "p"}, "allow_reuse": True,
         "parallel_run": {**run, "entry_script": "upstream.py"}, **second}]}
    (root / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def test_a_step_output_argument_reaches_the_script_as_its_folder(tmp_path: Path) -> None:
    """It reached the script as the literal text `${{ steps.first.outputs.o }}`."""
    two_steps(tmp_path, {"inputs": ["${{ datasets.d }}"], "arguments": ["--upstream", "${{ steps.first.outputs.o }}"]})
    result = cli("apply", "spec.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    rows = output_rows(tmp_path, run_id, step="second", output="p")
    assert rows == [f"f{i:04d}.txt parallel_run_step.txt" for i in range(4)]
    job = json.loads((run_folder(tmp_path, run_id) / "job.json").read_text())
    upstream = job["steps"][1]["arguments"][1]["value"]
    assert Path(upstream).resolve() == (run_folder(tmp_path, run_id) / "first" / "outputs" / "o").resolve()


def test_a_step_reading_an_earlier_output_as_a_side_input_is_reused(tmp_path: Path) -> None:
    """Its fingerprint held the side input's path, new in every run folder, so it never matched."""
    two_steps(tmp_path, {"inputs": ["${{ datasets.d }}"], "side_inputs": ["${{ steps.first.outputs.o }}"]})
    first = cli("apply", "spec.yaml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = cli("apply", "spec.yaml", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "second: reused the output of run" in again.stderr, again.stderr
    assert output_rows(tmp_path, again.stdout.strip(), step="second", output="p") == \
        output_rows(tmp_path, first.stdout.strip(), step="second", output="p")
