"""Datasets on object storage, read through fsspec on the local engine (and the engines
built on it): `s3://` (s3fs), `az://`, `abfs://`, `abfss://` (adlfs), `gs://` (gcsfs),
and `https://` for one file.

Credentials come from the environment, through each store's usual chain (AWS_* and
AWS_ENDPOINT_URL for S3; AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME
and _KEY for Azure; Google's application default credentials), never from the spec. A
store's error can hold a URL with a SAS token or a key: `safe_error` hides them.

An object's identity stands where a local file's stat does, so the engine's listing,
fingerprint and changed-input checks treat both alike: an `os.stat_result` whose size
and modification time are the object's, and whose inode is a 60-bit hash of what the
store changes with every write (its etag, generation or version). The store libraries
are imported only when a remote path is read: the Azure environments lack them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Iterator
from typing import IO, Any

from runner.errors import ExitCode, RunnerError
from runner.spec.secrets import REDACTED, redact

# What the local engine reads through fsspec. `azureml://` and `wasbs://` stay the Azure
# targets' own; `http(s)://` names one file.
STORE_PREFIXES = ("s3://", "gs://", "gcs://", "az://", "abfs://", "abfss://", "https://", "http://")
_SINGLE_FILE = ("https://", "http://")
_MAGIC = "*?["
# Environment variables whose values are credentials a store library may echo.
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AZURE_STORAGE_ACCOUNT_KEY",
               "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CLIENT_SECRET")
_MESSAGE_MAX = 400


class StoreError(RunnerError):
    """Object storage cannot be listed or read: a missing bucket, refused credentials, no
    such object, or the store's library not installed (exit 2)."""

    exit_code = ExitCode.USAGE


def is_store(path: str) -> bool:
    return path.startswith(STORE_PREFIXES)


def safe_error(exc: BaseException) -> str:
    """A store library's error as one line without a credential: the values of the
    credential variables, and every URL's query (where SAS tokens and signatures ride)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text.split(" Content: <?xml", 1)[0]  # Azure's reply again, after its message
    text = redact(text, [os.environ.get(name, "") for name in _SECRET_ENV])
    for marker in ("AccountKey=", "SharedAccessSignature=", "sig="):
        text = _cut_values(text, marker)
    text = _cut_queries(text)
    if len(text) > _MESSAGE_MAX:
        text = text[:_MESSAGE_MAX] + "..."
    return f"{type(exc).__name__}: {text}"


def _cut_values(text: str, marker: str) -> str:
    """`marker` followed by its value (up to ; & space or quote) as `marker***`."""
    out, start = [], 0
    found = text.find(marker)
    while found >= 0:
        end = found + len(marker)
        out.append(text[start:end] + REDACTED)
        while end < len(text) and text[end] not in ";& '\"":
            end += 1
        start = end
        found = text.find(marker, start)
    return "".join(out) + text[start:]


def _cut_queries(text: str) -> str:
    out, start = [], 0
    found = text.find("://")
    while found >= 0:
        end = found
        while end < len(text) and text[end] not in " '\"<>":
            end += 1
        url = text[start:end]
        query = url.find("?", found - start)
        out.append(url if query < 0 else url[:query + 1] + REDACTED)
        start = end
        found = text.find("://", start)
    return "".join(out) + text[start:]


# The store libraries' loggers. They log failed retries with tracebacks (gcsfs) and
# warnings that name URLs; with no handler of ours Python's last resort prints them on the
# terminal, around the one clear message the error becomes. A NullHandler stops that; a
# worker's log file (a handler on the root) still gets them.
_LIBRARY_LOGGERS = ("fsspec", "s3fs", "aiobotocore", "botocore", "adlfs", "azure", "gcsfs", "google")


def _quiet_libraries() -> None:
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system for a URL, and the path in it. Instances are cached by
    fsspec per set of arguments (one client per process and store)."""
    _quiet_libraries()
    try:
        import fsspec.core
    except ImportError as exc:
        raise StoreError(f"{_scheme(url)}:// paths need the store extra: pip install 'runner[store]'") from exc
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as exc:  # fsspec names the package that reads this scheme
        raise StoreError(f"{_scheme(url)}:// paths need {exc}: pip install 'runner[store]'") from exc
    except Exception as exc:  # noqa: BLE001 - a client that cannot be made (bad configuration)
        raise StoreError(f"cannot reach {_shown_url(url)}: {safe_error(exc)}") from exc
    return fs, path


