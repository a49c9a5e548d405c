"""The MLTable file of a local table folder, as azureml-v2 reads it: the one owner of its
shape where partition columns matter (what `validate --target azureml-v2` asks for and
checks). The shape is the one the `mltable` library (1.7.0) loads with the partitions
filled in, checked against the library itself in tests/azureml/test_mltable.py:

- `extract_columns_from_partition_format` takes a mapping `{partition_format: '/...'}`;
  the bare string form is refused by the library's schema;
- the read step needs `include_path_column: true`: without the path column the library
  loads the rows with every partition column empty (one partition, unlike local and v1);
  the path column is dropped after, so the rows have the local engine's columns.
The format is matched at the end of each file's path, with or without a leading slash
(azureml-examples' 1a_oj_sales_prediction writes `{Store}/{Brand}/{file_name}.{extension}`).

Pure: the file's text is handed in (runner/inputs/checks.py reads it).
"""

from __future__ import annotations

from typing import Any

import yaml

READERS = {"csv": "read_delimited", "parquet": "read_parquet", "jsonl": "read_json_lines"}
EXTRACT = "extract_columns_from_partition_format"


def partition_format_of(spec_format: str) -> str:
    """The spec's partition_format as written for the library: from a leading slash, as
    v1's Dataset.Tabular takes it."""
    return "/" + spec_format.lstrip("/")


def mltable_text(partition_format: str, format: str = "csv", delimiter: str = ",", header: bool = True,
                 encoding: str = "utf8") -> str:
    """The MLTable of a folder of tables partitioned by their paths, as the library loads it."""
    reader = READERS.get(format, "read_delimited")
    options: dict[str, Any] = {}
    if reader == "read_delimited":
        options = {"delimiter": delimiter, "header": "all_files_same_headers" if header else "no_header",
                   "encoding": encoding}
    suffix = {"read_delimited": ".csv", "read_parquet": ".parquet", "read_json_lines": ".jsonl"}[reader]
    body = {"paths": [{"pattern": "./**/*" + suffix}],
            "transformations": [{reader: {**options, "include_path_column": True}},
                                {EXTRACT: {"partition_format": partition_format_of(partition_format)}},
                                {"drop_columns": ["Path"]}]}  # the column include_path_column adds
    return yaml.safe_dump(body, sort_keys=False)


def shown_block(partition_format: str) -> str:
    """What the transformations need, as a message shows it (one line of YAML each)."""
    return (f"`include_path_column: true` on its read step and `- {EXTRACT}: "
            f"{{partition_format: '{partition_format_of(partition_format)}'}}`")


def partition_problem(text: str, partition_format: str) -> str | None:
    """Why the library would not give this partition_format's columns from this MLTable
    text (None: it would)."""
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError:
        return "is not YAML"
    steps = body.get("transformations") if isinstance(body, dict) else None
    if not isinstance(steps, list):
        return "has no transformations"
    wanted = partition_format_of(partition_format)  # compared without the leading slash
    extracts = [step[EXTRACT] for step in steps if isinstance(step, dict) and EXTRACT in step]
    if not extracts:
        return f"does not extract the partition columns (no {EXTRACT})"
    if not all(isinstance(e, dict) and isinstance(e.get("partition_format"), str) for e in extracts):
        return f"gives {EXTRACT} a value the mltable library refuses (it takes a mapping with partition_format)"
    if not any(e["partition_format"].lstrip("/") == wanted.lstrip("/") for e in extracts):
        return f"extracts another partition_format than '{wanted}'"
    readers = [step[name] for step in steps if isinstance(step, dict) for name in READERS.values() if name in step]
    if not any(isinstance(r, dict) and r.get("include_path_column") is True for r in readers):
        return "reads no path column (include_path_column: true), so every partition column would be empty"
    return None
