"""What `runner apply` checks and uploads for an Azure target before and while it submits
(issue 13): the existing cluster's max_nodes read through the session before anything is
created, the code uploaded exactly as runner.inputs.snapshot lists it, v2's models
registered, and a v2 append_row file found where azure-ai-ml's download puts it."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from runner import api
from runner.inputs.snapshot import list_code
from tests.azureml.fakes import RecordingSession, RecordingSessionV2

CREATES = ("register_datastore", "register_model", "upload", "compute", "submit")


@pytest.mark.parametrize("session", [RecordingSession(max_nodes=1), RecordingSessionV2(max_nodes=1)],
                         ids=["v1", "v2"])
def test_node_count_above_an_existing_clusters_max_nodes_is_refused_first(project: Path, session: Any) -> None:
    """specs/mnist.yaml runs on 2 nodes; the workspace's cpu-cluster scales to 1. azureml-core
    finds that inside build(), after datastores and models were registered."""
    target = "azureml" if isinstance(session, RecordingSession) else "azureml-v2"
    with pytest.raises(api.RunError, match="cannot submit: step predict.digits.mnist: node_count 2 is more than the "
                                           "1 nodes the existing cluster cpu-cluster scales to"):
        api.apply("specs/mnist.yaml", target=target, environ={}, session=session)
    assert ("existing_max_nodes", "cpu-cluster") in session.calls
    assert not [c for c in session.calls if c[0] in CREATES]
    [info] = api.list_runs()
    assert info.status == "preflight"


def _staged_files(folder: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
                  for root, _, names in os.walk(folder) for name in names)


def _a_repository_root(project: Path) -> None:
    """source_directory `..` is the project root: data, models, earlier runs and an
    .amlignore that leaves the models out."""
    (project / ".amlignore").write_text("models/\n*.log\n")
    (project / "debug.log").write_text("noise\n")
    (project / ".runner" / "stage" / "old").mkdir(parents=True)
    (project / ".runner" / "stage" / "old" / "big.bin").write_bytes(b"x" * 100)
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")


def test_v1_uploads_exactly_the_listed_code(project: Path) -> None:
    _a_repository_root(project)
    session = RecordingSession()
    result = api.apply("specs/mnist.yaml", target="azureml", environ={}, session=session)
    [(_, _, [step], _)] = [c for c in session.calls if c[0] == "submit"]
    folder = step._parallel_run_config.source_directory
    assert Path(folder).is_relative_to(result.run.path)
    listed = [f.rel for f in list_code(str(project)).files]
    assert _staged_files(folder) == listed
    assert "entry_scripts/digit_identification.py" in listed and ".amlignore" in listed
    assert not [f for f in listed if f.startswith(("models/", ".runner/", ".git/")) or f.endswith(".log")]


def test_v2_uploads_exactly_the_listed_code_and_registers_the_models(project: Path) -> None:
    _a_repository_root(project)
    session = RecordingSessionV2()
    result = api.apply("specs/mnist.yaml", target="azureml-v2", environ={}, session=session)
    [job] = session.jobs
    code = job.jobs["predict_digits_mnist"].component.task.code
    folder = (result.run.path / code).resolve()
    assert folder.is_relative_to(result.run.path)
    assert _staged_files(str(folder)) == [f.rel for f in list_code(str(project)).files]
    # Model.get_model_path("mnist-prs") finds a registered model through the run's workspace, as on v1.
    [(_, name, spec)] = [c for c in session.calls if c[0] == "register_model"]
    assert (name, spec["path"], spec["tags"]) == ("mnist-prs", "models/mnist", {"pretrained": "mnist"})


def test_an_entry_script_the_ignore_file_leaves_out_is_refused(project: Path) -> None:
    (project / ".amlignore").write_text("entry_scripts/\n")
    session = RecordingSession()
    with pytest.raises(api.RunError, match="entry script entry_scripts/digit_identification.py is left out of the "
                                           "code uploaded from . \\(by its .amlignore\\)"):
        api.apply("specs/mnist.yaml", target="azureml", environ={}, session=session)
    assert session.calls == []


def test_the_v2_append_row_file_is_where_the_sdks_download_puts_it(project: Path, tmp_path: Path) -> None:
    """azure-ai-ml's own download of a uri_file output (BlobStorageClient.download, the
    storage listing stubbed): named-outputs/<output>/<the file's name>, which `runner
    results` reads. The recording session writes the same layout."""
    from azure.ai.ml._artifacts._blob_storage_helper import BlobStorageClient

    from runner.azureml.submit import Wanted, _fetch

    blob = "runner/predict-digits-mnist/shy_lamp/inferences/mnist_outputs.txt"
    rows = b"0.png: 7\n"

    class Container:
        def list_blobs(self, name_starts_with: str, include: Any = None) -> list[Any]:
            assert name_starts_with == blob
            return [SimpleNamespace(name=blob, metadata={})]

        def download_blob(self, item: Any) -> Any:
            return SimpleNamespace(size=len(rows), content_as_bytes=lambda concurrency: rows)

    storage = BlobStorageClient("key", "https://wsaccount.blob.core.windows.net", "azureml-blobstore")
    storage.container_client = Container()

    def download(item: Wanted, dest: str) -> None:  # as jobs.download names its destination
        storage.download(starts_with=blob, destination=os.path.join(dest, "named-outputs", item.output))

    files = _fetch(download, [Wanted("predict-digits-mnist", "inferences", "mnist_outputs.txt")], tmp_path / "download")
    found = files["predict-digits-mnist"]
    assert found == str(tmp_path / "download" / "predict-digits-mnist" / "named-outputs" / "inferences" /
                        "mnist_outputs.txt")
    assert Path(found).read_bytes() == rows


def test_a_v1_snapshot_above_azures_file_limit_is_refused_first(project: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """azureml-core refuses a snapshot of more than 2000 files (SNAPSHOT_MAX_FILES) when it
    takes it, after the datastores and models were registered; AML_SNAPSHOT_NO_FILE_LIMIT
    lifts that limit there, and here."""
    (project / "notes").mkdir()
    for i in range(2001 - len(list_code(str(project)).files)):
        (project / "notes" / f"{i}.txt").write_text("")
    session = RecordingSession()
    with pytest.raises(api.RunError, match="the code snapshot of .: 2,001 files are above Azure ML's 2,000-file "
                                           "snapshot limit"):
        api.apply("specs/mnist.yaml", target="azureml", environ={}, session=session)
    assert session.calls == []
    monkeypatch.setenv("AML_SNAPSHOT_NO_FILE_LIMIT", "1")
    assert api.apply("specs/mnist.yaml", target="azureml", environ={}, session=session).status == "succeeded"
