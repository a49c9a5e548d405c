"""Real runs on the inputs users really have (issue 12): every row of every table once,
whatever its line ends, blank lines or quoting; inputs changed under a run or between a
kill and `runner resume`; files that are not regular; names that are not UTF-8."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.local.helpers import cli, output_rows, run_folder, write_spec


def _ids(root: Path, run_id: str) -> list[int]:
    return [int(row.split()[0]) for row in output_rows(root, run_id)]


def _apply(root: Path, path: str = "data/", **kwargs: object) -> tuple[int, str, str]:
    write_spec(root, script="rows.py", dataset={"kind": "tabular", "path": path}, **kwargs)
    result = cli("apply", "spec.yaml", cwd=root)
    return result.returncode, result.stdout.strip(), result.stderr


def _failed_items(root: Path, run_id: str) -> list[dict[str, object]]:
    path = run_folder(root, run_id) / "score" / "failed_items.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_cr_only_line_ends_give_each_row_once(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    body = "\r".join(["id,text"] + [f"{i},row {i}" for i in range(5000)]) + "\r"
    (tmp_path / "data" / "mac.csv").write_bytes(body.encode())
    code, run_id, err = _apply(tmp_path, mini_batch_size="16KB")
    assert code == 0, err
    assert sorted(_ids(tmp_path, run_id)) == list(range(5000))
    assert json.loads((run_folder(tmp_path, run_id) / "score" / "step.json").read_text())["mini_batches"] > 3
    status = json.loads(cli("status", run_id, "--json", cwd=tmp_path).stdout)
    assert status["steps"][0]["progress"]["items"]["total"] == 5000  # rows counted at planning


def test_a_blank_first_line_is_not_a_header_for_each_range(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    body = "\n\nid,text\n" + "".join(f"{i},row {i}\n" for i in range(300))
    (tmp_path / "data" / "blank.csv").write_text(body)
    code, run_id, err = _apply(tmp_path, mini_batch_size="1KB")
    assert code == 0, err
    assert sorted(_ids(tmp_path, run_id)) == list(range(300))


def test_quoted_fields_holding_newlines_are_never_split_or_invented(tmp_path: Path) -> None:
    import pandas as pd

    (tmp_path / "data").mkdir()
    texts = [f"line one of {i}\nline two, with \"quotes\"" if i % 50 == 0 else f"plain {i}" for i in range(20000)]
    pd.DataFrame({"id": range(20000), "text": texts}).to_csv(tmp_path / "data" / "notes.csv", index=False)
    code, run_id, err = _apply(tmp_path, mini_batch_size="64KB")
    assert code == 0, err
    rows = output_rows(tmp_path, run_id)
    assert sorted(_ids(tmp_path, run_id)) == list(range(20000))
    lengths = {int(r.split()[0]): int(r.split()[1]) for r in rows}
    assert all(lengths[i] == len(t) for i, t in enumerate(texts))
    assert not _failed_items(tmp_path, run_id)


def test_a_json_file_holding_an_array_is_read_as_json(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    records = [{"id": i, "text": f"r{i}"} for i in range(50)]
    (tmp_path / "data" / "array.json").write_text(json.dumps(records, indent=2))
    (tmp_path / "data" / "lines.json").write_text("".join(json.dumps({"id": 50 + i}) + "\n" for i in range(50)))
    code, run_id, err = _apply(tmp_path, mini_batch_size=100)
    assert code == 0, err
    assert sorted(_ids(tmp_path, run_id)) == list(range(100))


def _start(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "runner", *args], cwd=root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})


def _kill_after_commits(root: Path, count: int) -> str:
    proc = _start(root, "apply", "spec.yaml")
    deadline = time.monotonic() + 60
    ledger = None
    while time.monotonic() < deadline and ledger is None:
        for path in (root / ".runner" / "runs").glob("*/score/ledger.jsonl"):
            if len(path.read_bytes().splitlines()) >= count:
                ledger = path
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    assert ledger is not None, "the run made no progress"
    return ledger.parents[1].name


def _table(root: Path, rows: range, header: str = "id,text\n") -> Path:
    (root / "data").mkdir(exist_ok=True)
    path = root / "data" / "t.csv"
    path.write_text(header + "".join(f"{i},row {i}\n" for i in rows))
    return path


def test_a_table_changed_between_kill_and_resume_is_refused_then_failed_by_name(tmp_path: Path) -> None:
    table = _table(tmp_path, range(3000))
    write_spec(tmp_path, script="rows.py", dataset={"kind": "tabular", "path": "data/"}, mini_batch_size="2KB",
               process_count_per_node=1, env={"SLEEP": "0.05"})
    run_id = _kill_after_commits(tmp_path, 3)
    before = set(_ids(tmp_path, run_id))
    _table(tmp_path, range(-10, 3000))  # ten rows inserted at the top
    refused = cli("resume", run_id, cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "1 input files changed" in refused.stderr and str(table) in refused.stderr
    assert "Traceback" not in refused.stderr
    assert set(_ids(tmp_path, run_id)) == before  # nothing ran
    accepted = cli("resume", run_id, "--accept-changed-inputs", cwd=tmp_path)
    assert "Traceback" not in accepted.stderr and "going on; the unfinished mini-batches of 1 changed" in accepted.stderr
    ids = _ids(tmp_path, run_id)
    assert len(ids) == len(set(ids)) and set(ids) == before  # no duplicate, nothing from the new version
    failed = _failed_items(tmp_path, run_id)
    assert failed and all("input changed since the run was planned" in str(f["error"]) for f in failed)


def test_a_file_list_changed_between_kill_and_resume_runs_the_files_as_they_are(tmp_path: Path) -> None:
    """A changed file in a list cannot duplicate or lose a row: resume goes on, and the
    file is read as it is when its mini-batch runs (as Azure reads a file dataset)."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(60):
        (data / f"f{i:04d}.txt").write_text(f"{i}\n")
    write_spec(tmp_path, mini_batch_size=2, process_count_per_node=1, env={"SLEEP": "0.05"})
    run_id = _kill_after_commits(tmp_path, 2)
    (data / "f0059.txt").write_text("590\n")
    resumed = cli("resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    rows = output_rows(tmp_path, run_id)
    assert len(rows) == 60 and len(set(rows)) == 60 and "f0059.txt: 590" in rows


def test_a_table_changed_during_the_run_fails_its_ranges_by_name(tmp_path: Path) -> None:
    table = _table(tmp_path, range(2000))
    write_spec(tmp_path, script="rows.py", dataset={"kind": "tabular", "path": "data/"}, mini_batch_size="2KB",
               process_count_per_node=1, env={"SLEEP": "0.05"}, error_threshold=-1)
    proc = _start(tmp_path, "apply", "spec.yaml")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((tmp_path / ".runner").glob("runs/*/score/ledger.jsonl")):
        time.sleep(0.02)
    with table.open("a") as handle:
        handle.write("9999,appended\n")
    _out, err = proc.communicate(timeout=120)
    run_id = next((tmp_path / ".runner" / "runs").iterdir()).name
    ids = _ids(tmp_path, run_id)
    assert len(ids) == len(set(ids)) and 9999 not in ids and len(ids) < 2000
    failed = _failed_items(tmp_path, run_id)
    assert failed and all("input changed since the run was planned" in str(f["error"]) for f in failed), err


def test_devices_fifos_and_links_to_them_are_skipped_with_a_warning(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(4):
        (data / f"f{i:04d}.txt").write_text(f"{i}\n")
    os.symlink("/dev/zero", data / "zero.txt")
    os.mkfifo(data / "pipe.txt")
    write_spec(tmp_path, mini_batch_size=2)
    result = cli("apply", "spec.yaml", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "skipped 2 inputs that are not regular files" in result.stderr
    assert "pipe.txt" in result.stderr and "zero.txt" in result.stderr
    assert len(output_rows(tmp_path, result.stdout.strip())) == 4


def test_names_that_are_not_utf8_flow_through_to_output_and_reports(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    raw = os.fsencode(str(data)) + b"/caf\xe9-f0001.txt"  # Latin-1 bytes: not UTF-8
    with open(raw, "wb") as handle:
        handle.write(b"1\n")
    (data / "f0002.txt").write_text("2\n")
    write_spec(tmp_path, mini_batch_size=1, env={"FAULT": "raise", "FAULT_ON": "f0002.txt"}, error_threshold=-1)
    result = cli("apply", "spec.yaml", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    run_id = result.stdout.strip()
    out = run_folder(tmp_path, run_id) / "score" / "outputs" / "out" / "parallel_run_step.txt"
    assert b"caf\xe9-f0001.txt" in out.read_bytes()  # the name's own bytes
    assert len(_failed_items(tmp_path, run_id)) == 1
    shown = cli("results", run_id, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr


def test_tables_with_names_that_are_not_utf8_are_read(tmp_path: Path) -> None:
    import pandas as pd

    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"id": range(10), "text": ["a"] * 10}).to_parquet(data / "tmp.parquet")
    os.rename(data / "tmp.parquet", os.fsencode(str(data)) + b"/caf\xe9.parquet")
    with open(os.fsencode(str(data)) + b"/caf\xe9.csv", "wb") as handle:
        handle.write(b"id,text\n10,b\n11,c\n")
    code, run_id, err = _apply(tmp_path)
    assert code == 0, err
    assert sorted(_ids(tmp_path, run_id)) == list(range(12)) and not _failed_items(tmp_path, run_id)


def test_compressed_tables_are_read_whole_and_json_with_a_bom(tmp_path: Path) -> None:
    import gzip

    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv.gz").write_bytes(gzip.compress(b"id,text\n" + b"".join(b"%d,r\n" % i for i in range(300))))
    (data / "b.jsonl.gz").write_bytes(gzip.compress(b"".join(b'{"id": %d}\n' % i for i in range(300, 400))))
    (data / "c.jsonl").write_bytes(b"\xef\xbb\xbf" + b"".join(b'{"id": %d}\n' % i for i in range(400, 500)))
    (data / "d.json").write_bytes(b"\xef\xbb\xbf" + json.dumps([{"id": i} for i in range(500, 550)]).encode())
    code, run_id, err = _apply(tmp_path, mini_batch_size="1KB")
    assert code == 0, err
    assert sorted(_ids(tmp_path, run_id)) == list(range(550)) and not _failed_items(tmp_path, run_id)


def test_a_tab_separated_line_of_tabs_is_a_row_and_a_failed_range_counts_its_rows(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rows = [f"{i}\tx{i}" for i in range(300)]
    rows[100:100] = ["\t", "  ", ""]  # a row of empty fields, then two blank lines
    rows[200:200] = ["250\tbad\textra"]  # longer than the header: its range fails
    (data / "t.tsv").write_text("id\ttext\n" + "\n".join(rows) + "\n")
    write_spec(tmp_path, script="rows.py", dataset={"kind": "tabular", "path": "data/", "delimiter": "\t"},
               mini_batch_size="1KB", error_threshold=-1)
    result = cli("apply", "spec.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    [failed] = _failed_items(tmp_path, run_id)
    assert "cannot read" in str(failed["error"]) and "t.tsv, bytes" in str(failed["error"])
    assert "Traceback" not in str(failed["error"])
    lost = failed["failed_items"]
    ids = _ids_or_blank(tmp_path, run_id)
    assert lost > 1 and len(ids) + lost == 302  # 300 rows, the row of tabs and the long row
    status = json.loads(cli("status", run_id, "--json", cwd=tmp_path).stdout)
    assert status["steps"][0]["progress"]["items"]["failed"] == lost


def _ids_or_blank(root: Path, run_id: str) -> list[str]:
    return [row.split()[0] if row.split() else "" for row in output_rows(root, run_id)]
