"""Outputs: text (Azure's append_row) has one line per returned element or DataFrame row,
even when a value holds a line break (escaped as `\\n`, `\\r`, `\\u2028`...); Parquet
promotes a column's numbers across mini-batches and refuses, by name, a column of two
kinds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from runner.local.worker.main import _frame_rows, _one_line
from tests.local.helpers import cli, make_files, output_rows, run_folder, write_spec


def test_a_line_break_in_a_list_element_is_escaped() -> None:
    assert _one_line("plain text, 'quoted'\tand a tab") == "plain text, 'quoted'\tand a tab"
    assert _one_line("a\nb\r\nc\rd") == "a\\nb\\r\\nc\\rd"
    assert _one_line("e\u2028f\u2029g\x85h\x0bi\x0cj\x1ck") == "e\\u2028f\\u2029g\\x85h\\x0bi\\x0cj\\x1ck"
    assert _one_line(42) == "42" and _one_line(["x\ny"]) == "['x\\ny']"  # str() first, as before


def test_a_dataframe_value_with_a_line_break_stays_on_its_row() -> None:
    frame = pd.DataFrame({"name": ["one\ntwo", "plain", None, "cr\r\nlf"],
                          "n": [1, 2, 3, 4],
                          "kind": pd.Series(["a\nb", "c", "c", "d"], dtype="category"),
                          "obj": [np.array([[1, 2], [3, 4]]), {"k": 1}, None, "x\u2028y"]})
    rows, header = _frame_rows(frame, "text")
    lines = rows.decode().split("\n")
    assert header is None and lines[-1] == "" and len(lines) - 1 == len(frame)
    assert lines[0] == 'one\\ntwo 1 a\\nb "[[1 2]\\n [3 4]]"'
    assert lines[1] == "plain 2 c \"{'k': 1}\""
    assert lines[2] == " 3 c "  # None stays empty, as to_csv writes it
    assert lines[3] == "cr\\r\\nlf 4 d x\\u2028y"
    assert len(rows.decode().splitlines()) == len(frame)  # no other break either


def test_a_frame_without_line_breaks_is_written_as_before() -> None:
    frame = pd.DataFrame({"path": ["/d/a b.txt", "/d/c.txt"], "score": [0.5, 1.0], "label": ["x", "y"]})
    assert _frame_rows(frame, "text")[0] == frame.to_csv(sep=" ", header=False, index=False).encode()


def test_text_output_has_one_line_per_row_end_to_end(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 6)
    code = tmp_path / "code"
    code.mkdir()
    (code / "multiline.py").write_text(
        "import os\nimport pandas as pd\n\n"
        "def run(mini_batch):\n"
        "    names = [os.path.basename(p) for p in mini_batch]\n"
        "    return pd.DataFrame({'file': names, 'text': [f'first line\\nsecond of {n}' for n in names]})\n")
    write_spec(tmp_path, script="multiline.py", mini_batch_size=2)
    done = cli("apply", "spec.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = output_rows(tmp_path, done.stdout.strip())
    assert sorted(rows) == [f'f{i:04d}.txt "first line\\nsecond of f{i:04d}.txt"' for i in range(6)]


def _typed_script(root: Path) -> None:
    """run() returns a DataFrame whose "value" column is int64 for f0000-f0001, float64
    with a NaN for f0002-f0003, all null for f0004-f0005, text for f0006-f0007."""
    code = root / "code"
    code.mkdir(exist_ok=True)
    (code / "typed.py").write_text(
        "import os\nimport pandas as pd\n\n"
        "def run(mini_batch):\n"
        "    names = sorted(os.path.basename(p) for p in mini_batch)\n"
        "    first = int(names[0][1:5])\n"
        "    values = {0: [1, 2], 2: [0.5, float('nan')], 4: [None, None], 6: ['a', 'b']}[first]\n"
        "    return pd.DataFrame({'file': names, 'value': values[:len(names)]})\n")


def test_parquet_output_promotes_a_column_int_in_one_mini_batch_and_float_in_another(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 6)
    _typed_script(tmp_path)
    write_spec(tmp_path, script="typed.py", mini_batch_size=2, append_row_format="parquet",
               append_row_file_name="rows.parquet")
    done = cli("apply", "spec.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = pd.read_parquet(run_folder(tmp_path, done.stdout.strip()) / "score/outputs/out/rows.parquet")
    out = out.sort_values("file").reset_index(drop=True)
    assert str(out["value"].dtype) == "float64"
    assert out["value"].tolist()[:3] == [1.0, 2.0, 0.5] and out["value"][3:].isna().all()


def test_a_column_of_text_and_numbers_fails_the_step_naming_it_and_both_mini_batches(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 8)
    _typed_script(tmp_path)
    write_spec(tmp_path, script="typed.py", mini_batch_size=2, process_count_per_node=1,
               append_row_format="parquet", append_row_file_name="rows.parquet")
    done = cli("apply", "spec.yaml", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert "column 'value' is double in mini-batch 1 and large_string in mini-batch 3" in done.stderr
    step = run_folder(tmp_path, done.stdout.strip()) / "score"
    assert not (step / "outputs/out/rows.parquet").exists()
    assert (step / "staging/out/rows.parquet.arrows").stat().st_size > 0  # what was committed is kept
    assert len((step / "ledger.jsonl").read_text().splitlines()) == 4
    status = json.loads(cli("status", done.stdout.strip(), "--json", cwd=tmp_path).stdout)
    assert status["status"] == "failed" and "column 'value'" in status["steps"][0]["reason"]
