"""Entry scripts written for Azure ML run unmodified on the local engine."""

from __future__ import annotations

from tests.local.helpers import cli, make_files, output_rows, run_folder, write_spec


def test_an_azure_style_script_finds_its_model_logger_and_folders(tmp_path):
    names = make_files(tmp_path / "data", 12)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "offset.txt").write_text("100")
    spec = write_spec(tmp_path, script="azure_style.py", step={"arguments": ["--suffix", "!", "--extra", "x"]})
    text = spec.read_text().replace("steps:", "models:\n  offset-model: {path: model}\nsteps:")
    spec.write_text(text)
    result = cli("apply", "spec.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    assert sorted(output_rows(tmp_path, run_id)) == sorted(f"{n}: {int(n[1:5]) + 100}!" for n in names)
    logs = cli("logs", run_id, "--worker", "0", cwd=tmp_path).stdout
    assert "init: offset 100, unknown args ['--extra', 'x']" in logs
    assert "INFO EntryScript" in logs and "init on node0.process000" in logs
    work = run_folder(tmp_path, run_id) / "score" / "work" / "node0" / "process000" / "scratch.txt"
    assert work.read_text() == "scratch"


def test_side_inputs_and_dataset_arguments_resolve_to_local_paths(tmp_path):
    make_files(tmp_path / "data", 3)
    (tmp_path / "lookup").mkdir()
    (tmp_path / "lookup" / "names.txt").write_text("zero one two")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "side.py").write_text(
        "import argparse, json, os\n"
        "p = argparse.ArgumentParser(); p.add_argument('--lookup'); a, _ = p.parse_known_args()\n"
        "def run(mb):\n"
        "    side = json.loads(os.environ['RUNNER_SIDE_INPUTS'])['datasets.lookup']\n"
        "    assert os.path.samefile(side, a.lookup)\n"
        "    words = open(os.path.join(a.lookup, 'names.txt')).read().split()\n"
        "    return [f\"{os.path.basename(p)}: {words[int(open(p).read())]}\" for p in mb]\n")
    spec = write_spec(tmp_path, script="side.py", step={"side_inputs": ["${{ datasets.lookup }}"],
                                                         "arguments": ["--lookup", "${{ datasets.lookup }}"]})
    spec.write_text(spec.read_text().replace("datasets:", "datasets:\n  lookup: {kind: file, path: lookup/}"))
    result = cli("apply", "spec.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(output_rows(tmp_path, result.stdout.strip())) == ["f0000.txt: zero", "f0001.txt: one",
                                                                    "f0002.txt: two"]


def test_a_runner_folder_in_the_source_directory_does_not_shadow_the_engine(tmp_path):
    names = make_files(tmp_path / "data", 6)
    write_spec(tmp_path)
    (tmp_path / "code" / "runner").mkdir()
    (tmp_path / "code" / "runner" / "__init__.py").write_text("raise ImportError('the user\\'s own runner')\n")
    result = cli("apply", "spec.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(output_rows(tmp_path, result.stdout.strip())) == sorted(f"{n}: {int(n[1:5])}" for n in names)
