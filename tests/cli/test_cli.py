"""The CLI as a user runs it: real processes, exit codes, stdout for results, stderr for problems."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import BASE, ROOT


def runner(*args: str, cwd=ROOT, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AML_")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=60)


def test_example_specs_validate() -> None:
    result = runner("validate", "--no-files", "specs/mnist.yaml", "specs/mnist.single-image.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["ok    specs/mnist.yaml", "ok    specs/mnist.single-image.yaml"]


def test_plan_of_the_variant_shows_what_changed_from_the_base() -> None:
    result = runner("plan", "--no-files", "specs/mnist.single-image.yaml")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    chain = "specs/mnist.yaml -> specs/mnist.single-image.yaml"
    assert f"Spec: specs/mnist.single-image.yaml (variant chain: {chain})" in out
    assert "Parameters (3 changed from the base, specs/mnist.yaml)" in out
    assert 'batch_size_param     "1"  (changed from "5"; set at specs/mnist.single-image.yaml:7:21)' in out
    assert "mnist_param          {dataset: single_image}  (changed from {dataset: mnist}" in out
    assert "input          datasets.single_image (file) <- parameters.mnist_param: data/mnist/0.png" in out
    assert "workers        2 = 2 node(s) x 1 process(es)  <- parameters.process_count_param" in out
    assert "mini-batch     1 file  <- parameters.batch_size_param" in out
    assert "arguments      --model models/mnist" in out
    # Defaults are filled in the resolved spec.
    assert "run_invocation_timeout: 60" in out and "run_max_try: 3" in out


def test_plan_of_the_base_changes_nothing() -> None:
    result = runner("plan", "--no-files", "specs/mnist.yaml")
    assert "Parameters (0 changed from the spec file)" in result.stdout
    assert "mini-batch     5 files  <- parameters.batch_size_param" in result.stdout


def test_plan_json_overrides_and_target(tmp_path) -> None:
    out = tmp_path / "plan.json"
    result = runner("plan", "--no-files", "specs/mnist.yaml", "--json", "--target", "azureml-v2", "--out", str(out),
                    "--set-param", "batch_size_param=10", "--set", "steps[0].parallel_run.node_count=1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    plan = json.loads(out.read_text())
    assert plan["target"] == "azureml-v2"
    step = plan["steps"][0]
    assert (step["mini_batch_size"], step["node_count"]) == (10, 1)
    assert step["bindings"] == {"inputs[0]": "mnist_param", "parallel_run.mini_batch_size": "batch_size_param",
                                "parallel_run.process_count_per_node": "process_count_param"}
    changed = {p["name"]: p["changed"] for p in plan["parameters"]}
    assert changed == {"mnist_param": False, "batch_size_param": True, "process_count_param": False}


AZURE = """
azure:
  compute: {name: cpu-cluster}
  environment: {name: env, pip: [pillow]}
