"""The Ray actor class of a worker's host, sent to the nodes by value (its code in the
actor's pickle), so that it loads on a node whatever runner that node has, or none.

As it starts, it compares the node's own `runner` package with the driver's (by digest
of their files, without importing the node's): where they are the same files (an
installed runner, a shared environment, an image with it) the node's is imported; where
they differ or the node has none, the driver's package, which travels with every actor
as an object-store reference, is fetched and unpacked once per node and imported
instead, by the host and by the worker it starts (runner/local/transport/processes.py
puts the imported package's folder first on the worker's path). Every node decides for
itself as its actor starts: nothing is asked of the nodes before the run, and a node
that joins later is checked as any other.

Only the standard library here, at module level and in what the actor runs: this code
is unpickled on a node before any runner package is chosen.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable
from typing import Any

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the driver's runner/


def packed(root: str = PACKAGE) -> tuple[str, bytes]:
    """A runner package's digest (its files' names and bytes, not their bytecode) and, as
    an uncompressed zip, its files: one reading of each."""
    files = _files(root)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files:
            archive.writestr(f"runner/{name}", data)
    return _digest(files), buffer.getvalue()


def package_digest(root: str) -> str:
    return _digest(_files(root))


def _digest(files: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


def _files(root: str) -> list[tuple[str, bytes]]:
    """The package's files but its bytecode, by name relative to it (`/`-separated), in order."""
    found = []
    for parent, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in files:
            path = os.path.join(parent, name)
            if os.path.isfile(path):
                found.append((os.path.relpath(path, root).replace(os.sep, "/"), path))
    found.sort()
    result = []
    for name, path in found:
        with open(path, "rb") as handle:
            result.append((name, handle.read()))
    return result


class Host:
    """A worker's host as the Ray actor (`max_concurrency` > 1: `end` is answered while
    `serve` waits): the node's runner or the driver's, chosen, then runner/ray/host.py's
    WorkerHost from it does the work."""

    def __init__(self, digest: str, shipped: list[Any]) -> None:
        """`shipped`: [the ObjectRef of the driver's package zip], in a list so that Ray
        fetches it only where it is needed."""
        _choose_runner(digest, shipped)
        from runner.ray.host import WorkerHost

        self.host = WorkerHost()

    def serve(self, *args: Any) -> int:
        return int(self.host.serve(*args))

    def signal(self, sig: int) -> None:
        self.host.signal(sig)

    def end(self) -> None:
        self.host.end()

    def peak_memory_mb(self) -> float | None:
        return self.host.peak_memory_mb()


def _choose_runner(digest: str, shipped: list[Any]) -> None:
    """Make the driver's runner the one `import runner` finds here: the node's own where
    its files are the same, else the shipped one."""
    import importlib.util

    found = importlib.util.find_spec("runner")  # found, not imported
    origin = found.origin if found is not None else None
    if origin and package_digest(os.path.dirname(origin)) == digest:
        return

    def fetch() -> bytes:
        import ray

        return bytes(ray.get(shipped[0]))
    sys.path.insert(0, unpacked(fetch, "runner-package", digest[:32]))
    for name in [n for n in sys.modules if n == "runner" or n.startswith("runner.")]:
        del sys.modules[name]  # a node's other runner, if anything imported it
    importlib.invalidate_caches()


def unpacked(fetch: Callable[[], bytes], folder: str, name: str) -> str:
    """A zip of ours (`fetch` gives its bytes, asked only if needed) unpacked as `name`
    under `folder` in this node's temp folder, once per node: the actors of a node share
    it, and one that loses the race to rename drops its copy. The driver's runner
    package here; the step's code snapshot in runner/ray/host.py."""
    parent = os.path.join(tempfile.gettempdir(), folder)
    root = os.path.join(parent, name)
    if not os.path.isdir(root):
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f"{name}.", dir=parent)
        with zipfile.ZipFile(io.BytesIO(fetch())) as archive:
            archive.extractall(staging)  # our own archive; extractall keeps names inside staging
        try:
            os.rename(staging, root)
        except OSError:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
    return root
