"""Azurite, the Azure Storage emulator (npm package `azurite`, which `make test` installs
into .azurite/), started on a free 127.0.0.1 port and stopped after: for the wire tests (tests/azureml)
and the object-storage tests (tests/store).

The SDKs address blob storage as https://<account>.blob.core.windows.net/...; the wire
fakes forward those requests here unchanged, Host header included: Azurite reads the
account from a host name with a dot in it (its "production-style" URLs), so the
SharedKey signature the SDK computed over /<account>/<container>/<blob> still matches.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

BINARY = ROOT / ".azurite" / "node_modules" / ".bin" / "azurite-blob"
# The workspace's storage account in both fakes, and its key (base64, as Azure gives them).
ACCOUNT = "wsaccount"
KEY = base64.b64encode(b"wire-test-account-key-0123456789").decode()
# The spec's own datastore (mnist.yaml's mnist_datastore) lives in another account.
ACCOUNTS = {ACCOUNT: KEY, "pipelinedata": base64.b64encode(b"pipelinedata-key").decode()}
_LISTENING = re.compile(r"successfully listens on http://127\.0\.0\.1:(\d+)")


@dataclass
class Azurite:
    port: int

    def connection_string(self, account: str = ACCOUNT) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={ACCOUNTS[account]};"
                f"BlobEndpoint=http://127.0.0.1:{self.port}/{account};")

    def blobs(self, container: str, account: str = ACCOUNT) -> dict[str, bytes]:
        """Every blob in a container (path-style through azure-storage-blob, as a check
        independent of the SDK that wrote them)."""
        from azure.storage.blob import ContainerClient

        client = ContainerClient.from_connection_string(self.connection_string(account), container)
        if not client.exists():
            return {}
        return {b.name: client.download_blob(b.name).readall() for b in client.list_blobs()}

    def ensure(self, container: str, account: str = ACCOUNT) -> None:
        """A container the workspace made when it was created (Azure's, not the SDK's doing)."""
        from azure.storage.blob import ContainerClient

        client = ContainerClient.from_connection_string(self.connection_string(account), container)
        if not client.exists():
            client.create_container()

    def put(self, container: str, name: str, data: bytes, account: str = ACCOUNT) -> None:
        """What a run in Azure would have written (its outputs), for the download to find."""
        from azure.storage.blob import ContainerClient

        self.ensure(container, account)
        ContainerClient.from_connection_string(self.connection_string(account), container).upload_blob(
            name, data, overwrite=True)

    def container_sas(self, container: str) -> str:
        """A SAS for writing and listing a container's blobs (what a pending upload gives)."""
        from datetime import datetime, timedelta, timezone

        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        permission = ContainerSasPermissions(read=True, write=True, create=True, list=True, add=True)
        return generate_container_sas(ACCOUNT, container, account_key=ACCOUNTS[ACCOUNT], permission=permission,
                                      expiry=datetime.now(timezone.utc) + timedelta(hours=1))

    def sas_url(self, container: str, name: str, write: bool) -> str:
        """A blob's URL with a SAS signed by the account key (Azurite checks it), as the
        artifact service hands out for uploads and downloads."""
        from datetime import datetime, timedelta, timezone

        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        permission = BlobSasPermissions(read=True, write=write, create=write)
        sas = generate_blob_sas(ACCOUNT, container, name, account_key=ACCOUNTS[ACCOUNT], permission=permission,
                                expiry=datetime.now(timezone.utc) + timedelta(hours=1))
        return f"https://{ACCOUNT}.blob.core.windows.net/{container}/{name}?{sas}"


@contextmanager
def running(workdir: Path) -> Iterator[Azurite]:
    """Azurite on a free port (it picks one: --blobPort 0) until the block ends. Fails,
    never skips, when it is not installed: CI must not pass without it."""
    if not BINARY.exists():
        raise RuntimeError(f"Azurite is not installed at {BINARY}: `make azurite` (or `make test`) installs it")
    env = {**os.environ, "AZURITE_ACCOUNTS": ";".join(f"{a}:{k}" for a, k in ACCOUNTS.items())}
    process = subprocess.Popen(
        [str(BINARY), "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence",
         "--extentMemoryLimit", "256", "--skipApiVersionCheck", "--loose", "--silent"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=workdir)
    assert process.stdout is not None
    seen: list[str] = []
    port = None
    timer = threading.Timer(60, process.kill)  # a hung start fails the test run, not blocks it
    timer.start()
    try:
        for line in process.stdout:  # blocks until Azurite says where it listens (or exits)
            seen.append(line)
            match = _LISTENING.search(line)
            if match:
                port = int(match.group(1))
                break
    finally:
        timer.cancel()
    if port is None:
        process.kill()
        process.wait()
        raise RuntimeError("Azurite did not start:\n" + "".join(seen))
    # Keep reading its output so a full pipe never blocks it.
    threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True).start()
    try:
        yield Azurite(port)
    finally:
        process.terminate()  # it closes gracefully, waiting on idle keep-alive connections
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
