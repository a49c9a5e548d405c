"""Regressions for what a newcomer's review found (each test failed before its fix)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd

from runner.local.output.ledger import Ledger
from tests.local.helpers import commit, cli, make_files, output_rows, run_folder, write_spec


def _script(root: Path, name: str, text: str) -> None:
    (root / "code").mkdir(exist_ok=True)
    (root / "code" / name).write_text(text)


def _apply(root: Path, spec: str = "spec.yaml") -> tuple[int, str, str]:
    result = cli("apply", spec, cwd=root, timeout=180)
    return result.returncode, result.stdout.strip(), result.stderr


def test_a_timeout_fires_even_when_mini_batches_name_thousands_of_long_paths(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(6000):
        (data / f"{i:05d}-{'x' * 100}.txt").touch()
    _script(tmp_path, "hang.py", "import time\ndef run(mb):\n    if '00000-' in mb[0]:\n"
                                 "        time.sleep(300)\n    return mb\n")
    write_spec(tmp_path, script="hang.py", mini_batch_size=2000, process_count_per_node=1,
               run_invocation_timeout=3, run_max_try=1)
    started = time.monotonic()
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    assert time.monotonic() - started < 60
    assert len(output_rows(tmp_path, run_id)) == 4000


def test_partition_key_text_is_kept_exactly_and_blank_keys_are_a_partition(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("id,grp,x\n1,01,1\n2,02,2\n3,01,3\n4,,4\n5,1.50,5\n")
    _script(tmp_path, "keys.py", "def run(mb, ctx):\n    return [f\"{ctx.partition_key_value['grp']}|{i}\" "
                                 "for i in mb['id']]\n")
    write_spec(tmp_path, script="keys.py", dataset={"kind": "tabular", "path": "data/"}, mini_batch_size=None,
               partition_keys=["grp"])
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    assert sorted(output_rows(tmp_path, run_id)) == ["01|1", "01|3", "02|2", "1.50|5", "|4"]


def test_unreadable_rows_and_crashed_partitions_count_against_error_threshold(tmp_path):
    (tmp_path / "data").mkdir()
    pd.DataFrame({"id": range(10), "x": range(10)}).to_parquet(tmp_path / "data" / "a.parquet")
    (tmp_path / "data" / "bad.parquet").write_bytes(b"garbage")
    write_spec(tmp_path, script="tabular.py", dataset={"kind": "tabular", "path": "data/"}, run_max_try=1,
               error_threshold=0)
    code, _, err = _apply(tmp_path)
    assert code == 1 and "error_threshold exceeded: 1 item failed" in err


def test_parquet_output_keeps_each_columns_type(tmp_path):
    (tmp_path / "data").mkdir()
    pd.DataFrame({"id": [1, 2], "zip": ["00000", "NA"], "x": [1, 2]}).to_parquet(tmp_path / "data" / "a.parquet")
    _script(tmp_path, "echo.py", "def run(mb):\n    return mb\n")
    write_spec(tmp_path, script="echo.py", dataset={"kind": "tabular", "path": "data/"},
               append_row_format="parquet", append_row_file_name="rows.parquet")
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    out = pd.read_parquet(run_folder(tmp_path, run_id) / "score/outputs/out/rows.parquet")
    assert out["zip"].tolist() == ["00000", "NA"] and out["id"].tolist() == [1, 2]


def test_a_worker_that_dies_is_seen_at_once_though_its_child_holds_the_socket(tmp_path):
    make_files(tmp_path / "data", 4)
    _script(tmp_path, "orphan.py", "import os\ndef run(mb):\n    if any('f0002' in p for p in mb):\n"
                                   "        os.system('sleep 300 &')\n        os._exit(1)\n    return mb\n")
    write_spec(tmp_path, script="orphan.py", mini_batch_size=1, run_max_try=1, run_invocation_timeout=60)
    started = time.monotonic()
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    assert time.monotonic() - started < 30
    [entry] = [json.loads(x) for x in (run_folder(tmp_path, run_id) / "score/failed_items.jsonl").read_text()
               .splitlines()]
    assert "the worker process died (exit code 1)" in entry["error"]


def test_recovery_keeps_only_ledger_lines_whose_rows_are_on_disk(tmp_path):
    ledger_path, output = str(tmp_path / "ledger.jsonl"), str(tmp_path / "rows.txt")
    ledger = Ledger(ledger_path, output, total=3)
    for mb in range(3):
        commit(ledger, {"mb": mb, "status": "ok", "items": 1, "ok": 1, "failed": 0, "tries": 1}, b"row %d\n" % mb)
    ledger.close()
    with open(output, "r+b") as handle:  # a machine crash lost the file's tail
        handle.truncate(8)
    again = Ledger(ledger_path, output, total=3)
    assert [again.done(i) for i in range(3)] == [True, False, False]
    again.close()
    assert Path(output).read_bytes() == b"row 0\n" and b"\0" not in Path(output).read_bytes()


def test_results_count_rows_not_line_breaks(tmp_path):
    make_files(tmp_path / "data", 6)
    _script(tmp_path, "breaks.py", "def run(mb):\n    return ['a\\rb\\u2028c' for _ in mb]\n")
    write_spec(tmp_path, script="breaks.py")
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    assert cli("results", run_id, cwd=tmp_path).stdout.splitlines()[0] == "parallel_run_step.txt has 6 rows"


def test_ambiguous_prefixes_linked_folders_and_resuming_a_failed_run(tmp_path):
    names = make_files(tmp_path / "elsewhere", 3)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "data" / "loop").symlink_to(tmp_path / "data", target_is_directory=True)
    write_spec(tmp_path)
    code, first, err = _apply(tmp_path)
    assert code == 0, err
    assert sorted(r.split(":")[0] for r in output_rows(tmp_path, first)) == names  # linked, and the loop ends
    _apply(tmp_path)
    ambiguous = cli("status", "job-", cwd=tmp_path)
    assert ambiguous.returncode == 2 and "could be any of" in ambiguous.stderr
    write_spec(tmp_path, env={"FAULT": "raise", "FAULT_ON": "f0001.txt"}, run_max_try=1, error_threshold=0)
    code, failed, _ = _apply(tmp_path)
    assert code == 1
    refused = cli("resume", failed, cwd=tmp_path)
    assert refused.returncode == 2 and "failed_items.jsonl" in refused.stderr


def test_an_interrupt_mid_write_does_not_write_ledger_lines_twice(tmp_path):
    ledger = Ledger(str(tmp_path / "ledger.jsonl"), str(tmp_path / "rows.txt"), total=3)
    for mb in range(3):
        commit(ledger, {"mb": mb, "status": "ok", "items": 1, "ok": 1, "failed": 0, "tries": 1}, b"r\n")
    real_write = ledger._ledger.write

    def write_then_interrupt(data):
        real_write(data)
        raise KeyboardInterrupt

    ledger._ledger.write = write_then_interrupt
    try:
        ledger.flush()
    except KeyboardInterrupt:
        pass
    ledger._ledger.write = real_write
    ledger.close()
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert [json.loads(line)["mb"] for line in lines] == [0, 1, 2]


def test_a_threshold_stop_lists_what_never_ran_so_the_manifest_covers_the_rest(tmp_path):
    names = make_files(tmp_path / "data", 60)
    write_spec(tmp_path, env={"FAULT": "raise", "FAULT_ON": "f0007.txt"}, run_max_try=1, error_threshold=0,
               process_count_per_node=1)
    code, first, err = _apply(tmp_path)
    assert code == 1 and "mini-batches never ran" in err
    manifest = run_folder(tmp_path, first) / "score" / "failed_items.jsonl"
    statuses = [json.loads(line)["status"] for line in manifest.read_text().splitlines()]
    assert statuses[0] == "failed" and set(statuses[1:]) == {"not_run"}
    write_spec(tmp_path, name="rest.yaml", dataset={"kind": "file", "path": str(manifest), "manifest": True})
    code, second, err = _apply(tmp_path, "rest.yaml")
    assert code == 0, err
    done = output_rows(tmp_path, first) + output_rows(tmp_path, second)
    assert sorted(r.split(":")[0] for r in done) == names  # every file exactly once across both runs


def test_messages_that_give_the_next_step(tmp_path):
    make_files(tmp_path / "data", 4)
    write_spec(tmp_path, output_action="summary_only")
    code, run_id, err = _apply(tmp_path)
    assert code == 0 and "summary_only" in err and "runner results" not in err
    shown = cli("results", run_id, cwd=tmp_path)
    assert shown.returncode == 2 and "summary_only" in shown.stderr and "outputs" in shown.stderr
    bad_worker = cli("logs", run_id, "--worker", "9", cwd=tmp_path)
    assert bad_worker.returncode == 2 and "workers 0 to 1" in bad_worker.stderr
    bad_step = cli("logs", run_id, "--step", "nope", cwd=tmp_path)
    assert bad_step.returncode == 2 and "no step 'nope'" in bad_step.stderr
    (tmp_path / "code" / "faulty.py").unlink()
    (tmp_path / "data").rename(tmp_path / "gone")
    code, _, err = _apply(tmp_path)
    assert code == 2 and "entry_script" in err and "datasets.d" in err and "does not exist" in err


CRASHER = '''
import os, signal
POISON = set(os.environ["POISON"].split(","))
def run(mini_batch):
    for name in mini_batch:
        if name in POISON:
            try:  # once per name
                os.close(os.open(os.path.join(os.environ["MARKS"], name), os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                continue
            os.kill(os.getpid(), signal.SIGKILL)
    return list(mini_batch)
'''


def test_a_crash_under_a_deep_queue_is_pinned_on_the_mini_batch_that_crashed(tmp_path):
    """Tiny mini-batches run with deep queues, so results can wait unread in the socket
    when a worker dies; a slow driver (stalls in tick) makes that likely. The mini-batch
    that fails must be the one that crashed, never one that had finished."""
    from runner.local.output.ledger_line import read_lines
    from runner.local.protocol import WorkerConfig
    from runner.local.driver.supervisor import Supervisor, Task

    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "crasher.py").write_text(CRASHER)
    (tmp_path / "marks").mkdir()
    total, poison = 6000, [1000 + 250 * k for k in range(16)]
    tasks, offset = [], 0
    with open(tmp_path / "minibatches.jsonl", "wb") as handle:
        for i in range(total):
            line = (json.dumps({"in": 0, "files": [f"x{i}"], "n": 1, "id": i}, separators=(",", ":")) + "\n").encode()
            tasks.append(Task(i, offset, 1))
            offset += len(line)
            handle.write(line)
    ledger = Ledger(str(tmp_path / "ledger.jsonl"), str(tmp_path / "out.txt"), total)

    def config(slot):
        return WorkerConfig(entry_script=str(tmp_path / "code" / "crasher.py"),
                            source_directory=str(tmp_path / "code"), working_dir=str(tmp_path / "code"), arguments=[],
                            logging_level="INFO", inputs=[], kind="file", output_action="append_row",
                            row_format="text", minibatches=str(tmp_path / "minibatches.jsonl"), env={},
                            stdout=str(tmp_path / f"w{slot.index}.out"), stderr=str(tmp_path / f"w{slot.index}.err"),
                            log_file=str(tmp_path / f"w{slot.index}.log"))

    ticks = [0]

    def slow_tick(_supervisor):
        ticks[0] += 1
        if ticks[0] % 20 == 0:
            time.sleep(0.003)  # an fsync, a busy machine

    env = dict(os.environ, POISON=",".join(f"x{p}" for p in poison), MARKS=str(tmp_path / "marks"))
    supervisor = Supervisor(workers=2, per_node=2, tasks=iter(tasks), ledger=ledger, run_max_try=1, timeout=30,
                            thresholds=lambda _ledger: None, worker_config=config, worker_env=env, log=lambda _m: None,
                            interrupted=lambda: False, tick=slow_tick)
    assert supervisor.run().status == "succeeded"
    ledger.close()
    failed = sorted(r.mb for r in read_lines(str(tmp_path / "ledger.jsonl")) if r.status == "failed")
    assert failed == poison
    rows = (tmp_path / "out.txt").read_text().split()
    assert len(rows) == len(set(rows)) == total - len(poison)
