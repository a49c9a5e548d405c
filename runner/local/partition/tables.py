"""Reading tabular descriptors into pandas DataFrames (in the workers).

A CSV or JSON Lines byte range [start, end) was cut by the driver at record boundaries
(runner/local/partition/rowscan.py): the worker reads exactly those bytes, with the header record's
bytes before them, and checks that pandas read as many rows as the driver counted. A
range and the file it names must agree: the file must still be the one that was cut
(runner/local/partition/identity.py), and the rows must reconcile, or the mini-batch fails by
name. Ranges written before that (no "rows" in the line) are aligned to line ends here,
as they were then.
"""

from __future__ import annotations

import io
import warnings
from typing import IO, TYPE_CHECKING

from runner.inputs import remote
from runner.inputs.remote import open_input
from runner.local.partition.descriptors import ByteRange, Descriptor, Partition, RowGroups, files_of
from runner.local.partition.identity import UnreadableInput, check, check_open, shown

if TYPE_CHECKING:
    import pandas as pd

    from runner.plan.references import InputPlan


class RowsMismatch(UnreadableInput):
    """pandas read a range differently from how the driver cut the file."""


def read_descriptor(spec: InputPlan, descriptor: Descriptor) -> pd.DataFrame:
    """The mini-batch's rows. Whatever stops them being read (a parse error, an
    undecodable byte, a changed or missing file) is an UnreadableInput that names the
    file (and the bytes of a range), so the failed-items report says where to look."""
    try:
        return _read(spec, descriptor)
    except UnreadableInput:
        raise
    except Exception as exc:  # noqa: BLE001 - pandas and pyarrow raise many types for bad data
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UnreadableInput(f"cannot read {_where(descriptor)}: {type(exc).__name__}: {text}") from exc


