"""Only runner/runs/folder.py names the files of a run folder (DESIGN.md): a module that
spells one itself would drift from the layout the commands read. Every string in
runner/ that is one of those names or a path ending in one, outside folder.py, fails.
Prose that names a file to the user (a message, help text) and docstrings are not
paths; runner/compat, which workers import and which imports nothing of runner, reads
Azure's own model layout (azureml-models) as the SDK does."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "runner"
OWNER = ROOT / "runs" / "folder.py"
NAMES = ("run.json", "job.json", "step.json", "cancel.json", "progress.json", "ledger.jsonl", "minibatches.jsonl",
         "failed_items.jsonl", "driver.log", "plan.txt", "plan.json", ".lock", "workspace.json", "error.log",
         "pipeline.yaml", "job.yaml", "azureml-models", "processed_mini_batches.csv", "job_progress_overview.txt")


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_module_but_folder_py_names_a_run_folders_files() -> None:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path == OWNER or ROOT / "compat" in path.parents:
            continue
        for line, text in _strings(ast.parse(path.read_text(encoding="utf-8"))):
            if " " not in text and any(text == name or text.endswith(f"/{name}") for name in NAMES):
                found.append(f"{path.relative_to(ROOT.parent)}:{line}: {text!r}")
    assert found == []


def test_the_check_sees_a_name_spelled_elsewhere(tmp_path: Path) -> None:
    tree = ast.parse('"""the ledger.jsonl of a step"""\nPATH = folder / "ledger.jsonl"\nLOG = "logs/sys/driver.log"\n')
    assert sorted(text for _, text in _strings(tree)) == ["ledger.jsonl", "logs/sys/driver.log"]
