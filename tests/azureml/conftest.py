"""tests/azureml needs the Azure ML SDKs, which pin numpy and pandas below what the local
engine's tests use, so `make test` runs this folder in its own environment (.venv-azure).
Without the SDKs the folder is skipped with a note, unless RUNNER_AZURE_TESTS=1 (as make
sets it), where a missing SDK is an error: CI cannot pass by skipping these. The SDKs'
deprecation chatter is silenced with -p no:warnings (Makefile)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

try:
    import azure.ai.ml  # noqa: F401
    import azureml.core  # noqa: F401
    import azureml.pipeline.steps  # noqa: F401
except ImportError as exc:
    if os.environ.get("RUNNER_AZURE_TESTS") == "1":
        raise
    collect_ignore_glob = ["test_*.py"]
    print(f"tests/azureml skipped: the Azure ML SDKs are not installed here ({exc}); `make test` runs them")
else:
    from tests.azurite import Azurite, running
    from tests.azureml.wire import Wire, intercept


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository's specs and entry scripts, with small stand-in data and model files
    (the azure targets upload them; nothing here reads them), as the working directory."""
    for folder in ("specs", "entry_scripts"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    for i in range(3):
        (tmp_path / "data" / "mnist" / f"{i}.png").write_bytes(b"\x89PNG" + bytes([i]))
    (tmp_path / "models" / "mnist").mkdir(parents=True)
    (tmp_path / "models" / "mnist" / "model.keras").write_bytes(b"keras")
    (tmp_path / "data" / "tabular").mkdir(parents=True)
    (tmp_path / "data" / "tabular" / "part-0.csv").write_text("id,clinic,x\n0,north,1.5\n")
    (tmp_path / "data" / "tabular" / "MLTable").write_text("paths:\n  - pattern: ./*.csv\n")
    (tmp_path / "models" / "tabular").mkdir(parents=True)
    (tmp_path / "models" / "tabular" / "model.joblib").write_bytes(b"joblib")
    (tmp_path / "specs" / "config.json").write_text(  # what the studio's "download config.json" gives
        '{"subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg", '
        '"workspace_name": "ws"}\n')
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("AML_")]:
        monkeypatch.delenv(name)
    return tmp_path



@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite for the session (started on a free port, stopped at the end)."""
    with running(tmp_path_factory.mktemp("azurite")) as emulator:
        yield emulator


@pytest.fixture
def wire(azurite: Azurite, project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wire]:
    """The network under the SDKs for one test: every `requests` call answered by the
    wire (a test adds its fake service), blob storage forwarded to Azurite. $HOME is the
    test's own: azureml-core keeps its snapshot cache there."""
    monkeypatch.setenv("HOME", str(project / "home"))
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "MSI_ENDPOINT", "IDENTITY_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    network = Wire(azurite)
    with intercept(network):
        yield network
    assert not network.unrouted, f"requests no fake answers: {network.unrouted}"
