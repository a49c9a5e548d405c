"""One code snapshot for every target: the copy the local engine runs and the copy an
Azure step uploads are made by the same function, so they hold the same files and the
same digest, which is the digest `runner plan` computes without copying."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from runner.errors import ExitCode
from runner.inputs.snapshot import ListingBudget, SnapshotTooLarge, code_digest, copy_code, list_code


def _project(root: Path) -> Path:
    code = root / "code"
    (code / "pkg").mkdir(parents=True)
    (code / "score.py").write_text("def init(): pass\ndef run(b): return b\n")
    (code / "pkg" / "util.py").write_text("X = 1\n")
    (code / "tool.sh").write_text("#!/bin/sh\n")
    os.chmod(code / "tool.sh", 0o755)
    (code / ".amlignore").write_text("*.log\n")
    (code / "debug.log").write_text("left out\n")
    return code


def test_the_copy_holds_the_listing_and_its_digest_is_the_plans(tmp_path: Path) -> None:
    code = _project(tmp_path)
    copied = copy_code(list_code(str(code)), tmp_path / "copy")
    held = sorted(p.relative_to(copied.folder).as_posix() for p in copied.folder.rglob("*") if p.is_file())
    assert held == [".amlignore", "pkg/util.py", "score.py", "tool.sh"]
    assert os.access(copied.folder / "tool.sh", os.X_OK)
    assert copied.files == 4 and copied.size == sum(f.size for f in list_code(str(code)).files)
    assert copied.digest == code_digest(str(code), ())[0]
    (code / "score.py").write_text("changed\n")
    assert code_digest(str(code), ())[0] != copied.digest


def test_local_and_azure_copies_are_the_same(tmp_path: Path) -> None:
    from runner.azureml.code import copy_listing
    from runner.local.driver.snapshot import take_version

    code = _project(tmp_path)
    listing = list_code(str(code))
    copy_listing(listing, tmp_path / "azure")

    from runner.plan.plan import StepPlan
    from runner.runs.folder import StepFolder

    job = StepPlan.__new__(StepPlan)
    object.__setattr__(job, "source_directory", str(code))
    folder = StepFolder(tmp_path / "step")
    digest, files, _ = take_version(job, folder, (), 0)
    assert "code snapshot of" in folder.driver_log.read_text()
    local = sorted(p.relative_to(tmp_path / "step" / "snapshot").as_posix()
                   for p in (tmp_path / "step" / "snapshot").rglob("*") if p.is_file())
    azure = sorted(p.relative_to(tmp_path / "azure").as_posix() for p in (tmp_path / "azure").rglob("*") if p.is_file())
    assert local == azure and files == len(local)
    assert digest == code_digest(str(code), ())[0]


def test_a_file_gone_since_listed_is_not_copied_or_counted(tmp_path: Path) -> None:
    code = _project(tmp_path)
    listing = list_code(str(code))
    (code / "pkg" / "util.py").unlink()
    copied = copy_code(listing, tmp_path / "copy")
    assert copied.files == 3 and not (copied.folder / "pkg" / "util.py").exists()
    assert copied.digest == code_digest(str(code), ())[0]


def test_a_copy_cut_short_is_replaced(tmp_path: Path) -> None:
    code = _project(tmp_path)
    (tmp_path / "copy.tmp").mkdir()
    (tmp_path / "copy.tmp" / "half").write_text("x")
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "stale.py").write_text("x")
    copied = copy_code(list_code(str(code)), tmp_path / "copy")
    assert not (tmp_path / "copy.tmp").exists() and not (copied.folder / "stale.py").exists()


def _many_folders(root: Path, folders: int, files: int) -> Path:
    for f in range(folders):
        (root / f"d{f:03}").mkdir(parents=True)
        for i in range(files):
            (root / f"d{f:03}" / f"{i}.py").write_text("x = 1\n")
    return root


def test_a_listing_stops_where_its_budget_runs_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = _many_folders(tmp_path / "code", folders=40, files=5)
    scanned: list[str] = []
    real_scandir = os.scandir

    def counting(path: Any) -> Any:
        scanned.append(str(path))
        return real_scandir(path)
    monkeypatch.setattr(os, "scandir", counting)
    with pytest.raises(SnapshotTooLarge, match="too large to plan: source_directory .* lists more than 30 files"):
        list_code(str(code), budget=ListingBudget(entries=30, size=1 << 30))
    assert len(scanned) <= 6  # the top and the folders met before the 30th entry, not all 41
    with pytest.raises(SnapshotTooLarge, match="holds more than 10 B "):
        list_code(str(code), budget=ListingBudget(entries=1000, size=10))
    assert len(list_code(str(code)).files) == 200  # no budget: everything, as a run's copy needs


def test_plan_refuses_a_source_directory_past_its_budget(write, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from runner.cli import cli
    from runner.inputs import snapshot
    from tests.conftest import BASE

    code = "source_directory: code\n      entry_script: score.py"
    spec = write("s.yaml", BASE.replace("entry_script: score.py", code))
    _many_folders(Path("code"), folders=3, files=10)
    Path("code/score.py").write_text("def run(b): return b\n")
    assert CliRunner().invoke(cli, ["plan", "--no-files", spec]).exit_code == 0
    monkeypatch.setattr(snapshot, "PLAN_ENTRIES", 20)
    result = CliRunner().invoke(cli, ["plan", "--no-files", spec])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "too large to plan: source_directory" in result.output and "more than 20 files" in result.output
    assert "Traceback" not in result.output
