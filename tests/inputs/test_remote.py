"""runner/inputs/remote.py without a store: what an error shows of a credential, and an
object's identity made from what each store library lists."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from runner.inputs.remote import is_store, safe_error, to_stat
from runner.local.partition.identity import item_identity, of_stat


def test_a_sas_token_in_an_error_url_is_hidden() -> None:
    error = OSError("GET https://acct.blob.core.windows.net/c/b.csv?sv=2024&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D&se=x "
                    "failed: 403")
    shown = safe_error(error)
    assert "c2VjcmV0LXNpZ25hdHVyZQ" not in shown and "sv=2024" not in shown
    assert shown == "OSError: GET https://acct.blob.core.windows.net/c/b.csv?*** failed: 403"


def test_an_account_key_and_the_credential_variables_are_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-K7MDENG-bPxRfiCY")
    error = ValueError("bad connection string DefaultEndpointsProtocol=https;AccountName=a;AccountKey=a2V5a2V5a2V5;"
                       "EndpointSuffix=core.windows.net, secret wJalrXUtnFEMI-K7MDENG-bPxRfiCY")
    shown = safe_error(error)
    assert "a2V5a2V5a2V5" not in shown and "wJalrXUtnFEMI" not in shown
    assert "AccountKey=***;EndpointSuffix" in shown


def test_a_long_error_is_cut_to_one_short_line() -> None:
    shown = safe_error(RuntimeError("line one\nline two " + "x" * 1000))
    assert "\n" not in shown and len(shown) < 450 and shown.startswith("RuntimeError: line one line two")


@pytest.mark.parametrize("info", [
    {"size": 5, "ETag": '"abc"', "LastModified": datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=timezone.utc)},  # s3fs
    {"size": 5, "etag": '"0x8D"', "last_modified": datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=timezone.utc)},  # adlfs
    {"size": 5, "generation": "1735786", "updated": "2026-01-02T03:04:05.000600Z"},  # gcsfs
    {"size": 5, "ETag": "W/\"x\"", "Last-Modified": "Fri, 02 Jan 2026 03:04:05 GMT"},  # an http server
])
def test_each_stores_listing_gives_size_time_and_a_change_marker(info: dict[str, object]) -> None:
    st = to_stat(info)
    assert st.st_size == 5 and st.st_mtime_ns // 10**9 == 1767323045 and st.st_ino != 0
    changed = to_stat({**info, **{k: "other" for k in ("ETag", "etag", "generation") if k in info}})
    assert of_stat(changed) != of_stat(st)  # a rewrite with the same size and second is still seen


def test_an_objects_item_identity_is_its_etag_not_a_read_of_its_content() -> None:
    st = to_stat({"size": 3, "ETag": '"e1"'})
    assert item_identity("s3://bucket/a.txt", st, digest=True) == [3, f"store-{st.st_ino}"]
    assert item_identity("s3://bucket/a.txt", st) == [3, st.st_mtime_ns, st.st_ino]


def test_only_object_storage_is_read_through_fsspec() -> None:
    assert is_store("s3://b/p/") and is_store("az://c/p") and is_store("abfs://c/p") and is_store("gs://b/p")
    assert is_store("https://host/file.csv")
    assert not is_store("azureml://datastores/d/paths/p") and not is_store("wasbs://c@a/p")
    assert not is_store("/data/s3://x")


def test_the_listing_digest_holds_an_objects_etag() -> None:
    """A rewrite of the same size within the same second differs only in its etag: the
    input fingerprint (allow_reuse) must still change. A local file's line is as before."""
    from runner.local.partition.sources import listing_line

    at = datetime(2026, 1, 2, tzinfo=timezone.utc)
    one = to_stat({"size": 3, "ETag": '"e1"', "LastModified": at})
    two = to_stat({"size": 3, "ETag": '"e2"', "LastModified": at})
    assert listing_line("s3://bucket/a.txt", one) != listing_line("s3://bucket/a.txt", two)
    assert listing_line("/data/a.txt", one) == b"/data/a.txt\x003\x00" + str(one.st_mtime_ns).encode() + b"\n"
