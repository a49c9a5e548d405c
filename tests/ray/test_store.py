"""Data on object storage through the ray target: each worker fetches its mini-batch's
objects on its node, with the node's own credentials (its environment: here the
cluster's, set before its nodes start), never the spec's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.local.helpers import cli, expected_rows, make_files, output_rows, write_spec
from tests.ray.conftest import LocalCluster, on_cluster
from tests.store.conftest import Store, azurite_store, s3, s3_server  # noqa: F401 - fixtures

pytest.importorskip("s3fs")
pytest.importorskip("adlfs")


@pytest.mark.parametrize("store_name", ["s3", "azurite_store"])
def test_a_file_dataset_on_object_storage_gives_the_local_folders_rows(
        tmp_path: Path, own_cluster: Callable[..., LocalCluster], monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest, store_name: str) -> None:
    store: Store = request.getfixturevalue(store_name)
    names = make_files(tmp_path / "data", 12)
    prefix = f"ray-{tmp_path.name}"
    store.upload(tmp_path / "data", prefix)
    for key, value in store.env.items():  # the nodes' own credentials
        monkeypatch.setenv(key, value)
    cluster = own_cluster(2)
    write_spec(tmp_path, mini_batch_size=2, node_count=2, process_count_per_node=1,
               dataset={"kind": "file", "path": store.uri(prefix) + "/"})
    result = cli("apply", "spec.yaml", *on_cluster(cluster.address), cwd=tmp_path, timeout=300, env=store.env)
    assert result.returncode == 0, result.stderr
    assert sorted(output_rows(tmp_path, result.stdout.strip())) == expected_rows(names)
    cluster.wait_idle()
