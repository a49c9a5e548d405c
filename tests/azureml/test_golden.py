"""The golden files' normaliser hides what changes from run to run, and nothing else: a
number that is not an id stays, so a changed size shows in the diff (issue 23.5)."""

from __future__ import annotations

from tests.azureml.golden import normalise


def test_numbers_are_kept_and_ids_hidden() -> None:
    body = {"mini_batch_size": "10485760", "NodeId": "12345678", "Id": "3fa2b1c0",
            "path": "runner/spec/mnist/0123456789012345/x", "tag": "image:20251130.v1",
            "Edges": [{"NodeId": "3fa2b1c0"}], "created": "2026-01-01T00:00:00Z"}
    assert normalise(body) == {
        "mini_batch_size": "10485760",  # was "<id1>": a changed size went unnoticed
        "NodeId": "<id1>", "Id": "<id2>",  # node ids, digits only or not
        "path": "runner/spec/mnist/<id3>/x",  # a listing digest (16 hex digits)
        "tag": "image:20251130.v1",
        "Edges": [{"NodeId": "<id2>"}], "created": "<id4>"}
