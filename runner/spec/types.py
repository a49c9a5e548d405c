"""Constrained value types shared by the spec models, with Azure ML's own rules."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainValidator, WithJsonSchema

# ParallelRunStep name: "unique for the workspace, only lowercase letters, numbers or
# dashes, start with a letter, and between 3 and 32 characters long".
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
Name = Annotated[str, Field(min_length=3, max_length=32, pattern=NAME_PATTERN)]

# Keys of parameters, datasets, models: they become Azure asset and parameter names and
# may appear in file names, so they are kept to a portable alphabet.
AssetName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")]
ParamName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
# PipelineData names: letters, digits and underscores.
OutputName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
EnvName = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
ExperimentName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]

MINI_BATCH_PATTERN = re.compile(r"^\d+([kKmMgG][bB])?$")
_UNITS = {"kb": 1024, "mb": 1024**2, "gb": 1024**3}
_MAX_BYTES = 1024**4  # a mini-batch is read into one worker's memory


def _no_bool(value: object) -> object:
    # YAML `true` is not a count; Pydantic's lax mode would read it as 1.
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


# Azure ML's counts and timeouts are 32-bit integers (ParallelRunConfig goes to the
# service as int32); a larger one is refused here rather than at submission, and keeps
# the local engine's arithmetic (timeouts, thresholds) in range.
INT32_MAX = 2**31 - 1
Int = Annotated[int, Field(le=INT32_MAX), BeforeValidator(_no_bool)]
Float = Annotated[float, Field(allow_inf_nan=False), BeforeValidator(_no_bool)]


def _mini_batch_size(value: object) -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("mini_batch_size must be a file count (e.g. 10) or a size string (e.g. 1MB)")
    if isinstance(value, int):
        if not 1 <= value <= INT32_MAX:
            raise ValueError(f"mini_batch_size must be between 1 and {INT32_MAX}")
        return value
    if not MINI_BATCH_PATTERN.match(value):
        raise ValueError(r"mini_batch_size must match ^\d+([kKmMgG][bB])?$ (e.g. 10, 1024KB, 10MB, 1GB)")
    digits = value.rstrip("kKmMgGbB")
    if len(digits) > 18 or not 1 <= mini_batch_bytes(value) <= _MAX_BYTES:
        raise ValueError("mini_batch_size must be between 1 byte and 1024GB")
    return value


def mini_batch_bytes(value: int | str) -> int:
    """'10MB' -> 10485760; a plain number is taken as is (files, or bytes for tabular)."""
    if isinstance(value, int):
        return value
    unit = value[-2:].lower()
    if unit in _UNITS:
        return int(value[:-2]) * _UNITS[unit]
    return int(value)


def is_size_string(value: int | str | None) -> bool:
    return isinstance(value, str) and value[-2:].lower() in _UNITS


MiniBatchSize = Annotated[
    int | str,
    PlainValidator(_mini_batch_size),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1},
                              {"type": "string", "pattern": MINI_BATCH_PATTERN.pattern}]}),
]

# Azure rejects these characters in append_row_file_name; we also refuse names that
# would leave the output folder or hide the file.
_BAD_FILE_CHARS = re.compile(r'[~"#%&*:<>?/\\{|}]')


def _file_name(value: str) -> str:
    # File systems count bytes: 200 "é" are 200 characters but 400 bytes.
    if len(value.encode("utf-8", "surrogatepass")) > 255:
        raise ValueError("file name longer than 255 bytes (UTF-8)")
    if _BAD_FILE_CHARS.search(value):
        raise ValueError('file name must not contain any of ~"#%&*:<>?/\\{|}')
    if value in {".", ".."} or value.startswith(".") or not value.strip() or any(ord(c) < 32 for c in value):
        raise ValueError("file name must be a plain, visible file name")
    return value


FileName = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_file_name)]


def _relative_path(value: str) -> str:
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value) or ".." in parts:
        raise ValueError("must be a relative path inside source_directory, without '..'")
    return value


RelativePath = Annotated[str, Field(min_length=1), AfterValidator(_relative_path)]


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ValueError("environment variable values must be strings or numbers")


EnvValue = Annotated[str, PlainValidator(_env_value), WithJsonSchema({"type": ["string", "number", "boolean"]})]


def _parameter_value(value: object) -> str | int | float | bool | dict[str, str]:
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        if set(value) != {"dataset"} or not isinstance(value["dataset"], str):
            raise ValueError("a dataset parameter is written {dataset: <name of a dataset>}")
        return {"dataset": value["dataset"]}
    raise ValueError("a parameter value must be a string, number, boolean or {dataset: <name>}")


# The values are what _parameter_value returns; the annotation is Any so that Pydantic
# builds no schema of its own for them (the validator alone decides, and they serialise as given).
ParameterValue = Annotated[
    Any,
    PlainValidator(_parameter_value),
    WithJsonSchema({"anyOf": [
        {"type": ["string", "number", "boolean"]},
        {"type": "object", "properties": {"dataset": {"type": "string"}},
         "required": ["dataset"], "additionalProperties": False},
    ]}),
]