def _where(descriptor: Descriptor) -> str:
    if isinstance(descriptor, ByteRange):
        where = f"{shown(descriptor.path)}, bytes {descriptor.start}-{descriptor.end}"
        if descriptor.start and descriptor.exact:  # pandas counts lines from the range's first (or its header)
            where += f" (line numbers count from byte {descriptor.start}{', after the header' if descriptor.head else ''})"
        return where
    if isinstance(descriptor, RowGroups):
        return f"{shown(descriptor.path)}, row groups {descriptor.row_groups}"
    files = files_of(descriptor) or []
    return ", ".join(shown(path) for path in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")


def _read(spec: InputPlan, descriptor: Descriptor) -> pd.DataFrame:
    if isinstance(descriptor, Partition):
        check(descriptor)
        return _read_partition(spec, descriptor)
    if isinstance(descriptor, RowGroups):
        if descriptor.unreadable is not None:
            raise UnreadableInput(f"cannot read {shown(descriptor.path)}: {descriptor.unreadable}")
        import pyarrow.parquet as pq

        with open_input(descriptor.path) as handle:  # a file object: pyarrow refuses names that are not UTF-8
            frame = pq.ParquetFile(handle).read_row_groups(descriptor.row_groups).to_pandas()
            check_open(handle, descriptor.path, descriptor.sig)  # as a byte range: the file read
        return frame
    if isinstance(descriptor, ByteRange):
        return _read_range(spec, descriptor)
    # A list of files is a file dataset's mini-batch: a tabular input never makes one.
    raise UnreadableInput(f"mini-batch {descriptor.id} names files, not table rows: {spec.reference} is tabular")


def _read_range(spec: InputPlan, descriptor: ByteRange) -> pd.DataFrame:
    with open_input(descriptor.path) as handle:
        if not descriptor.exact:
            data, head = _aligned_range(handle, descriptor.start, descriptor.end,
                                        spec.header and descriptor.fmt == "csv")
        else:
            head = b""
            if descriptor.head:
                handle.seek(descriptor.head[0])
                head = handle.read(descriptor.head[1] - descriptor.head[0])
            handle.seek(descriptor.start)
            data = handle.read(descriptor.end - descriptor.start)
        check_open(handle, descriptor.path, descriptor.sig)
    # The header applies where the range carries it, or where the file was not cut.
    header = spec.header and (bool(head) or descriptor.start == 0 or not descriptor.exact)
    frame = _parse(spec, descriptor.fmt, head + _decompressed(data, descriptor.path), header=header)
    if descriptor.rows is not None and len(frame) != descriptor.rows:
        raise RowsMismatch(
            f"{shown(descriptor.path)}, bytes {descriptor.start}-{descriptor.end}: pandas read {len(frame)} rows "
            f"where the file's layout holds {descriptor.rows}; its quoting or line ends are not what the reader "
            "expects, so the range fails rather than lose or invent rows")
    return frame


def _decompressed(data: bytes, path: str) -> bytes:
    """A compressed input's bytes (it is never cut: one mini-batch), by its suffix."""
    from runner.inputs.listing import compression_of

    kind = compression_of(path)
    if kind == "gzip":
        import gzip

        return gzip.decompress(data)
    if kind == "bz2":
        import bz2

        return bz2.decompress(data)
    if kind == "xz":
        import lzma

        return lzma.decompress(data)
    if kind == "zip":
        import zipfile

        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [name for name in archive.namelist() if not name.endswith("/")]
            if len(members) != 1:
                raise UnreadableInput(f"{shown(path)} holds {len(members)} files: a zip input must hold one table")
            return archive.read(members[0])
    return data


def _read_partition(spec: InputPlan, descriptor: Partition) -> pd.DataFrame:
    import pandas as pd

    text_columns = [] if descriptor.by_path else list(descriptor.keys)
    frames = [_read_whole(spec, path, text_columns) for path in descriptor.files]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    for key, value in descriptor.keys.items():
        if descriptor.by_path:
            frame[key] = value  # keys parsed from the path become columns, as on Azure
        else:
            frame = frame[key_text(frame[key]) == value]
    return frame.reset_index(drop=True)


def key_text(column: pd.Series) -> pd.Series:
    """A partition key's values as the text both the driver (grouping) and the workers
    (filtering) compare: missing is "", anything else str() of what was read."""
    return column.map(lambda v: "" if v is None or v != v else str(v)).astype(object)


def _parse(spec: InputPlan, fmt: str, data: bytes, text_columns: list[str] | None = None,
           header: bool | None = None) -> pd.DataFrame:
    import pandas as pd

    # Nothing but blank lines: no rows (pandas would say "No columns to parse"). A line of
    # whitespace holding the delimiter is a row of empty fields to pandas, so not blank.
    blank = b" \t\r\n" if fmt != "csv" else b" \t\r\n".replace(spec.delimiter.encode(), b"")
    if not data.removeprefix(b"\xef\xbb\xbf").strip(blank):
        return pd.DataFrame()
    if fmt in ("json", "jsonl"):  # a `.json` file: one JSON array of records, or JSON Lines
        data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM, which pandas' JSON reader refuses
        lines = fmt == "jsonl" or not data.lstrip(b" \t\r\n").startswith(b"[")
        return pd.read_json(io.BytesIO(data), lines=lines, encoding=spec.encoding)
    header = spec.header if header is None else header
    with warnings.catch_warnings():
        # A row with more fields than the header would lose the extra ones (pandas only
        # warns): an error instead. index_col=False: the first column is never taken
        # as the index, whichever row a range starts with.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        # Key columns stay text ("01" must not become 1), as the driver read them.
        return pd.read_csv(io.BytesIO(data), sep=spec.delimiter, header=0 if header else None,
                           encoding=spec.encoding, index_col=False,
                           dtype={c: str for c in text_columns or ()} or None)


def _aligned_range(handle: IO[bytes], start: int, end: int, header: bool) -> tuple[bytes, bytes]:
    """A range of a run planned before ranges were cut at record boundaries: the lines
    that start in [start, end), as that version read them (LF line ends only)."""
    head = handle.readline() if header else b""
    if start == 0:
        begin = len(head)
    else:
        handle.seek(start - 1)
        if handle.read(1) != b"\n":
            handle.readline()
        begin = max(handle.tell(), len(head))
    if begin >= end:
        return b"", head
    handle.seek(begin)
    data = handle.read(end - begin)
    if data and not data.endswith(b"\n"):
        data += handle.readline()  # finish the row that starts before `end`
    return data, head


def _read_whole(spec: InputPlan, path: str, text_columns: list[str] | None = None) -> pd.DataFrame:
    from runner.inputs.listing import table_format

    fmt = table_format(spec, path)
    if fmt == "parquet":
        import pandas as pd

        with open_input(path) as handle:
            return pd.read_parquet(handle)
    with open_input(path) as handle:
        return _parse(spec, fmt, _decompressed(handle.read(), path), text_columns)


def read_columns(spec: InputPlan, path: str, columns: list[str]) -> pd.DataFrame:
    """Only some columns of a whole file: what the driver reads to find partition keys."""
    import pandas as pd

    from runner.inputs.listing import table_format

    fmt = table_format(spec, path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with open_input(path) as handle:
            parquet = pq.ParquetFile(handle)
            names = parquet.schema_arrow.names
            return parquet.read(columns=[c for c in columns if c in names]).to_pandas()
    if fmt in ("json", "jsonl"):
        frame = _read_whole(spec, path)
        return frame[[c for c in columns if c in frame.columns]]
    if remote.is_store(path):
        with open_input(path) as handle:
            return pd.read_csv(handle, sep=spec.delimiter, header=0 if spec.header else None, encoding=spec.encoding,
                               usecols=lambda c: c in columns, dtype=str)
    return pd.read_csv(path, sep=spec.delimiter, header=0 if spec.header else None, encoding=spec.encoding,
                       usecols=lambda c: c in columns, dtype=str)
