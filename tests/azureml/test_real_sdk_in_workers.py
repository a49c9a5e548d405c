"""With azureml-core installed, an entry script imports the real package (the runner's
stand-ins come last on sys.path), and the real `Model.get_model_path` finds the model
where the local engine lays it out: the layout is azureml-core's own, not a lookalike."""

from __future__ import annotations

from pathlib import Path

from tests.local.helpers import cli, make_files, output_rows, write_spec

SCRIPT = '''
import os
import azureml.core.model as model_module
from azureml.core.model import Model

def run(mini_batch):
    path = Model.get_model_path("offset-model")
    offset = int(open(os.path.join(path, "offset.txt")).read())
    return [f"{os.path.basename(p)} {int(open(p).read()) + offset} {model_module.__file__}" for p in mini_batch]
'''


def test_the_real_model_get_model_path_finds_the_local_model(tmp_path: Path) -> None:
    names = make_files(tmp_path / "data", 4)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "offset.txt").write_text("100")
    spec = write_spec(tmp_path, script="real.py", mini_batch_size=2)
    (tmp_path / "code" / "real.py").write_text(SCRIPT)
    spec.write_text(spec.read_text().replace("steps:", "models:\n  offset-model: {path: model}\nsteps:"))
    result = cli("apply", "spec.yaml", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [row.split(" ") for row in output_rows(tmp_path, result.stdout.strip())]
    assert sorted((name, value) for name, value, _ in rows) == sorted((n, str(int(n[1:5]) + 100)) for n in names)
    modules = {module for _, _, module in rows}
    assert len(modules) == 1 and modules.pop().endswith("site-packages/azureml/core/model.py")
