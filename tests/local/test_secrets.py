"""A location read from a secret variable (a URL with a token in it) never reaches a
message, run.json or `runner status`: the plan keeps it, the views hide it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.local.helpers import make_files, run_folder, write_spec

TOKEN = "sig-0123456789abcdef"


def test_a_secret_dataset_location_is_hidden_in_every_message(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 2)
    # Read over https by the local engine (runner/inputs/remote.py): a closed port on this
    # machine, so the error comes back at once, with the URL in it.
    write_spec(tmp_path, dataset={"kind": "file", "path": "https://127.0.0.1:9/box/?{{ env.SAS_TOKEN }}"})
    env = {**os.environ, "SAS_TOKEN": TOKEN, "PYTHONPATH": str(Path(__file__).parents[2])}

    def runner(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "runner", *args], cwd=tmp_path, capture_output=True,
                              text=True, env=env, timeout=60)

    applied = runner("apply", "spec.yaml")
    assert applied.returncode == 2 and "https://127.0.0.1:9/box/?*** does not exist" in applied.stderr, applied.stderr
    run_id = applied.stdout.strip()
    shown = [applied.stderr, runner("status", run_id).stdout, runner("status", run_id, "--json").stdout,
             runner("plan", "spec.yaml").stdout, runner("plan", "spec.yaml", "--json").stdout]
    folder = run_folder(tmp_path, run_id)
    shown += [(folder / name).read_text() for name in ("run.json", "plan.txt", "plan.json", "score/step.json")]
    for text in shown:
        assert TOKEN not in text
    assert TOKEN in (folder / "job.json").read_text()  # what runs keeps it: mode 0600
    assert (folder / "job.json").stat().st_mode & 0o077 == 0
