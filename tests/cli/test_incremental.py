"""`incremental: true` as a user meets it: what `plan` says before anything runs (text,
Markdown, JSON), the refusal of summary_only, and the note for Azure targets."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import AZURE, runner
from tests.conftest import BASE
from tests.local.helpers import cli, make_files, write_spec


def test_plan_says_what_an_incremental_apply_would_run_and_reuse(tmp_path: Path) -> None:
    make_files(tmp_path / "data", 10)
    write_spec(tmp_path, step={"incremental": True}, mini_batch_size=4)
    before = cli("plan", "spec.yaml", cwd=tmp_path)
    assert "reuse          no earlier run to reuse (none of this step with the same code, model and definition): " \
           "would run every item" in before.stdout, before.stdout
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    first = applied.stdout.strip().splitlines()[-1]
    (tmp_path / "data" / "f0001.txt").unlink()
    (tmp_path / "data" / "f0002.txt").write_text("20\n")
    make_files(tmp_path / "data", 3, start=50)
    said = (f"would run 3 new and 1 changed items, reuse 8 from run {first} (same code, model and definition); "
            "1 item gone")
    text = cli("plan", "spec.yaml", cwd=tmp_path)
    assert f"  reuse          {said}" in text.stdout, text.stdout
    as_json = json.loads(cli("plan", "spec.yaml", "--json", cwd=tmp_path).stdout)
    assert as_json["work"][0]["reuse"] == said
    markdown = cli("plan", "spec.yaml", "--format", "markdown", cwd=tmp_path).stdout
    assert f"`{said}` |" in markdown
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    assert said.replace("would run", "runs").replace("reuse 8", "reuses 8") in applied.stderr
    second = applied.stdout.strip().splitlines()[-1]
    status = cli("status", second, cwd=tmp_path).stdout
    assert f"runs 3 new and 1 changed items, reuses 8 from run {first}" in status
    reuse = json.loads(cli("status", second, "--json", cwd=tmp_path).stdout)["steps"][0]["item_reuse"]
    assert (reuse["new"], reuse["changed"], reuse["reused"], reuse["gone"], reuse["run"]) == (3, 1, 8, 1, first)


def test_summary_only_with_incremental_is_refused_where_it_is_set(tmp_path: Path) -> None:
    write_spec(tmp_path, step={"incremental": True, "output": None}, output_action="summary_only")
    result = cli("validate", "--no-files", "spec.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "spec.yaml:" in result.stderr and "steps[0].incremental" in result.stderr
    assert "summary_only writes none the runner can attribute to items" in result.stderr
    assert "Traceback" not in result.stderr


def test_azure_targets_plan_the_step_whole_with_a_note(tmp_path: Path) -> None:
    spec = BASE.replace("    output: {name: scores}\n", "    output: {name: scores}\n    incremental: true\n")
    (tmp_path / "s.yaml").write_text(spec + AZURE)
    for target in ("azureml", "azureml-v2"):
        result = runner("plan", "--no-files", "s.yaml", "--target", target, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "note: incremental (item reuse) runs on the local engine only (the Ray engine later): on Azure ML " \
               "the step is submitted whole" in result.stdout, result.stdout


def test_plan_against_a_revision_notes_what_an_incremental_step_would_reuse(tmp_path: Path) -> None:
    import subprocess

    make_files(tmp_path / "data", 6)
    write_spec(tmp_path, step={"incremental": True}, mini_batch_size=4)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (("init", "-q", "-b", "main"), ("add", "spec.yaml", "code"), ("commit", "-q", "-m", "first")):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, env={**env, "PATH": "/usr/bin:/bin"})
    applied = cli("apply", "spec.yaml", cwd=tmp_path)
    first = applied.stdout.strip().splitlines()[-1]
    make_files(tmp_path / "data", 2, start=40)
    (tmp_path / "spec.yaml").write_text((tmp_path / "spec.yaml").read_text().replace("allow_reuse: false",
                                                                                     "allow_reuse: true"))
    said = f"step score: would run 2 new and 0 changed items, reuse 6 from run {first}"
    review = cli("plan", "spec.yaml", "--against", "HEAD", cwd=tmp_path)
    assert review.returncode == 0, review.stderr
    assert said in review.stdout, review.stdout
    as_json = json.loads(cli("plan", "spec.yaml", "--against", "HEAD", "--json", cwd=tmp_path).stdout)
    assert any(note.startswith(said) for note in as_json["notes"])
