"""Object storage for the local engine's tests: moto's S3 server and Azurite (the Azure
Storage emulator the wire tests use: tests/azurite.py), each on a free 127.0.0.1 port,
started once for the session and stopped at its end. Each store gives the environment a
`runner` process reads its credentials from (never the spec), and puts objects.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.azurite import KEY, running

S3_SECRET = "moto-secret-access-key-0123456789"


@dataclass
class Store:
    """One store: its URI scheme and container, the environment naming its endpoint and
    credentials, and a way to put (or overwrite) an object."""

    name: str
    env: dict[str, str]
    bucket: str
    _put: Callable[[str, bytes], object] = field(repr=False)

    def uri(self, key: str) -> str:
        return f"{'s3' if self.name == 's3' else 'az'}://{self.bucket}/{key}"

    def put(self, key: str, data: bytes) -> None:
        self._put(key, data)

    def upload(self, folder: Path, prefix: str) -> None:
        """Every file under `folder`, as objects under `prefix`."""
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.put(f"{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _s3_env(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "moto-access-key", "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


@pytest.fixture(scope="session")
def s3(s3_server: str) -> Store:
    import boto3

    env = _s3_env(s3_server)
    client = boto3.client("s3", endpoint_url=s3_server, aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=S3_SECRET, region_name="us-east-1")
    client.create_bucket(Bucket="runner-data")
    return Store("s3", env, "runner-data",
                 lambda key, data: client.put_object(Bucket="runner-data", Key=key, Body=data))


@pytest.fixture(scope="session")
def azurite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with running(tmp_path_factory.mktemp("azurite")) as emulator:
        emulator.ensure("runner-data")
        yield Store("azurite", {"AZURE_STORAGE_CONNECTION_STRING": emulator.connection_string()}, "runner-data",
                    lambda key, data: emulator.put("runner-data", key, data))


@pytest.fixture(params=["s3", "azurite"])
def store(request: pytest.FixtureRequest) -> Store:
    """Each store in turn."""
    return request.getfixturevalue("s3" if request.param == "s3" else "azurite_store")  # type: ignore[no-any-return]


WRONG_KEY = base64.b64encode(b"not-the-account-key-0123456789ab").decode()
assert WRONG_KEY != KEY