def _scheme(url: str) -> str:
    return url.split("://", 1)[0]


def _shown_url(url: str) -> str:
    """A URL as messages show it: without its query (a SAS token may ride there)."""
    return url.split("?", 1)[0] + ("?" + REDACTED if "?" in url else "")


def to_stat(info: dict[str, Any]) -> os.stat_result:
    """An object's listing entry as a stat: size, modification time, and as the inode a
    hash of its etag / generation / version (a store's own change marker)."""
    marker = ""
    for key in ("ETag", "etag", "generation", "VersionId", "version_id", "Content-MD5", "md5Hash", "Digest"):
        if info.get(key):
            marker = f"{key}={info[key]}"
            break
    mtime = _nanoseconds(next((info[k] for k in ("LastModified", "last_modified", "updated", "mtime",
                                                 "Last-Modified", "modified") if info.get(k)), None))
    size = int(info.get("size") or 0)
    ino = int.from_bytes(hashlib.sha256(marker.encode()).digest()[:8], "big") >> 4 if marker else 0
    seconds = mtime // 1_000_000_000
    # (mode, ino, dev, nlink, uid, gid, size, atime, mtime, ctime), then the float times
    # and the nanosecond ones.
    return os.stat_result((stat.S_IFREG | 0o444, ino, 0, 1, 0, 0, size, seconds, seconds, seconds,
                           float(seconds), mtime / 1e9, float(seconds), mtime, mtime, mtime))


def _nanoseconds(value: Any) -> int:
    # Imported here: workers import this module, and only a store's listing needs them.
    from datetime import datetime
    from email.utils import parsedate_to_datetime

    if value is None:
        return 0
    if isinstance(value, (int, float)):
        return int(value * 1_000_000_000)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                value = parsedate_to_datetime(value)  # an HTTP date (Last-Modified)
            except (TypeError, ValueError):
                return 0
    if isinstance(value, datetime):
        return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000
    return 0


def stat_objects(location: str) -> Iterator[tuple[str, os.stat_result]]:
    """The objects a location names, each by its URI (in the location's own scheme) with
    its identity: everything under a prefix (a folder), the objects a glob matches, or
    one object. In the order a local folder is walked: by path, folder by folder."""
    scheme = _scheme(location)
    fs, root = filesystem(location)
    try:
        if location.startswith(_SINGLE_FILE):
            found = {root: fs.info(location)}
        elif any(c in location for c in _MAGIC):
            found = fs.glob(root, detail=True)
        else:
            found = fs.find(root, detail=True, withdirs=False)
            if isinstance(found, list):  # adlfs gives names, not details, for nothing or one blob
                found = {name: fs.info(name) for name in found}
            if not found:  # one object, or nothing: a bucket or prefix that is not there says so
                found = {root: fs.info(root)}
    except FileNotFoundError as exc:
        raise StoreError(f"{_shown_url(location)} does not exist (no such bucket, container or object)") from exc
    except Exception as exc:  # noqa: BLE001 - each store library raises its own errors
        raise StoreError(f"cannot list {_shown_url(location)}: {safe_error(exc)}") from exc
    entries = [(path, info) for path, info in found.items() if info.get("type", "file") == "file"]
    entries.sort(key=lambda entry: entry[0].split("/"))
    for path, info in entries:
        uri = location if location.startswith(_SINGLE_FILE) else f"{scheme}://{path.lstrip('/')}"
        yield uri, to_stat(info)


def identity(uri: str) -> os.stat_result | None:
    """What an object is now (asked of the store, not a cached listing), None when gone."""
    fs, path = filesystem(uri)
    try:
        fs.invalidate_cache()
        return to_stat(fs.info(uri if uri.startswith(_SINGLE_FILE) else path))
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - each store library raises its own errors
        raise StoreError(f"cannot look up {_shown_url(uri)}: {safe_error(exc)}") from exc


def open_input(path: str) -> IO[bytes]:
    """A binary file object for a local path or an object's URI (read by ranges)."""
    if not is_store(path):
        return open(path, "rb")
    fs, inner = filesystem(path)
    try:
        handle: IO[bytes] = fs.open(path if path.startswith(_SINGLE_FILE) else inner, "rb")
    except FileNotFoundError:
        raise  # gone since it was listed: as a local file that was removed
    except Exception as exc:  # noqa: BLE001 - each store library raises its own errors
        raise StoreError(f"cannot open {_shown_url(path)}: {safe_error(exc)}") from exc
    return handle
