"""runner/plan is pure: what it needs of this machine (the working directory, what is at a
dataset's path) runner/inputs reads and hands it as data. The import contract in
pyproject.toml keeps file-system modules out; this keeps out the `os` calls and file
methods an import contract cannot see, and shows the checks run on data alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import runner.plan
from runner.inputs.checks import datasets_on_disk
from runner.plan.mltable import mltable_text
from runner.plan.plan import build_plan
from runner.plan.targets import DatasetOnDisk, check_target
from runner.spec.diagnostics import SpecError
from runner.spec.load import load_spec

PLAN = Path(runner.plan.__file__).parent
# What reads or changes the file system, or the process's place in it. os.path.abspath
# and realpath read the working directory; the pure path arithmetic (join, normpath,
# isabs, dirname, splitext) is allowed.
_OS = {"getcwd", "getcwdb", "chdir", "stat", "lstat", "scandir", "listdir", "walk", "access", "open", "fdopen",
       "readlink", "mkdir", "makedirs", "remove", "unlink", "rename", "replace", "rmdir", "removedirs", "link",
       "symlink", "utime", "chmod", "truncate", "getenv", "environ"}
_OS_PATH = {"exists", "lexists", "isdir", "isfile", "islink", "ismount", "getsize", "getmtime", "getatime",
            "getctime", "abspath", "realpath", "samefile", "expanduser", "expandvars"}
_FORBIDDEN = {f"os.{n}" for n in _OS} | {f"os.path.{n}" for n in _OS_PATH}
# Path and DirEntry methods that touch the disk.
_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "iterdir", "is_dir", "is_file", "exists",
            "is_symlink", "glob", "rglob", "touch", "unlink", "mkdir", "rmdir", "resolve", "readlink"}
_BUILTINS = {"open", "input"}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def io_in(source: str) -> list[str]:
    """Each use in `source` of something that reads the file system, as `line: what`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        what = ""
        if isinstance(node, ast.Attribute) and _dotted(node) in _FORBIDDEN:
            what = _dotted(node)
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "os.path"):
            what = ", ".join(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in _FORBIDDEN)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _BUILTINS:
            what = f"{node.func.id}()"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _METHODS \
                and not _dotted(node.func).startswith("os."):  # os.path.exists: named above as itself
            what = f".{node.func.attr}()"
        if what:
            found.append((getattr(node, "lineno", 0), what))
    return [f"{line}: {what}" for line, what in sorted(found)]


@pytest.mark.parametrize("module", sorted(p.name for p in PLAN.glob("*.py")))
def test_plan_modules_do_no_file_system_io(module: str) -> None:
    assert io_in((PLAN / module).read_text(encoding="utf-8")) == [], \
        f"runner/plan/{module} reads the file system: move that to runner/inputs and hand plan/ the result"


def test_the_scan_finds_what_it_looks_for() -> None:
    source = ("import os\nfrom os.path import isdir\nos.getcwd()\nos.path.exists('x')\nopen('f')\n"
              "Path('p').read_text()\nos.path.join('a', 'b')\nos.path.normpath('a')\n")
    assert io_in(source) == ["2: os.path.isdir", "3: os.getcwd", "4: os.path.exists", "5: open()", "6: .read_text()"]


SPEC = """
name: score-rows
datasets:
  rows: {kind: tabular, path: data/rows/, partition_format: "{region}/*.csv"}
azure:
  compute: {name: cpu}
  environment: {name: env}
steps:
  - name: score
    inputs: ["${{ datasets.rows }}"]
    output: {name: o}
    parallel_run: {entry_script: score.py}
"""


def _refusals(loaded: object, on_disk: DatasetOnDisk) -> list[str]:
    with pytest.raises(SpecError) as caught:
        check_target(loaded, "azureml-v2", {"rows": on_disk})  # type: ignore[arg-type]
    return [d.message for d in caught.value.diagnostics]


def test_the_target_checks_read_what_they_are_handed_not_the_disk(write) -> None:
    loaded = load_spec(write("s.yaml", SPEC), environ={})  # data/rows/ is not on disk at all
    folder = "data/rows/"
    assert "put an MLTable file in this folder" in _refusals(loaded, DatasetOnDisk(folder, True, True))[0]
    assert "an MLTable folder, not one file" in _refusals(loaded, DatasetOnDisk(folder, exists=True))[0]
    without = DatasetOnDisk(folder, True, True, has_mltable=True, mltable=b"paths: [{pattern: ./*.csv}]\n")
    assert "data/rows/MLTable, which has no transformations" in _refusals(loaded, without)[0]
    with_columns = mltable_text("{region}/*.csv").encode()
    check_target(loaded, "azureml-v2", {"rows": DatasetOnDisk(folder, True, True, True, with_columns)})


def test_the_plan_records_the_working_directory_it_is_given(write) -> None:
    loaded = load_spec(write("s.yaml", SPEC), environ={})
    plan = build_plan(loaded, cwd="/somewhere/else", datasets=datasets_on_disk(loaded, "/somewhere/else"))
    assert plan.cwd == "/somewhere/else"
