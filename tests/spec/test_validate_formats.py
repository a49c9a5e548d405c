"""`runner validate` for CI: folders, standard input, a target's refusals, and the
text, JSON and GitHub formats, as a user's CI job runs them (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import BASE, ROOT

VARIANT = "extends: base.yaml\nparameters:\n  batch: 2\n"
NOTE = "note: files not checked (--no-files): entry scripts, source directories, datasets and models\n"
BAD_VARIANT = "extends: base.yaml\nsteps:\n  - name: score-images\n    parallel_run:\n      eror_threshold: 1\n"


def validate(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """--no-files: these specs name no files that are there (tests/cli/test_cli.py checks them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AML_", "RUNNER_"))}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-m", "runner", "validate", "--no-files", *args], cwd=cwd, env=env, input=stdin,
                            capture_output=True, timeout=60)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(),
                                       result.stderr.decode())


def project(root: Path) -> Path:
    """Specs, a variant, a broken variant, a fragment, and YAML that is not a spec."""
    specs = root / "specs"
    (specs / "nested").mkdir(parents=True)
    (specs / "base.yaml").write_text(BASE.lstrip())
    (specs / "small.yaml").write_text(VARIANT)
    (specs / "nested" / "broken.yml").write_text(BAD_VARIANT.replace("base.yaml", "../base.yaml"))
    (specs / "_fragment.yaml").write_text("parallel_run: {}\n")  # extended by specs, never alone
    (specs / "environment.yml").write_text("name: env\ndependencies: [python=3.11]\n")  # conda
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs:\n  a:\n    steps: [{run: x}]\n")
    (root / "azure-pipelines.yml").write_text("trigger: [main]\nsteps:\n  - script: echo hi\n")
    return specs


def test_a_folder_is_every_spec_below_it_and_nothing_else(tmp_path: Path) -> None:
    project(tmp_path)
    result = validate(".", cwd=tmp_path)
    assert result.returncode == 2
    # A folder's own files first, then its subfolders', each sorted by name.
    assert result.stdout.splitlines() == ["ok    specs/base.yaml", "ok    specs/small.yaml",
                                          "error specs/nested/broken.yml"]
    assert ("specs/nested/broken.yml:5:7 steps[0].parallel_run.eror_threshold: unknown field 'eror_threshold'; "
            "did you mean 'error_threshold'?") in result.stderr
    # Named, a file is validated whatever it looks like.
    named = validate("specs/environment.yml", cwd=tmp_path)
    assert named.returncode == 2 and "error specs/environment.yml" in named.stdout


def test_a_folder_without_specs_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = validate("empty", "--format", "json", cwd=tmp_path)
    assert result.returncode == 2
    [entry] = json.loads(result.stdout)
    assert entry["file"] == "empty" and not entry["ok"]
    assert entry["errors"][0]["message"].startswith("no runner spec below this folder")


