"""Reading tabular descriptors into pandas DataFrames (in the workers).

A CSV or JSON Lines byte range [start, end) holds the rows whose line starts inside it:
the reader skips a partial first line and finishes the last one, so adjacent ranges
cover every row exactly once without the driver reading the file. (A quoted field with
a newline inside can straddle a cut; Azure's tabular datasets have the same limit.)
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from runner.local.descriptors import ByteRange, Descriptor, Partition, RowGroups

if TYPE_CHECKING:
    import pandas as pd

    from runner.plan.references import InputPlan

_CHUNK = 1 << 16


def read_descriptor(spec: InputPlan, descriptor: Descriptor) -> pd.DataFrame:
    if isinstance(descriptor, Partition):
        return _read_partition(spec, descriptor)
    if isinstance(descriptor, RowGroups):
        if descriptor.unreadable is not None:
            raise ValueError(f"cannot read {descriptor.path}: {descriptor.unreadable}")
        import pyarrow.parquet as pq

        return pq.ParquetFile(descriptor.path).read_row_groups(descriptor.row_groups).to_pandas()
    if isinstance(descriptor, ByteRange):
        data, header = _byte_range(descriptor.path, descriptor.start, descriptor.end,
                                   spec.header and descriptor.fmt == "csv")
        return _parse(spec, descriptor.fmt, header + data)
    # A list of files is a file dataset's mini-batch: a tabular input never makes one.
    raise ValueError(f"mini-batch {descriptor.id} names files, not table rows: {spec.reference} is tabular")


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


def _parse(spec: InputPlan, fmt: str, data: bytes, text_columns: list[str] | None = None) -> pd.DataFrame:
    import pandas as pd

    if fmt == "jsonl":
        return pd.read_json(io.BytesIO(data), lines=True, encoding=spec.encoding) if data.strip() else pd.DataFrame()
    if not data.strip():
        return pd.DataFrame()
    # Key columns stay text ("01" must not become 1), as the driver read them.
    return pd.read_csv(io.BytesIO(data), sep=spec.delimiter, header=0 if spec.header else None,
                       encoding=spec.encoding, dtype={c: str for c in text_columns or ()} or None)


def _byte_range(path: str, start: int, end: int, header: bool) -> tuple[bytes, bytes]:
    with open(path, "rb") as handle:
        head = handle.readline() if header else b""
        if start == 0:
            begin = len(head)
        else:
            # A range starts at the first line that begins at or after `start`.
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
    from runner.local.sources import table_format

    fmt = table_format(spec, path)
    if fmt == "parquet":
        import pandas as pd

        return pd.read_parquet(path)
    with open(path, "rb") as handle:
        return _parse(spec, fmt, handle.read(), text_columns)


def read_columns(spec: InputPlan, path: str, columns: list[str]) -> pd.DataFrame:
    """Only some columns of a whole file: what the driver reads to find partition keys."""
    import pandas as pd

    from runner.local.sources import table_format

    fmt = table_format(spec, path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        names = pq.ParquetFile(path).schema_arrow.names
        return pd.read_parquet(path, columns=[c for c in columns if c in names])
    if fmt == "jsonl":
        frame = pd.read_json(path, lines=True, encoding=spec.encoding)
        return frame[[c for c in columns if c in frame.columns]]
    return pd.read_csv(path, sep=spec.delimiter, header=0 if spec.header else None, encoding=spec.encoding,
                       usecols=lambda c: c in columns, dtype=str)
