"""A refused `runner retry` changes nothing in the run, and a retry never writes a
secret where it can be read (step.json is 0644, `status --json` prints its changes)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.local.helpers import cli, make_files, run_folder, write_spec


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _failed_run(root: Path) -> str:
    make_files(root / "data", 20)
    write_spec(root, env={"FAULT": "raise", "FAULT_ON": "f0007.txt"}, run_max_try=1)
    applied = cli("apply", "spec.yaml", cwd=root)
    assert applied.returncode == 0, applied.stderr
    return applied.stdout.strip()


def test_a_refused_update_code_changes_nothing_and_gc_keeps_the_run(tmp_path: Path) -> None:
    run_id = _failed_run(tmp_path)
    folder = run_folder(tmp_path, run_id)
    before = _files(folder)
    script = tmp_path / "code" / "faulty.py"
    good = script.read_text()
    script.write_text(good + "\ndef broken(:\n")
    typo = cli("retry", run_id, "--update-code", cwd=tmp_path)
    assert typo.returncode == 2 and "syntax error" in typo.stderr, typo.stderr
    assert "--update-code`" not in typo.stderr, "it suggests the flag just used"
    assert "Traceback" not in typo.stderr
    script.unlink()
    missing = cli("retry", run_id, "--update-code", cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr, missing.stderr
    script.write_text(good)
    (tmp_path / "data").rename(tmp_path / "gone")
    no_data = cli("retry", run_id, cwd=tmp_path)
    assert no_data.returncode == 2 and "data does not exist" in no_data.stderr, no_data.stderr
    (tmp_path / "gone").rename(tmp_path / "data")
    (tmp_path / "code" / ".amlignore").write_text("faulty.py\n")
    ignored = cli("retry", run_id, "--update-code", cwd=tmp_path)
    assert ignored.returncode == 2 and "left out of the code snapshot" in ignored.stderr, ignored.stderr
    (tmp_path / "code" / ".amlignore").unlink()
    assert _files(folder) == before
    status = json.loads(cli("status", run_id, "--json", cwd=tmp_path).stdout)
    assert status["status"] == "succeeded" and status["steps"][0]["retried"] == []
    cli("gc", cwd=tmp_path)
    assert folder.is_dir(), "gc removed a run with committed rows"
    script.write_text(good.replace('raise ValueError(f"cannot score {name}")', "pass"))
    fixed = cli("retry", run_id, "--update-code", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr


def test_a_secret_given_to_retry_is_refused_and_never_recorded(tmp_path: Path) -> None:
    run_id = _failed_run(tmp_path)
    folder = run_folder(tmp_path, run_id)
    before = _files(folder)
    for flag, value in [("--set", "environment_variables.API_TOKEN=s3cr3t-value"),
                        ("--set", "environment_variables.DB=postgres://me:hunter22@db/x"),
                        ("--set", "steps[0].parallel_run.environment_variables.API_TOKEN=s3cr3t-value")]:
        refused = cli("retry", run_id, flag, value, cwd=tmp_path)
        secret = value.split("=", 1)[1]
        assert refused.returncode == 2, refused.stderr
        assert "{{ env.NAME }}" in refused.stderr and secret not in refused.stderr, refused.stderr
    assert _files(folder) == before


def test_a_secret_read_from_the_environment_reaches_the_workers_but_no_readable_file(tmp_path: Path) -> None:
    run_id = _failed_run(tmp_path)
    folder = run_folder(tmp_path, run_id)
    retried = cli("retry", run_id, "--set", "environment_variables.API_TOKEN={{ env.MY_TOKEN }}",
                  "--set", "environment_variables.FAULT_ON=none.txt", cwd=tmp_path, env={"MY_TOKEN": "s3cr3t-value"})
    assert retried.returncode == 0, retried.stderr
    job = json.loads((folder / "job.json").read_text())["steps"][0]
    assert job["environment_variables"]["API_TOKEN"] == "s3cr3t-value"  # job.json: 0600, the real values
    assert "s3cr3t-value" not in (folder / "score" / "step.json").read_text()
    status = cli("status", run_id, "--json", cwd=tmp_path)
    assert "s3cr3t-value" not in status.stdout and "s3cr3t-value" not in retried.stderr
    [retry] = json.loads(status.stdout)["steps"][0]["retried"]
    assert retry["changes"]["environment_variables.API_TOKEN"] == "***"
    unset = cli("retry", run_id, "--set", "environment_variables.API_TOKEN={{ env.NOT_SET_ANYWHERE }}",
                cwd=tmp_path)
    assert unset.returncode == 2 and "NOT_SET_ANYWHERE" in unset.stderr, unset.stderr
