"""Datasets on object storage through the real CLI and engine: the same spec reading from
moto's S3 server, from Azurite and from a local folder gives the same rows; a changed
object is refused by `runner resume` as a changed local file is; a store that cannot be
read is a clear exit-2 error with no credential in it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.faults.test_crashes import run_id_of, start, wait_for
from tests.local.helpers import cli, expected_rows, make_files, output_rows, run_folder, write_spec
from tests.store.conftest import S3_SECRET, WRONG_KEY, Store


def _apply(root: Path, spec: str, env: dict[str, str] | None = None) -> str:
    result = cli("apply", spec, cwd=root, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout.strip()


def _failed_items(root: Path, run_id: str) -> list[dict[str, object]]:
    path = run_folder(root, run_id) / "score" / "failed_items.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_file_dataset_on_object_storage_gives_the_rows_of_the_same_local_folder(tmp_path: Path,
                                                                                  store: Store) -> None:
    data = tmp_path / "data"
    names = make_files(data, 7) + make_files(data / "sub", 3, start=7)
    prefix = f"files-{tmp_path.name}"
    store.upload(data, prefix)
    write_spec(tmp_path, mini_batch_size=2)
    local = _apply(tmp_path, "spec.yaml")
    write_spec(tmp_path, name="remote.yaml", mini_batch_size=2,
               dataset={"kind": "file", "path": store.uri(prefix + "/")})
    remote = _apply(tmp_path, "remote.yaml", store.env)
    assert sorted(output_rows(tmp_path, remote)) == sorted(output_rows(tmp_path, local)) == expected_rows(names)
    # Each mini-batch's copies are gone once it ran (run() read local files: the rows say so).
    assert not [p for p in (run_folder(tmp_path, remote) / "work").rglob("*") if p.is_file()]


def test_an_object_that_fails_is_listed_by_its_uri(tmp_path: Path, s3: Store) -> None:
    prefix = f"failing-{tmp_path.name}"
    make_files(tmp_path / "data", 4)
    s3.upload(tmp_path / "data", prefix)
    write_spec(tmp_path, name="remote.yaml", mini_batch_size=2, error_threshold=-1,
               env={"FAULT": "raise", "FAULT_ON": "f0002.txt"}, dataset={"kind": "file", "path": s3.uri(prefix)})
    run_id = _apply(tmp_path, "remote.yaml", s3.env)
    assert sorted(output_rows(tmp_path, run_id)) == expected_rows(["f0000.txt", "f0001.txt"])
    failed = _failed_items(tmp_path, run_id)
    assert [item["mini_batch"]["files"] for item in failed] == [  # type: ignore[index]
        [s3.uri(f"{prefix}/f0002.txt"), s3.uri(f"{prefix}/f0003.txt")]]
    assert "cannot score f0002.txt" in str(failed[0]["error"])


def _tables(folder: Path) -> None:
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.csv").write_text("id,text\n" + "".join(f"{i},row {i}\n" for i in range(1500)))
    frame = pd.DataFrame({"id": range(1500, 2500), "text": [f"parquet row {i}" * (i % 3) for i in range(1000)]})
    frame.to_parquet(folder / "b.parquet", row_group_size=200)
    (folder / "c.jsonl").write_text("".join(json.dumps({"id": i, "text": "j" * (i % 5)}) + "\n"
                                            for i in range(2500, 2900)))


def test_a_tabular_dataset_on_object_storage_gives_the_rows_of_the_same_local_folder(tmp_path: Path,
                                                                                     store: Store) -> None:
    _tables(tmp_path / "data")
    prefix = f"tables-{tmp_path.name}"
    store.upload(tmp_path / "data", prefix)
    write_spec(tmp_path, script="rows.py", dataset={"kind": "tabular", "path": "data/"}, mini_batch_size="4KB")
    local = _apply(tmp_path, "spec.yaml")
    write_spec(tmp_path, name="remote.yaml", script="rows.py", mini_batch_size="4KB",
               dataset={"kind": "tabular", "path": store.uri(prefix + "/")})
    remote = _apply(tmp_path, "remote.yaml", store.env)
    rows = output_rows(tmp_path, remote)
    assert len(rows) == 2900 and sorted(rows) == sorted(output_rows(tmp_path, local))
    # Cut into ranges and row groups, not read whole: as many mini-batches as locally.
    steps = [json.loads((run_folder(tmp_path, run) / "score" / "step.json").read_text()) for run in (local, remote)]
    assert steps[0]["mini_batches"] == steps[1]["mini_batches"] > 5


def _kill_after_commits(root: Path, count: int, env: dict[str, str]) -> str:
    proc = start(root, "apply", "remote.yaml", env=env)
    assert wait_for(root, count, proc), "the run ended before it was killed"
    proc.kill()
    proc.wait()
    return run_id_of(root)


def _ids(root: Path, run_id: str) -> list[int]:
    return [int(row.split()[0]) for row in output_rows(root, run_id)]


def test_an_object_changed_between_kill_and_resume_is_refused_as_a_changed_file_is(tmp_path: Path,
                                                                                   store: Store) -> None:
    """As tests/local/test_real_inputs.py's changed table: resume refuses, naming it; told
    to go on, its unfinished ranges fail by name and no row of the new version is read."""
    key = f"changed-{tmp_path.name}/t.csv"
    store.put(key, ("id,text\n" + "".join(f"{i},row {i}\n" for i in range(3000))).encode())
    write_spec(tmp_path, name="remote.yaml", script="rows.py", mini_batch_size="2KB", process_count_per_node=1,
               env={"SLEEP": "0.05"}, dataset={"kind": "tabular", "path": store.uri(key.split("/")[0])})
    run_id = _kill_after_commits(tmp_path, 3, store.env)
    before = set(_ids(tmp_path, run_id))
    store.put(key, ("id,text\n" + "".join(f"{i},row {i}\n" for i in range(-10, 3000))).encode())
    refused = cli("resume", run_id, cwd=tmp_path, env=store.env)
    assert refused.returncode == 2, refused.stderr
    assert "1 input files changed" in refused.stderr and store.uri(key) in refused.stderr
    assert "Traceback" not in refused.stderr
    assert set(_ids(tmp_path, run_id)) == before  # nothing ran
    accepted = cli("resume", run_id, "--accept-changed-inputs", cwd=tmp_path, env=store.env)
    assert "Traceback" not in accepted.stderr
    assert "going on; the unfinished mini-batches of 1 changed" in accepted.stderr
    ids = _ids(tmp_path, run_id)
    assert len(ids) == len(set(ids)) and set(ids) == before
    failed = _failed_items(tmp_path, run_id)
    assert failed and all("input changed since the run was planned" in str(f["error"]) for f in failed)


def test_a_missing_bucket_is_a_clear_error(tmp_path: Path, s3: Store) -> None:
    write_spec(tmp_path, name="remote.yaml", dataset={"kind": "file", "path": "s3://no-such-bucket/data/"})
    result = cli("apply", "remote.yaml", cwd=tmp_path, env=s3.env)
    assert result.returncode == 2, result.stderr
    assert "s3://no-such-bucket/data/ does not exist" in result.stderr
    assert "Traceback" not in result.stderr and S3_SECRET not in result.stderr


def test_refused_credentials_are_a_clear_error_without_the_key(tmp_path: Path, azurite_store: Store) -> None:
    azurite_store.put("creds/f.txt", b"1\n")
    wrong = azurite_store.env["AZURE_STORAGE_CONNECTION_STRING"]
    wrong = wrong.replace(wrong.split("AccountKey=")[1].split(";")[0], WRONG_KEY)
    write_spec(tmp_path, name="remote.yaml", dataset={"kind": "file", "path": azurite_store.uri("creds/")})
    result = cli("apply", "remote.yaml", cwd=tmp_path, env={"AZURE_STORAGE_CONNECTION_STRING": wrong})
    assert result.returncode == 2, result.stderr
    assert "cannot list az://runner-data/creds/" in result.stderr
    assert "Traceback" not in result.stderr and WRONG_KEY not in result.stderr
    for path in run_folder(tmp_path, "").parent.rglob("*"):  # nor in anything the run wrote
        if path.is_file():
            assert WRONG_KEY.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("path", ["s3://", "az://"])
def test_a_store_path_names_its_bucket(tmp_path: Path, path: str) -> None:
    write_spec(tmp_path, name="remote.yaml", dataset={"kind": "file", "path": path})
    result = cli("apply", "remote.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr


def test_an_object_removed_before_its_mini_batch_fails_that_mini_batch_by_name(tmp_path: Path, s3: Store) -> None:
    """A file dataset's objects are fetched when their mini-batch runs: one removed
    between a kill and `runner resume` fails its mini-batch's tries, named by its URI
    (as an unreadable local file would), and the others run."""
    import boto3

    prefix = f"removed-{tmp_path.name}"
    names = make_files(tmp_path / "data", 30)
    s3.upload(tmp_path / "data", prefix)
    write_spec(tmp_path, name="remote.yaml", mini_batch_size=2, process_count_per_node=1, error_threshold=-1,
               env={"SLEEP": "0.05"}, dataset={"kind": "file", "path": s3.uri(prefix)})
    run_id = _kill_after_commits(tmp_path, 2, s3.env)
    client = boto3.client("s3", endpoint_url=s3.env["AWS_ENDPOINT_URL"], aws_access_key_id="moto-access-key",
                          aws_secret_access_key=S3_SECRET, region_name="us-east-1")
    client.delete_object(Bucket=s3.bucket, Key=f"{prefix}/f0029.txt")
    resumed = cli("resume", run_id, cwd=tmp_path, env=s3.env)
    assert "Traceback" not in resumed.stderr, resumed.stderr
    assert sorted(output_rows(tmp_path, run_id)) == expected_rows(names[:28])
    [failed] = _failed_items(tmp_path, run_id)
    files = failed["mini_batch"]["files"]  # type: ignore[index]
    assert files == [s3.uri(f"{prefix}/f0028.txt"), s3.uri(f"{prefix}/f0029.txt")]
    assert str(failed["error"]).startswith(f"cannot fetch {s3.uri(prefix)}/f0029.txt: it no longer exists")


def test_one_file_over_http_is_read_as_a_dataset_of_one(tmp_path: Path) -> None:
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    served = tmp_path / "served"
    _tables(served)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/a.csv"
        write_spec(tmp_path, name="remote.yaml", script="rows.py", mini_batch_size="4KB",
                   dataset={"kind": "tabular", "path": url})
        run_id = _apply(tmp_path, "remote.yaml")
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(_ids(tmp_path, run_id)) == list(range(1500))


def test_allow_reuse_sees_an_object_rewritten_with_the_same_size(tmp_path: Path, s3: Store) -> None:
    """The input fingerprint holds each object's identity: a rewrite of the same size runs
    the step again (that the etag alone tells them apart: tests/inputs/test_remote.py)."""
    prefix = f"reuse-{tmp_path.name}"
    make_files(tmp_path / "data", 4)
    s3.upload(tmp_path / "data", prefix)
    write_spec(tmp_path, name="remote.yaml", step={"allow_reuse": True},
               dataset={"kind": "file", "path": s3.uri(prefix)})
    first = _apply(tmp_path, "remote.yaml", s3.env)
    again = _apply(tmp_path, "remote.yaml", s3.env)

    def reused(run: str) -> object:
        return json.loads((run_folder(tmp_path, run) / "score" / "step.json").read_text()).get("reused_from")

    assert reused(first) is None and reused(again) == first
    s3.put(f"{prefix}/f0003.txt", b"9\n")  # was "3\n"
    changed = _apply(tmp_path, "remote.yaml", s3.env)
    assert reused(changed) is None and "f0003.txt: 9" in output_rows(tmp_path, changed)


def test_resume_without_the_stores_credentials_says_so_not_that_inputs_changed(tmp_path: Path,
                                                                               azurite_store: Store) -> None:
    key = f"creds-{tmp_path.name}/t.csv"
    azurite_store.put(key, ("id,text\n" + "".join(f"{i},row {i}\n" for i in range(3000))).encode())
    write_spec(tmp_path, name="remote.yaml", script="rows.py", mini_batch_size="2KB", process_count_per_node=1,
               env={"SLEEP": "0.05"}, dataset={"kind": "tabular", "path": azurite_store.uri(key)})
    run_id = _kill_after_commits(tmp_path, 2, azurite_store.env)
    right = azurite_store.env["AZURE_STORAGE_CONNECTION_STRING"]
    wrong = right.replace(right.split("AccountKey=")[1].split(";")[0], WRONG_KEY)
    refused = cli("resume", run_id, cwd=tmp_path, env={"AZURE_STORAGE_CONNECTION_STRING": wrong})
    assert refused.returncode == 2, refused.stderr
    assert f"cannot look up {azurite_store.uri(key)}" in refused.stderr and "changed" not in refused.stderr
    assert "Traceback" not in refused.stderr and WRONG_KEY not in refused.stderr
    resumed = cli("resume", run_id, cwd=tmp_path, env=azurite_store.env)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(_ids(tmp_path, run_id)) == list(range(3000))


@pytest.mark.parametrize("by", ["partition_format", "partition_keys"])
def test_partitions_of_tables_on_object_storage_are_those_of_the_local_folder(tmp_path: Path, s3: Store,
                                                                              by: str) -> None:
    """Keys from the objects' paths below the prefix, or from their columns (read with
    only those columns), as from a local folder."""
    import pandas as pd

    for region, start in (("east", 0), ("west", 50), ("north", 100)):
        (tmp_path / "data" / region).mkdir(parents=True)
        ids = range(start, start + 50)
        pd.DataFrame({"id": ids, "x": [i % 7 for i in ids], "region": [region] * 50}).to_csv(
            tmp_path / "data" / region / "rows.csv", index=False)
    prefix = f"partitions-{tmp_path.name}"
    s3.upload(tmp_path / "data", prefix)
    fields = {"partition_format": "/{region}/rows.csv"} if by == "partition_format" else {}
    runs = []
    for name, path in (("spec.yaml", "data/"), ("remote.yaml", s3.uri(prefix + "/"))):
        write_spec(tmp_path, name=name, script="tabular.py", mini_batch_size=None, partition_keys=["region"],
                   dataset={"kind": "tabular", "path": path, **fields})
        runs.append(_apply(tmp_path, name, s3.env))
    rows = [sorted(output_rows(tmp_path, run)) for run in runs]
    assert len(rows[0]) == 150 and rows[0] == rows[1]
    steps = [json.loads((run_folder(tmp_path, run) / "score" / "step.json").read_text()) for run in runs]
    assert steps[0]["mini_batches"] == steps[1]["mini_batches"] == 3


def test_run_gets_local_copies_in_its_scratch_folder_under_their_path_below_the_prefix(tmp_path: Path,
                                                                                        s3: Store) -> None:
    prefix = f"paths-{tmp_path.name}"
    make_files(tmp_path / "data" / "deep" / "er", 2)
    make_files(tmp_path / "data", 1, start=2)
    s3.upload(tmp_path / "data", prefix)
    write_spec(tmp_path, name="remote.yaml", mini_batch_size=3, process_count_per_node=1,
               dataset={"kind": "file", "path": s3.uri(prefix + "/")})
    shutil.copy(Path(__file__).parent / "scripts" / "local_paths.py", tmp_path / "code" / "faulty.py")
    run_id = _apply(tmp_path, "remote.yaml", s3.env)
    assert sorted(output_rows(tmp_path, run_id)) == ["fetched/0/deep/er/f0000.txt 0", "fetched/0/deep/er/f0001.txt 1",
                                                     "fetched/0/f0002.txt 2"]
    assert not (run_folder(tmp_path, run_id) / "work" / "node0" / "process000" / "fetched" / "0").exists()