def test_json_lists_every_spec_with_its_errors(tmp_path: Path) -> None:
    project(tmp_path)
    result = validate("specs", "--format", "json", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == NOTE  # the errors are in the JSON; only --no-files is said here
    report = json.loads(result.stdout)
    assert [(r["file"], r["ok"]) for r in report] == [("specs/base.yaml", True), ("specs/small.yaml", True),
                                                      ("specs/nested/broken.yml", False)]
    assert report[2]["errors"] == [{
        "file": "specs/nested/broken.yml", "line": 5, "col": 7, "path": "steps[0].parallel_run.eror_threshold",
        "message": "unknown field 'eror_threshold'; did you mean 'error_threshold'?"}]
    ok = validate("specs/base.yaml", "--format", "json", cwd=tmp_path)
    assert ok.returncode == 0 and json.loads(ok.stdout) == [{"file": "specs/base.yaml", "ok": True, "errors": []}]


def test_github_annotations_escape_what_github_requires(tmp_path: Path) -> None:
    # A message with a line break, a percent sign, and a file name with a comma and a colon.
    folder = tmp_path / "a,b:c"
    folder.mkdir()
    (folder / "spec.yaml").write_text(BASE.lstrip() + '"50%\\nof it": 1\n')
    result = validate("a,b:c/spec.yaml", "--format", "github", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ("::error file=a%2Cb%3Ac/spec.yaml,line=19,col=1,title=runner validate::"
                             "50%25%0Aof it: unknown field '50%25%0Aof it'\n")
    # A --set value has no line: the annotation goes on the spec and names the flag.
    flag = validate("a,b:c/spec.yaml", "--format", "github", "--set", "steps[0].parallel_run.run_max_try=0",
                    cwd=tmp_path)
    assert ("::error file=a%2Cb%3Ac/spec.yaml,title=runner validate::--set steps[0].parallel_run.run_max_try=0: "
            "steps[0].parallel_run.run_max_try: ") in flag.stdout
    ok = validate("specs/base.yaml", "--format", "github", cwd=_spec_dir(tmp_path))
    assert (ok.returncode, ok.stdout) == (0, "")


def _spec_dir(root: Path) -> Path:
    (root / "specs").mkdir(exist_ok=True)
    (root / "specs" / "base.yaml").write_text(BASE.lstrip())
    return root


def test_github_escapes_percent_and_line_breaks() -> None:
    from runner.spec.report import escape_data, escape_property

    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_a_base_problem_is_one_annotation_for_all_its_variants(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "base.yaml").write_text(BASE.lstrip())
    (specs / "small.yaml").write_text(VARIANT)
    result = validate("specs", "--target", "azureml", "--format", "github", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines == ["::error file=specs/base.yaml,line=1,col=7,title=runner validate::name: an Azure target "
                     "needs azure.compute: the cluster the steps run on (target azureml)",
                     "::error file=specs/base.yaml,line=1,col=7,title=runner validate::name: an Azure target "
                     "needs azure.environment: the Python packages the entry script imports (target azureml)"]


def test_target_applies_the_refusals_plan_applies(tmp_path: Path) -> None:
    specs = _spec_dir(tmp_path) / "specs"
    local = validate("specs/base.yaml", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    for target in ("azureml", "azureml-v2"):
        result = validate("specs/base.yaml", "--target", target, cwd=tmp_path)
        assert result.returncode == 2
        assert f"needs azure.compute: the cluster the steps run on (target {target})" in result.stderr
    # A spec's own target is applied without --target, as `runner plan` does.
    (specs / "azure.yaml").write_text("extends: base.yaml\ntarget: azureml-v2\n")
    own = validate("specs/azure.yaml", cwd=tmp_path)
    assert own.returncode == 2 and "(target azureml-v2)" in own.stderr
    assert validate("specs/azure.yaml", "--target", "local", cwd=tmp_path).returncode == 0


def test_standard_input_is_named_stdin_and_reads_paths_from_the_working_directory(tmp_path: Path) -> None:
    specs = _spec_dir(tmp_path) / "specs"
    result = validate("-", cwd=specs, stdin=VARIANT.encode())
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok    <stdin>\n"
    # From elsewhere, the variant's `extends: base.yaml` is looked for there.
    elsewhere = validate("-", "--format", "json", cwd=tmp_path, stdin=VARIANT.encode())
    assert elsewhere.returncode == 2
    [entry] = json.loads(elsewhere.stdout)
    assert entry["file"] == "<stdin>"
    assert entry["errors"][0] == {"file": "<stdin>", "line": 1, "col": 10, "path": "extends",
                                  "message": "extends names a file that does not exist: base.yaml"}
    bad = validate("-", "specs/base.yaml", cwd=tmp_path, stdin=b"name: x\xff\n")
    assert bad.returncode == 2
    assert bad.stdout.splitlines() == ["error <stdin>", "ok    specs/base.yaml"]
    assert "<stdin>: cannot read spec: standard input is not UTF-8 text" in bad.stderr
