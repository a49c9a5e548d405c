"""`runner retry`: a run's failed and never-run mini-batches run again into the run's own
output, with its code snapshot or (--update-code) the code as fixed; every row once, the
counts and the manifest those of each mini-batch's current line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from runner.local.output.ledger_line import LedgerLine, current_lines
from tests.local.helpers import assert_report_rebuilt, cli, expected_rows, make_files, output_rows, run_folder, write_spec

BROKEN = 'raise ValueError(f"cannot score {name}")'


def _apply(root: Path) -> tuple[int, str, str]:
    result = cli("apply", "spec.yaml", cwd=root)
    return result.returncode, result.stdout.strip(), result.stderr


def _fix_script(root: Path, script: str = "faulty.py") -> None:
    """The entry script as its author fixes it (the run's snapshot keeps the old one)."""
    path = root / "code" / script
    text = path.read_text()
    assert BROKEN in text
    path.write_text(text.replace(BROKEN, "pass"))


def _status(root: Path, run_id: str) -> dict[str, Any]:
    result = cli("status", run_id, "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    info: dict[str, Any] = json.loads(result.stdout)
    return info


def _manifest(root: Path, run_id: str) -> list[dict[str, Any]]:
    text = (run_folder(root, run_id) / "score" / "failed_items.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def _current(root: Path, run_id: str) -> list[LedgerLine]:
    return list(current_lines(str(run_folder(root, run_id) / "score" / "ledger.jsonl")))


def _assert_every_row_once(root: Path, run_id: str, names: list[str], mini_batches: int) -> None:
    rows = output_rows(root, run_id)
    assert len(rows) == len(set(rows)), "a row was written twice"
    assert sorted(rows) == expected_rows(names)
    current = _current(root, run_id)
    assert sorted(r.mb for r in current) == list(range(mini_batches))
    assert all(r.status == "ok" and not r.failed for r in current)


def test_a_fixed_script_retries_the_failed_items_into_the_runs_own_output(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 40)
    write_spec(tmp_path, env={"FAULT": "raise", "FAULT_ON": "f0013.txt"}, run_max_try=1)
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err  # within the thresholds: one mini-batch of five files failed
    assert len(output_rows(tmp_path, run_id)) == 35 and len(_manifest(tmp_path, run_id)) == 1
    # Without the fix, the run's own snapshot fails again: nothing changes but the attempt.
    again = cli("retry", run_id, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "1 failed mini-batch run again" in again.stderr
    assert len(output_rows(tmp_path, run_id)) == 35 and len(_manifest(tmp_path, run_id)) == 1
    assert_report_rebuilt(run_folder(tmp_path, run_id) / "score")  # a retry's line in place of the failure
    _fix_script(tmp_path)
    fixed = cli("retry", run_id, "--update-code", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    assert_report_rebuilt(run_folder(tmp_path, run_id) / "score")
    assert fixed.stdout.strip() == run_id
    _assert_every_row_once(tmp_path, run_id, names, 8)
    assert _manifest(tmp_path, run_id) == []  # the manifest shrinks to what still fails: nothing
    status = _status(tmp_path, run_id)
    assert status["status"] == "succeeded"
    progress = status["steps"][0]["progress"]
    assert progress["mini_batches"]["failed"] == 0 and progress["items"]["failed"] == 0
    assert progress["items"]["succeeded"] == 40
    versions = status["steps"][0]["code_versions"]
    assert [(v["code"], v["attempts"], v["mini_batches"], v["rows"]) for v in versions] == [
        (0, [0, 1], 7, 35), (2, [2], 1, 5)]
    assert (run_folder(tmp_path, run_id) / "score" / "snapshots" / "2" / "faulty.py").read_text().count(BROKEN) == 0
    assert BROKEN in (run_folder(tmp_path, run_id) / "score" / "snapshot" / "faulty.py").read_text()
    text = cli("status", run_id, cwd=tmp_path).stdout
    assert "code" in text and "35 rows" in text and "5 rows" in text, text
    report = (run_folder(tmp_path, run_id) / "score" / "logs" / "sys" / "report" /
              "processed_mini_batches.csv").read_text().splitlines()
    assert len(report) == 9 and all(line.split(",")[1] == "ok" for line in report[1:])
    nothing = cli("retry", run_id, cwd=tmp_path)
    assert nothing.returncode == 0 and "nothing to retry" in nothing.stderr, nothing.stderr


def test_a_run_stopped_by_its_threshold_retries_the_failed_and_the_never_run(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 60)
    write_spec(tmp_path, env={"FAULT": "raise", "FAULT_ON": "f0003.txt", "SLEEP": "0.01"}, run_max_try=1,
               error_threshold=0, process_count_per_node=1)
    code, run_id, err = _apply(tmp_path)
    assert code == 1, err
    assert "never ran" in err and "runner retry" in err
    never = [m for m in _manifest(tmp_path, run_id) if m["status"] == "not_run"]
    assert never, "the threshold stopped the step before its end"
    assert_report_rebuilt(run_folder(tmp_path, run_id) / "score")
    refused = cli("resume", run_id, cwd=tmp_path)
    assert refused.returncode == 2 and "runner retry" in refused.stderr
    _fix_script(tmp_path)
    retried = cli("retry", run_id, "--update-code", cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert f"{len(never)} never ran" in retried.stderr
    _assert_every_row_once(tmp_path, run_id, names, 12)
    assert _status(tmp_path, run_id)["status"] == "succeeded" and _manifest(tmp_path, run_id) == []
    assert_report_rebuilt(run_folder(tmp_path, run_id) / "score")


def test_a_transient_failure_is_retried_with_the_runs_own_code(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 40)
    # FAULT_ONCE: f0022.txt fails the first time only, as a flaky service would.
    write_spec(tmp_path, env={"FAULT": "raise", "FAULT_ON": "f0022.txt", "FAULT_ONCE": "1"}, run_max_try=1)
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    assert _status(tmp_path, run_id)["steps"][0]["progress"]["items"]["failed"] == 5
    # Code edited since: a retry without --update-code runs the run's snapshot, not this.
    script = tmp_path / "code" / "faulty.py"
    script.write_text(script.read_text() + "\n\ndef run(mini_batch):\n    raise RuntimeError('edited since')\n")
    retried = cli("retry", run_id, cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    _assert_every_row_once(tmp_path, run_id, names, 8)
    status = _status(tmp_path, run_id)
    items = status["steps"][0]["progress"]["items"]
    assert (items["total"], items["succeeded"], items["failed"]) == (40, 40, 0)
    assert [v["code"] for v in status["steps"][0]["code_versions"]] == [0]
    assert not (run_folder(tmp_path, run_id) / "score" / "snapshots").exists()


def test_set_changes_how_items_run_and_is_recorded_and_what_they_are_is_refused(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 20)
    write_spec(tmp_path, env={"FAULT": "raise", "FAULT_ON": "f0007.txt"}, run_max_try=1)
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    for flag, message in [("entry_script=other.py", "a retry cannot change 'entry_script'"),
                          ("steps[0].inputs[0]=x", "a retry cannot change"),
                          ("mini_batch_size=2", "mini-batches were fixed when it was planned"),
                          ("run_invocation_timeout=0", "greater than 0"),
                          ("steps[3].run_max_try=2", "no step '3'")]:
        refused = cli("retry", run_id, "--set", flag, cwd=tmp_path)
        assert refused.returncode == 2, (flag, refused.stderr)
        assert message in refused.stderr, (flag, refused.stderr)
        assert "Traceback" not in refused.stderr
    assert json.loads((run_folder(tmp_path, run_id) / "score" / "step.json").read_text())["retried"] == []
    retried = cli("retry", run_id, "--set", "environment_variables.FAULT_ON=none.txt",
                  "--set", "steps[0].parallel_run.run_invocation_timeout=45", "--set", "run_max_try=2", cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    _assert_every_row_once(tmp_path, run_id, names, 4)
    job = json.loads((run_folder(tmp_path, run_id) / "job.json").read_text())["steps"][0]
    assert job["run_invocation_timeout"] == 45 and job["run_max_try"] == 2
    assert job["environment_variables"]["FAULT_ON"] == "none.txt"
    [retry] = json.loads((run_folder(tmp_path, run_id) / "score" / "step.json").read_text())["retried"]
    assert retry["changes"] == {"environment_variables.FAULT_ON": "none.txt", "run_invocation_timeout": 45,
                                "run_max_try": 2}


def test_a_successful_run_has_nothing_to_retry(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 10)
    write_spec(tmp_path)
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    result = cli("retry", run_id, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "nothing to retry" in result.stderr and result.stdout.strip() == run_id
    assert json.loads((run_folder(tmp_path, run_id) / "score" / "step.json").read_text())["retried"] == []


TABLE_SCRIPT = '''
import pandas as pd


def run(mini_batch):
    name = "ids 300 to 399"
    if (mini_batch["id"] // 100 == 3).any():
        raise ValueError(f"cannot score {name}")
    return pd.DataFrame({"id": mini_batch["id"], "double": mini_batch["x"] * 2})
'''


@pytest.mark.parametrize("row_format", ["csv", "parquet"])
def test_a_table_is_retried_into_its_own_output(tmp_path: Path, row_format: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"id": range(1000), "x": range(1000)}).to_csv(data / "rows.csv", index=False)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "table.py").write_text(TABLE_SCRIPT)
    file = f"scores.{row_format}"
    write_spec(tmp_path, script="table.py", dataset={"kind": "tabular", "path": "data/rows.csv"},
               mini_batch_size="2KB", run_max_try=1, append_row_format=row_format, append_row_file_name=file)
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    output = run_folder(tmp_path, run_id) / "score" / "outputs" / "out" / file
    read = pd.read_csv if row_format == "csv" else pd.read_parquet
    first = read(output)
    assert 0 < len(first) < 1000 and not (first["id"] // 100 == 3).any()
    _fix_script(tmp_path, "table.py")
    retried = cli("retry", run_id, "--update-code", cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    frame = read(output)
    assert sorted(frame["id"]) == list(range(1000))  # every row once, the header once
    assert (frame["double"] == frame["id"] * 2).all()
    assert _manifest(tmp_path, run_id) == []
    assert _status(tmp_path, run_id)["steps"][0]["progress"]["items"]["failed"] == 0


def test_a_retry_does_not_change_a_later_runs_reused_output(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 20)
    write_spec(tmp_path, env={"FAULT": "raise", "FAULT_ON": "f0007.txt"}, run_max_try=1, step={"allow_reuse": True})
    code, first, err = _apply(tmp_path)
    assert code == 0, err
    code, second, err = _apply(tmp_path)
    assert code == 0 and "reused the output of run" in err, err
    reused = output_rows(tmp_path, second)
    assert len(reused) == 15
    _fix_script(tmp_path)
    retried = cli("retry", first, "--update-code", cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert sorted(output_rows(tmp_path, first)) == expected_rows(names)
    assert output_rows(tmp_path, second) == reused  # the reusing run's output is its own, unchanged
    nothing = cli("retry", second, cwd=tmp_path)
    assert nothing.returncode == 0 and "nothing to retry" in nothing.stderr, nothing.stderr


def test_a_retry_is_refused_while_the_run_is_running(tmp_path: Path) -> None:
    from tests.faults.test_crashes import start, wait_for

    make_files(tmp_path / "data", 200)
    write_spec(tmp_path, mini_batch_size=2, env={"SLEEP": "0.05"}, process_count_per_node=1)
    proc = start(tmp_path)
    try:
        assert wait_for(tmp_path, 1, proc), "the run ended before the retry"
        refused = cli("retry", "latest", cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr
        assert "still running" in refused.stderr or "another driver" in refused.stderr
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    assert os.path.exists(tmp_path / ".runner")


def test_set_reads_paths_and_values_as_apply_set_does(tmp_path: Path) -> None:
    # YAML 1.2, as `apply --set`: 010 is ten (YAML 1.1 read it as octal 8), `on` is text.
    make_files(tmp_path / "data", 20)
    write_spec(tmp_path, env={"FAULT": "raise", "FAULT_ON": "f0007.txt"}, run_max_try=1)
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    retried = cli("retry", run_id, "--set", "steps[0].parallel_run.run_max_try=010",
                  "--set", "steps.score.environment_variables.FLAG=on", cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    job = json.loads((run_folder(tmp_path, run_id) / "job.json").read_text())["steps"][0]
    assert job["run_max_try"] == 10 and job["environment_variables"]["FLAG"] == "on"


def test_a_malformed_set_is_refused_with_apply_sets_own_message() -> None:
    from runner.local.retry import parse_changes
    from runner.spec.diagnostics import SpecError

    for assignment in ("run_max_try", "steps[0]..run_max_try=2", "[0].run_max_try=2"):
        with pytest.raises(SpecError, match="expected PATH=VALUE"):
            parse_changes([], [assignment], [])


def test_set_param_changes_the_fields_its_parameter_is_bound_to(tmp_path: Path) -> None:
    import yaml

    names = make_files(tmp_path / "data", 20)
    path = write_spec(tmp_path, env={"FAULT": "raise", "FAULT_ON": "f0007.txt"}, run_max_try=1)
    spec = yaml.safe_load(path.read_text())
    spec["parameters"] = {"timeout": 30, "size": 5}
    spec["steps"][0]["parallel_run"].update(run_invocation_timeout="${{ parameters.timeout }}",
                                            mini_batch_size="${{ parameters.size }}")
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    for flag, message in [("size=2", "a retry cannot change 'mini_batch_size'"),
                          ("nope=1", "bound to a parameter 'nope'"), ("timeout=-5", "greater than 0")]:
        refused = cli("retry", run_id, "--set-param", flag, cwd=tmp_path)
        assert refused.returncode == 2 and message in refused.stderr, (flag, refused.stderr)
    _fix_script(tmp_path)
    retried = cli("retry", run_id, "--update-code", "--set-param", "timeout=90", cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    _assert_every_row_once(tmp_path, run_id, names, 4)
    assert json.loads((run_folder(tmp_path, run_id) / "job.json").read_text())["steps"][0][
        "run_invocation_timeout"] == 90


def _two_steps(root: Path, **first_run: Any) -> None:
    import yaml

    from tests.local.test_step_references import two_steps

    two_steps(root, {"inputs": ["${{ steps.first.outputs.o }}"]})
    spec = yaml.safe_load((root / "spec.yaml").read_text())
    run = spec["steps"][0]["parallel_run"]
    run["environment_variables"].update(FAULT="raise", FAULT_ON="f0001.txt")
    run.update(run_max_try=1, **first_run)
    (root / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def test_a_later_step_that_never_ran_runs_once_the_retried_step_succeeds(tmp_path: Path) -> None:
    _two_steps(tmp_path, error_threshold=0)
    code, run_id, err = _apply(tmp_path)
    assert code == 1, err
    assert json.loads((run_folder(tmp_path, run_id) / "second" / "step.json").read_text()
                      if (run_folder(tmp_path, run_id) / "second" / "step.json").exists()
                      else '{"status": "pending"}')["status"] == "pending"
    _fix_script(tmp_path)
    retried = cli("retry", run_id, "--update-code", cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert sorted(output_rows(tmp_path, run_id, step="first", output="o")) == expected_rows(
        [f"f{i:04d}.txt" for i in range(4)])
    [row] = output_rows(tmp_path, run_id, step="second", output="p")  # it ran, on the whole output
    assert row.startswith("parallel_run_step.txt")
    assert _status(tmp_path, run_id)["status"] == "succeeded"


def test_a_step_whose_output_a_later_step_already_read_is_not_retried(tmp_path: Path) -> None:
    _two_steps(tmp_path)
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err  # one mini-batch of the first step failed, within its thresholds
    _fix_script(tmp_path)
    refused = cli("retry", run_id, "--update-code", cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "step 'second'" in refused.stderr and "already read the output of step 'first'" in refused.stderr
    assert len(output_rows(tmp_path, run_id, step="first", output="o")) == 2
    assert json.loads((run_folder(tmp_path, run_id) / "first" / "step.json").read_text())["retried"] == []


def test_a_run_that_failed_its_preflight_runs_whole_with_the_fixed_code(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 10)
    write_spec(tmp_path)
    script = tmp_path / "code" / "faulty.py"
    good = script.read_text()
    script.write_text(good + "\ndef broken(:\n")
    code, run_id, err = _apply(tmp_path)
    assert code == 2 and "syntax error" in err and f"runner retry {run_id} --update-code" in err, err
    script.write_text(good)
    same = cli("retry", run_id, cwd=tmp_path)  # the run's snapshot still has the syntax error
    assert same.returncode == 2 and "syntax error" in same.stderr, same.stderr
    fixed = cli("retry", run_id, "--update-code", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    _assert_every_row_once(tmp_path, run_id, names, 2)


def test_mini_batches_that_returned_fewer_results_are_left_as_they_are_and_said(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 10)
    write_spec(tmp_path, env={"FAULT": "short", "FAULT_ON": "f0003.txt"})
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    before = output_rows(tmp_path, run_id)
    assert len(before) == 9 and len(_manifest(tmp_path, run_id)) == 1
    result = cli("retry", run_id, "--update-code", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "nothing to retry" in result.stderr and "1 mini-batch committed rows with some items missing" in \
        result.stderr
    assert output_rows(tmp_path, run_id) == before and len(_manifest(tmp_path, run_id)) == 1


def test_output_made_by_two_code_versions_is_never_reused_nor_said_to_be(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 20)
    write_spec(tmp_path, env={"FAULT": "raise", "FAULT_ON": "f0007.txt"}, run_max_try=1, step={"allow_reuse": True})
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    script = tmp_path / "code" / "faulty.py"
    broken = script.read_text()
    _fix_script(tmp_path)
    assert cli("retry", run_id, "--update-code", cwd=tmp_path).returncode == 0
    script.write_text(broken)  # the code of the run's first attempt again
    plan = cli("plan", "spec.yaml", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert f"would reuse run {run_id}" not in plan.stdout, plan.stdout
    code, again, err = _apply(tmp_path)
    assert code == 0 and again != run_id and "reused the output" not in err, err


def test_a_table_changed_since_the_run_is_refused_before_the_retry_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"id": range(1000), "x": range(1000)}).to_csv(data / "rows.csv", index=False)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "table.py").write_text(TABLE_SCRIPT)
    write_spec(tmp_path, script="table.py", dataset={"kind": "tabular", "path": "data/rows.csv"},
               mini_batch_size="2KB", run_max_try=1)
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    before = output_rows(tmp_path, run_id)
    with open(data / "rows.csv", "a") as handle:
        handle.write("1000,1000\n")
    _fix_script(tmp_path, "table.py")
    refused = cli("retry", run_id, "--update-code", cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "input files changed" in refused.stderr and "`runner retry --accept-changed-inputs`" in refused.stderr
    assert output_rows(tmp_path, run_id) == before
    assert json.loads((run_folder(tmp_path, run_id) / "score" / "step.json").read_text())["retried"] == []
