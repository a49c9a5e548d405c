"""A file dataset's objects on object storage, fetched for one mini-batch.

run() gets local paths, as Azure's download mode gives them: each object of the
mini-batch is copied into the worker's scratch folder (RUNNER_WORKING_DIR), under its
path below the dataset's location, and the copies are removed once the mini-batch is
done. The results and the failed-items report keep naming the objects by their URIs.
An object that cannot be fetched fails the mini-batch's try by name, as an unreadable
local file does.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Sequence
from typing import TYPE_CHECKING

from runner.inputs.remote import StoreError, is_store, open_input, safe_error
from runner.local.partition.identity import UnreadableInput

if TYPE_CHECKING:
    from runner.local.partition.descriptors import Descriptor
    from runner.plan.references import InputPlan

_FOLDER = "fetched"  # under the worker's scratch folder


class Fetched:
    """The local copies of the mini-batch in flight (one at a time per worker)."""

    def __init__(self, scratch: str) -> None:
        self.scratch = scratch  # the worker's, as the driver named it: not what run() may set
        self.folder: str | None = None

    def local_paths(self, files: list[str], inputs: Sequence[InputPlan], descriptor: Descriptor) -> list[str]:
        """`files` as run() reads them: local paths as they are, objects fetched."""
        if not any(is_store(path) for path in files):
            return list(files)  # a copy: run() may change it, and the worker reads the files after
        self.clear()
        self.folder = os.path.join(self.scratch, _FOLDER, str(descriptor.id))
        location = inputs[descriptor.input].location if 0 <= descriptor.input < len(inputs) else ""
        return [self._fetch(uri, location) if is_store(uri) else uri for uri in files]

    def _fetch(self, uri: str, location: str) -> str:
        assert self.folder is not None
        local = os.path.join(self.folder, _relative(uri, location))
        os.makedirs(os.path.dirname(local), exist_ok=True)
        try:
            with open_input(uri) as source, open(local, "wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
        except StoreError as exc:
            raise UnreadableInput(str(exc)) from exc
        except FileNotFoundError as exc:
            raise UnreadableInput(f"cannot fetch {_shown(uri)}: it no longer exists") from exc
        except Exception as exc:  # noqa: BLE001 - each store library raises its own errors
            raise UnreadableInput(f"cannot fetch {_shown(uri)}: {safe_error(exc)}") from exc
        return local

    def clear(self) -> None:
        """Remove the copies of the mini-batch that ran (what run() left there too)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _relative(uri: str, location: str) -> str:
    """The object's path below the dataset's location (its name for one object), kept
    inside the fetch folder whatever the URI holds."""
    base = location.split("?", 1)[0]
    magic = min((base.find(c) for c in "*?[" if c in base), default=-1)
    base = (base[:base.rfind("/", 0, magic)] if magic >= 0 else base).rstrip("/") + "/"
    name = uri.split("?", 1)[0]
    rest = name[len(base):] if name.startswith(base) else posixpath.basename(name)
    parts = [p for p in posixpath.normpath("/" + rest).split("/") if p not in ("", ".", "..")]
    return os.path.join(*parts) if parts else "object"


def _shown(uri: str) -> str:
    return uri.split("?", 1)[0]
