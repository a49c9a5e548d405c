"""One error root: every error runner reports is a RunnerError with its exit code, said
the same way by every command (in-process through click's CliRunner)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import runner
from runner.cli import cli
from runner.errors import ExitCode, RunnerError
from runner.runs.folder import new_run
from runner.runs.records import RunRecord
from runner.runs.status import Status


def _azure_run(root: Path) -> str:
    run = new_run(root, "digits")
    run.write(RunRecord(id=run.id, name="digits", spec="specs/mnist.yaml", target="azureml", status=Status.FAILED,
                        azure_run_id="digits_1700000000_abcd1234", portal_url="https://ml.azure.com/runs/x"))
    return run.id


def test_resume_and_retry_of_an_azure_run_exit_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Neither can go on in Azure ML: the same situation, the same exit (it was 2 and 3).
    monkeypatch.setenv("RUNNER_HOME", str(tmp_path))
    run_id = _azure_run(tmp_path / "runs")
    resumed = CliRunner().invoke(cli, ["resume", run_id])
    retried = CliRunner().invoke(cli, ["retry", run_id])
    assert (resumed.exit_code, retried.exit_code) == (ExitCode.USAGE, ExitCode.USAGE), (resumed.output, retried.output)
    assert resumed.stderr.startswith("runner: run ") and retried.stderr.startswith("runner: runner retry of Azure ML")
    assert resumed.exception is None or isinstance(resumed.exception, SystemExit)


def test_a_damaged_record_is_said_and_exits_2_on_every_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNER_HOME", str(tmp_path))
    run = new_run(tmp_path / "runs", "digits")
    (run.path / "run.json").write_text("{not json", encoding="utf-8")
    for command in (["status", run.id], ["resume", run.id], ["retry", run.id], ["results", run.id]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == ExitCode.USAGE, (command, result.output)
        assert result.stderr.startswith("runner: ") and "internal error" not in result.stderr, command


def _modules() -> list[str]:
    skip = ("runner.compat", "runner.__main__")  # compat: what entry scripts import, free of runner
    return [info.name for info in pkgutil.walk_packages(runner.__path__, "runner.")
            if not info.name.startswith(skip)]


def test_every_error_runner_defines_derives_from_the_root() -> None:
    strays = []
    for name in _modules():
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an SDK this environment lacks (a session module)
            if (exc.name or "").startswith("runner"):
                raise
            continue
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == name
                    and not issubclass(value, RunnerError) and value.__name__ != "Exhausted"):
                strays.append(f"{name}.{value.__name__}")
    # Exhausted is Jinja's SecurityError: the sandbox turns it into a SpecError's diagnostic.
    assert strays == []
    assert {cls.exit_code for cls in _all(RunnerError)} <= set(ExitCode)


def _all(cls: type[RunnerError]) -> list[type[RunnerError]]:
    return [cls, *(sub for child in cls.__subclasses__() for sub in _all(child))]


def test_a_spec_on_standard_input_shows_its_snippet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli.test_review import SPEC

    monkeypatch.chdir(tmp_path)
    shown = CliRunner().invoke(cli, ["validate", "-"], input=SPEC.replace("mini_batch_size: 5", "mini_batch_size: -5"))
    assert shown.exit_code == ExitCode.USAGE, shown.output
    assert "<stdin>:11:24 steps[0].parallel_run.mini_batch_size: " in shown.stderr
    assert "  11 |       mini_batch_size: -5\n     |                        ^" in shown.stderr


def test_an_error_at_a_revision_shows_the_revisions_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli.test_review import SPEC, _git

    (tmp_path / "spec.yaml").write_text(SPEC.replace("mini_batch_size: 5", "mini_batch_size: -5"))
    _git("init", "-q", "-b", "main", cwd=tmp_path)
    _git("add", ".", cwd=tmp_path)
    _git("commit", "-q", "-m", "spec", cwd=tmp_path)
    (tmp_path / "spec.yaml").write_text(SPEC.replace("mini_batch_size: 5", "mini_batch_size: 50"))  # fixed since
    monkeypatch.chdir(tmp_path)
    shown = CliRunner().invoke(cli, ["plan", "spec.yaml", "--against", "HEAD"])
    assert shown.exit_code == ExitCode.USAGE, shown.output
    assert "spec.yaml:11:24 steps[0].parallel_run.mini_batch_size: " in shown.stderr
    assert "in spec.yaml at HEAD" in shown.stderr
    assert "  11 |       mini_batch_size: -5\n" in shown.stderr and "mini_batch_size: 50" not in shown.stderr
