"""allow_reuse: a step whose definition, inputs and code are unchanged since an earlier
successful run reuses that run's output instead of running again (as Azure ML reuses a
step). The fingerprint covers the step's resolved definition, the listing of its inputs
(paths, sizes, modification times), the entry code under source_directory (contents,
honouring .amlignore, else .gitignore, as Azure's snapshot does), and the models and
side inputs (listing)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from runner.local.job import side_inputs
from runner.plan.plan import StepPlan
from runner.runs.folder import RunFolder
from runner.runs.records import RecordError

_SKIP_DIRS = {"__pycache__", "node_modules"}
_PRESENTATION = ("bindings", "mini_batch", "workers", "secret_env")
_CONTENT_LIMIT = 1 << 20  # larger files are fingerprinted by size and modification time


def fingerprint(job: StepPlan, listing: str, upstream: dict[str, str]) -> str:
    data = asdict(job)
    # Another step's output lives in this run's folder, a new path each run: its producer's
    # fingerprint stands for it, wherever it is read (input, side input or argument).
    items: list[dict[str, Any]] = [*data["inputs"], *data["side_inputs"],
                                   *[a["input"] for a in data["arguments"] if a["input"]]]
    for item in items:
        if item["step"] is not None:
            item["location"] = upstream.get(item["step"], "")
    for argument in data["arguments"]:
        if argument["input"] and argument["input"]["step"] is not None:
            argument["value"] = argument["input"]["location"]
    # What says how a value was written, not what runs: renaming a parameter, or binding a
    # field to one, changes nothing a step computes.
    for key in _PRESENTATION:
        data.pop(key, None)
    for item in (*items, *data["arguments"]):
        item.pop("parameter", None)
        item.pop("secret", None)
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode())
    digest.update(listing.encode())
    digest.update(source_digest(job.source_directory).encode())
    produced = {item.location for item in job.side_inputs if item.step is not None}
    for path in sorted({*job.models.values(), *side_inputs(job).values()} - produced):
        digest.update(_listing_digest(path).encode())
    return digest.hexdigest()


def source_digest(folder: str) -> str:
    rules = _ignore_rules(folder)
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        rel_root = os.path.relpath(root, folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS
                         and not _ignored(os.path.normpath(os.path.join(rel_root, d)), True, rules))
        for name in sorted(files):
            rel = os.path.normpath(os.path.join(rel_root, name))
            if _ignored(rel, False, rules) or name.endswith(".pyc"):
                continue
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
                digest.update(f"{rel}\0{st.st_size}\0".encode())
                if st.st_size <= _CONTENT_LIMIT:
                    with open(path, "rb") as handle:
                        digest.update(hashlib.sha256(handle.read()).digest())
                else:
                    digest.update(str(st.st_mtime_ns).encode())
            except OSError:
                continue
    return digest.hexdigest()


def _ignore_rules(folder: str) -> list[tuple[str, bool, bool]]:
    """(pattern, anchored, directory only) from .amlignore, else .gitignore. Negations
    are not supported; they are rare in these files and skipped."""
    for name in (".amlignore", ".gitignore"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            rules = []
            with open(path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    line = line.strip()
                    if not line or line.startswith(("#", "!")):
                        continue
                    dir_only = line.endswith("/")
                    line = line.rstrip("/")
                    anchored = "/" in line
                    rules.append((line.lstrip("/"), anchored, dir_only))
            return rules
    return []


def _ignored(rel: str, is_dir: bool, rules: list[tuple[str, bool, bool]]) -> bool:
    rel = rel.replace(os.sep, "/")
    for pattern, anchored, dir_only in rules:
        if dir_only and not is_dir:
            continue
        if anchored and fnmatch.fnmatch(rel, pattern):
            return True
        if not anchored and fnmatch.fnmatch(rel.rsplit("/", 1)[-1], pattern):
            return True
    return False


def _listing_digest(path: str) -> str:
    digest = hashlib.sha256()
    paths = [path] if os.path.isfile(path) else sorted(
        os.path.join(root, f) for root, _, files in os.walk(path) for f in files)
    for item in paths:
        try:
            st = os.stat(item)
        except OSError:
            continue
        digest.update(f"{item}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def find_reusable(runs: list[RunFolder], step: str, fingerprint_: str, exclude: str) -> RunFolder | None:
    """The latest run whose step with this fingerprint succeeded (or itself reused one)."""
    for run in reversed(runs):
        if run.id == exclude:
            continue
        try:
            info = run.step(step).read() if (run.path / step).is_dir() else None
        except RecordError:
            continue  # another version's run, or damaged: never reused
        if info is not None and info.fingerprint == fingerprint_ and info.status.ok:
            if (run.path / step / "outputs").is_dir():
                return run
    return None


def link_outputs(source: Path, target: Path) -> None:
    """Hard links where the file system allows (no copy, no extra space), else copies."""
    if target.exists():
        shutil.rmtree(target)

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)
