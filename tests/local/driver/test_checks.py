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
