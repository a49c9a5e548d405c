"""Pre-flight checks (runner/local/driver/checks.py): what cannot run is refused before
any mini-batch runs, exit 2, naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.local.helpers import cli, write_spec


@pytest.mark.parametrize("name", ["rows.csv", "rows.jsonl", "rows.parquet"])
def test_an_empty_table_is_refused_before_anything_runs(tmp_path: Path, name: str) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / name).write_bytes(b"")
    write_spec(tmp_path, script="tabular.py", dataset={"kind": "tabular", "path": f"data/{name}"})
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 2, applied.stderr
    assert f"data/{name} is empty" in applied.stderr, applied.stderr
    assert "mini-batch" not in applied.stderr


@pytest.mark.parametrize("where", ["init", "import"])
def test_a_huge_start_up_error_is_cut_where_it_is_shown_and_whole_in_the_log(tmp_path: Path, where: str) -> None:
    from tests.local.helpers import make_files, run_folder

    make_files(tmp_path / "data", 3)
    write_spec(tmp_path, script="big.py", process_count_per_node=1, run_max_try=1)
    raising = 'raise ValueError("x" * 5_000_000 + "END")\n'
    body = f"def init():\n    {raising}" if where == "init" else raising
    (tmp_path / "code" / "big.py").write_text(body + "\ndef run(mb):\n    return []\n")
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode in (1, 2), applied.stderr[-2000:]
    assert len(applied.stderr) < 20_000 and "characters cut" in applied.stderr, applied.stderr[-2000:]
    assert "ValueError: xxx" in applied.stderr and "xEND" in applied.stderr  # the head and the tail stay
    folder = run_folder(tmp_path, applied.stdout.strip())
    assert (folder / "run.json").stat().st_size < 40_000
    assert "x" * 5_000_000 + "END" in (folder / "score" / "logs" / "sys" / "driver.log").read_text()
    status = cli("status", applied.stdout.strip(), cwd=tmp_path)
    assert len(status.stdout) < 20_000
