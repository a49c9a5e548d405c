"""What each command imports: a fresh interpreter runs the command, then lists which of
the heavy packages (and runner's own layers) it loaded. A check of which modules are
loaded, not of how long they took, so it cannot flake; start-up time itself is
measured by `python -m bench startup`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import runner
from runner.cli.common import COMMAND_MODULES, cli
from tests.cli.one_file import SPEC

ROOT = Path(runner.__file__).resolve().parents[1]
WATCHED = ("pandas", "pyarrow", "numpy", "jinja2", "pydantic", "yaml", "runner.cli.runs", "runner.cli.specs",
           "runner.local", "runner.inputs.listing", "runner.spec.load", "runner.azureml", "runner.review",
           "runner.report")

# Runs `runner ARGS...` in this interpreter, then prints which WATCHED packages it loaded.
_PROBE = textwrap.dedent("""
    import json, sys
    watched = json.loads(sys.argv[1])
    sys.argv = ["runner", *sys.argv[2:]]
    from runner.cli import cli
    try:
        cli.main(prog_name="runner", standalone_mode=False)
    except BaseException as exc:
        print("exit:", repr(exc), file=sys.stderr)
    loaded = {w for w in watched for m in list(sys.modules) if m == w or m.startswith(w + ".")}
    print(json.dumps(sorted(loaded)))
""")


def _loaded(args: list[str], cwd: Path) -> set[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(WATCHED), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))




@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text("def init():\n    pass\n\n\ndef run(batch):\n    return batch\n")
    (tmp_path / "spec.yaml").write_text(SPEC)
    return tmp_path


def test_the_command_map_names_every_command_where_it_is_defined() -> None:
    import runner.cli.runs
    import runner.cli.specs  # noqa: F401

    assert {name: command.callback.__module__ for name, command in cli.commands.items()} == \
        {name: f"runner.cli.{module}" for name, module in COMMAND_MODULES.items()}


def test_help_loads_no_spec_machinery(project: Path) -> None:
    loaded = _loaded(["--help"], project)
    assert loaded <= {"runner.cli.runs", "runner.cli.specs"}, loaded


def test_validate_loads_neither_the_engine_nor_the_run_commands(project: Path) -> None:
    loaded = _loaded(["validate", "--no-files", "spec.yaml"], project)
    # jinja2 only for a spec with a template; the listing only where files are looked for
    assert loaded == {"pydantic", "yaml", "runner.cli.specs", "runner.spec.load"}, loaded


def test_apply_of_a_file_job_loads_no_table_library_nor_templating(project: Path) -> None:
    loaded = _loaded(["apply", "spec.yaml"], project)
    assert not loaded & {"pandas", "pyarrow", "numpy", "jinja2", "runner.cli.specs", "runner.azureml",
                         "runner.review", "runner.report"}, loaded
    assert {"runner.local", "pydantic"} <= loaded
