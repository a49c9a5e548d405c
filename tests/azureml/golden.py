"""Golden request bodies (tests/azureml/golden/): what the SDKs sent, with the values
that change from run to run (ids, digests of file listings, times, the upload folder's
timestamp) replaced by placeholders numbered in order of appearance, so a reference to
the same id stays visibly the same. RUNNER_UPDATE_GOLDEN=1 rewrites the files; review
the diff (`git diff tests/azureml/golden`) as you would a change to the code."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden"
_VOLATILE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # uuids (runs, snapshots, datasets)
    r"|\b\d{6}T\d{6}-[0-9a-f]{8}\b"  # LocalUpload/<time>-<random>
    r"|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?"  # times
    # hashes and digests by their lengths, other hex ids by a letter in them: a number
    # ("10485760", a size) is kept, so a changed number shows in the diff (issue 23.5)
    r"|(?<![0-9a-zA-Z])(?:[0-9a-f]{64}|[0-9a-f]{40}|[0-9a-f]{32}|[0-9a-f]{16}|(?=[0-9]*[a-f])[0-9a-f]{8,64})"
    r"(?![0-9a-zA-Z])"
    r"|\b1[789]\d{8}\b"  # epoch seconds (2023-2033)
    r"|\.runner/runs/[^/\"' ]+"  # the run folder's name (holds its start time)
    r"|/tmp/[^\"' ]+?/(?=specs|entry_scripts|data|models|\.runner)",  # the test's project folder
)


def normalise(value: Any) -> Any:
    seen: dict[str, str] = {}

    def token(match: re.Match[str]) -> str:
        return named(match.group(0))

    def named(text: str) -> str:
        if text not in seen:
            kind = "run" if text.startswith(".runner") else "project/" if text.startswith("/tmp/") else "id"
            seen[text] = f"<{kind}{len(seen) + 1}>" if kind == "id" else f"<{kind}>"
        return seen[text]

    def walk(item: Any, key: str = "") -> Any:
        if isinstance(item, dict):
            return {_VOLATILE.sub(token, k): walk(v, k) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, key) for v in item]
        if isinstance(item, str) and key.lower().endswith("id") and _is_hex_id(item):
            return named(item)  # a node id may be digits only
        if isinstance(item, str):
            return _VOLATILE.sub(token, item)
        return item

    return walk(value)


def _is_hex_id(text: str) -> bool:
    return 8 <= len(text) <= 64 and all(c in "0123456789abcdef" for c in text)


def check(name: str, value: Any) -> None:
    """Compare with golden/<name>.json (write it when RUNNER_UPDATE_GOLDEN=1)."""
    path = GOLDEN / f"{name}.json"
    text = json.dumps(normalise(value), indent=1, sort_keys=True) + "\n"
    if os.environ.get("RUNNER_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: RUNNER_UPDATE_GOLDEN=1 writes it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (f"the request body differs from {path} (RUNNER_UPDATE_GOLDEN=1 rewrites it; "
                              "review the diff)")


def unjson(value: Any) -> Any:
    """Values the SDK sends as JSON inside a string (run configs, dataflows), parsed, so
    the golden file shows them field by field."""
    if isinstance(value, dict):
        return {k: unjson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unjson(v) for v in value]
    if isinstance(value, str) and value[:1] in "{[" and value[-1:] in "}]":
        try:
            return unjson(json.loads(value))
        except ValueError:
            return value
    return value