"""


def test_plan_for_azure_leaves_process_count_to_the_vm(tmp_path) -> None:
    (tmp_path / "s.yaml").write_text(BASE + AZURE)
    result = runner("plan", "--no-files", "s.yaml", "--target", "azureml", cwd=tmp_path)
    assert "workers        1 node(s) x one process per core of the VM (Azure's default)" in result.stdout


def test_plan_out_stages_a_single_file_input_beside_the_v2_job(tmp_path) -> None:
    """`plan --target azureml-v2 --out` links a single-file dataset into the folder the job
    names (the backend's part); a file that is not there is a usage error, nothing written."""
    (tmp_path / "s.yaml").write_text(BASE.replace("images: {dataset: images}", "images: {dataset: single}") + AZURE)
    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "data" / "images" / "0.png").write_bytes(b"png")
    (tmp_path / "out").mkdir()
    result = runner("plan", "--no-files", "s.yaml", "--target", "azureml-v2", "--out", "out/job.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".runner" / "stage" / "score-images" / "single" / "0.png").read_bytes() == b"png"
    assert "path: ../.runner/stage/score-images/single/" in (tmp_path / "out" / "job.yaml").read_text()
    (tmp_path / "data" / "images" / "0.png").unlink()
    (tmp_path / "out" / "job.yaml").unlink()
    result = runner("plan", "--no-files", "s.yaml", "--target", "azureml-v2", "--out", "out/job.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "runner: data/images/0.png does not exist" in result.stderr
    assert not (tmp_path / "out" / "job.yaml").exists()


def test_secrets_do_not_leak_through_parameters_or_arguments(tmp_path) -> None:
    spec = BASE.replace("  batch: 4", "  batch: 4\n  token: \"{{ env.MY_TOKEN }}\"").replace(
        '"--model", "${{ models.clf }}"',
        '"--model", "${{ models.clf }}", "--token", "${{ parameters.token }}", "--key", "{{ env.API_KEY }}"')
    (tmp_path / "s.yaml").write_text(spec)
    env = {"MY_TOKEN": "tok-0123456789", "API_KEY": "key-9876543210"}
    for extra in ((), ("--json",)):
        result = runner("plan", "--no-files", "s.yaml", *extra, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert "tok-0123456789" not in result.stdout and "key-9876543210" not in result.stdout
        assert "***" in result.stdout


def test_unwritable_out_is_a_usage_error(tmp_path) -> None:
    result = runner("plan", "--no-files", "specs/mnist.yaml", "--out", str(tmp_path / "missing" / "plan.txt"))
    assert result.returncode == 2 and "cannot write --out" in result.stderr


def test_schema_into_a_folder_that_cannot_be_made_is_a_usage_error(tmp_path) -> None:
    (tmp_path / "file").write_text("")
    for folder in ("/proc/nope", str(tmp_path / "file" / "schema")):
        result = runner("schema", "--out", folder)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"runner: cannot write the schemas into {folder}: ") and \
            "internal error" not in result.stderr, result.stderr


def test_template_reads_the_environment() -> None:
    result = runner("plan", "--no-files", "specs/mnist.yaml", "--json", env={"AML_COMPUTE_CLUSTER_NAME": "gpu-cluster"})
    assert json.loads(result.stdout)["resolved"]["azure"]["compute"]["name"] == "gpu-cluster"


def test_plan_never_prints_secrets(tmp_path) -> None:
    (tmp_path / "s.yaml").write_text(BASE + 'azure:\n  datastores:\n    store: {container_name: box, '
                                     'account_name: acct, account_key: "{{ env.STORE }}"}\n')
    result = runner("plan", "--no-files", "s.yaml", cwd=tmp_path, env={"STORE": "very-secret-key-value"})
    assert result.returncode == 0, result.stderr
    assert "very-secret-key-value" not in result.stdout + result.stderr
    assert "account_key: '**********'" in result.stdout


def test_bad_spec_exits_2_with_positions_on_stderr(tmp_path) -> None:
    (tmp_path / "s.yaml").write_text(BASE.replace("error_threshold: 5", "error_threshold: -5"))
    for command in ("validate", "plan", "apply"):
        result = runner(command, "s.yaml", cwd=tmp_path)
        assert result.returncode == 2
        assert "s.yaml:19:24 steps[0].parallel_run.error_threshold:" in result.stderr
        assert "Traceback" not in result.stderr


def test_usage_errors_exit_2() -> None:
    assert runner("plan").returncode == 2
    assert runner("plan", "specs/mnist.yaml", "--target", "nowhere").returncode == 2
    missing = runner("validate", "specs/nope.yaml")
    assert missing.returncode == 2 and "specs/nope.yaml: no such spec file" in missing.stderr


def test_apply_and_run_commands_say_plainly_what_is_missing(tmp_path) -> None:
    for target, extra in (("azureml", "azureml"), ("azureml-v2", "azureml-v2")):
        applied = runner("apply", str(ROOT / "specs/mnist.yaml"), "--target", target, cwd=tmp_path)
        assert applied.returncode == 3 and "Traceback" not in applied.stderr
        assert f"target {target} needs its Azure ML SDK, which is not installed here " \
               f"(pip install 'runner[{extra}]')" in applied.stderr
        assert not (tmp_path / ".runner").exists()  # nothing was created
    listed = runner("runs", cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout == "" and "no runs yet" in listed.stderr
    for command in ("status", "results", "logs"):
        result = runner(command, "no-such-run", cwd=tmp_path)
        assert result.returncode == 2 and "no run named 'no-such-run'" in result.stderr


def test_help_shows_examples() -> None:
    result = runner("--help")
    assert result.returncode == 0
    assert "runner plan specs/mnist.single-image.yaml" in result.stdout
    for command in ("validate", "plan", "apply", "resume", "runs", "status", "results", "logs", "example", "schema"):
        assert command in result.stdout


def test_schema_command_writes_every_schema(tmp_path) -> None:
    result = runner("schema", "--out", str(tmp_path))
    assert result.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runner-runs.schema.json", "runner-spec.schema.json",
                                                          "runner-status.schema.json", "runner-variant.schema.json"]


def test_a_reader_that_leaves_is_not_an_internal_error() -> None:
    # `runner plan ... | head`: the reader is gone (here: before the first write), so
    # the plan cannot be written. Exit as a shell reports SIGPIPE, say nothing.
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        shown = subprocess.run([sys.executable, "-m", "runner", "plan", "--no-files", "specs/mnist.yaml"], cwd=ROOT,
                               stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert shown.returncode == 141, shown.stderr
    assert "internal error" not in shown.stderr and "Traceback" not in shown.stderr


# The base renamed parameter batch to batch_size.
RENAMED = BASE.replace("  batch: 4", "  batch_size: 4").replace("parameters.batch }}", "parameters.batch_size }}")


def test_validate_refuses_a_variant_whose_parameter_the_base_renamed(tmp_path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "base.yaml").write_text(RENAMED)
    (tmp_path / "specs" / "one.yaml").write_text("extends: base.yaml\nparameters:\n  batch: 1\n")
    result = runner("validate", "specs/", "--no-files", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout.splitlines()[:2] == ["ok    specs/base.yaml", "error specs/one.yaml"]
    assert "specs/one.yaml:3:3 parameters.batch: no parameter named 'batch' in the base; " \
           "did you mean 'batch_size'?" in result.stderr


def test_validate_and_plan_refuse_a_spec_whose_files_are_missing(tmp_path) -> None:
    (tmp_path / "s.yaml").write_text(BASE.replace("entry_script: score.py", "entry_script: scor.py"))
    (tmp_path / "score.py").write_text("def run(mini_batch):\n    return mini_batch\n")
    for command in ("validate", "plan"):
        result = runner(command, "s.yaml", cwd=tmp_path)
        assert result.returncode == 2, result.stdout
        assert "s.yaml:17:21 steps[0].parallel_run.entry_script: scor.py does not exist; " \
               "did you mean 'score.py'?" in result.stderr
        assert "s.yaml:7:30 datasets.images.path: data/images/ does not exist" in result.stderr
        assert "Traceback" not in result.stderr
    skipped = runner("validate", "s.yaml", "--no-files", cwd=tmp_path)
    assert skipped.returncode == 0 and skipped.stdout == "ok    s.yaml\n"
    assert "files not checked (--no-files)" in skipped.stderr
    assert runner("plan", "s.yaml", "--no-files", cwd=tmp_path).returncode == 0


def test_the_azure_section_is_read_only_for_azure_targets(tmp_path) -> None:
    azure = "azure:\n  compute: {name: \"{{ env.CLUSTER }}\", vm_size: STANDARD_D2_V2, max_nodes: 2}\n"
    (tmp_path / "s.yaml").write_text(BASE + azure)
    node_count = "steps[0].parallel_run.node_count=3"
    local = runner("validate", "s.yaml", "--no-files", "--set", node_count, cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    for target in ("azureml", "azureml-v2"):
        refused = runner("validate", "s.yaml", "--no-files", "--target", target, cwd=tmp_path)
        assert refused.returncode == 2
        assert "azure.compute.name: template error: environment variable 'CLUSTER' is not set" in refused.stderr
        capped = runner("validate", "s.yaml", "--no-files", "--target", target, "--set", node_count, cwd=tmp_path,
                        env={"CLUSTER": "cpu-cluster"})
        assert capped.returncode == 2
        assert "node_count 3 is more than the compute's max_nodes (2)" in capped.stderr
