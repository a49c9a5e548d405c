"""What the service accepts of a v2 parallel component and a pipeline job's parallel node,
for the fake (service_v2.py) to refuse what the service would, with the service's 400.

Fields and their JSON types: those of a parallel component the real service accepted (201)
in azure-ai-ml's recorded test session `component/e2etests/test_component.py
TestComponenttest_parallel_component.json` (Azure/azure-sdk-assets, commit 0f205ad0,
azure-ai-ml 1.32.0, api-version 2024-01-01-preview), plus the optional ones the CLI (v2)
parallel job reference lists. Ranges and enums: that reference and "How to use parallel
job in pipeline" (retry_settings.timeout (0, 259200], retry_settings.max_retries
[0, int.max], mini_batch_error_threshold and error_threshold [-1, int.max], logging_level
INFO/WARNING/DEBUG, task.type run_function)."""

from __future__ import annotations

from typing import Any

INT_MAX = 2**31 - 1
# field -> JSON type(s), as the recorded request body sent them
COMPONENT_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,), "description": (str,), "version": (str,), "$schema": (str,), "display_name": (str,),
    "is_deterministic": (bool,), "inputs": (dict,), "outputs": (dict,), "type": (str,), "resources": (dict,),
    "logging_level": (str,), "task": (dict,), "mini_batch_size": (str,), "input_data": (str,),
    "retry_settings": (dict,), "max_concurrency_per_instance": (int,), "error_threshold": (int,),
    "mini_batch_error_threshold": (int,), "_source": (str,),
    # in the reference, not in that recording
    "partition_keys": (list, str), "environment_variables": (dict,), "tags": (dict,),
}
TASK_FIELDS = {"type", "code", "entry_script", "program_arguments", "append_row_to", "environment"}
RETRY_FIELDS = {"timeout", "max_retries"}
LOGGING_LEVELS = {"INFO", "WARNING", "DEBUG"}


def _binding(value: Any) -> bool:
    """`${{parent.inputs.x}}`: a value the service takes from a pipeline input."""
    return isinstance(value, str) and value.startswith("${{") and value.endswith("}}")


def _in_range(name: str, value: Any, low: int, high: int, low_open: bool = False) -> list[str]:
    if _binding(value):
        return []
    if isinstance(value, bool) or not isinstance(value, int):
        return [f"{name}: {value!r} is not an integer"]
    if value < low or (low_open and value == low) or value > high:
        bracket = "(" if low_open else "["
        return [f"{name}: {value} is outside {bracket}{low}, {high}]"]
    return []


def settings_problems(spec: dict[str, Any]) -> list[str]:
    """The ranges and enums of a parallel component's or node's settings."""
    problems: list[str] = []
    retry = spec.get("retry_settings") or {}
    problems += [f"retry_settings.{k}: unknown field" for k in retry if k not in RETRY_FIELDS]
    if "timeout" in retry:
        problems += _in_range("retry_settings.timeout", retry["timeout"], 0, 259200, low_open=True)
    if "max_retries" in retry:
        problems += _in_range("retry_settings.max_retries", retry["max_retries"], 0, INT_MAX)
    for name in ("error_threshold", "mini_batch_error_threshold"):
        if name in spec:
            problems += _in_range(name, spec[name], -1, INT_MAX)
    if "max_concurrency_per_instance" in spec:
        problems += _in_range("max_concurrency_per_instance", spec["max_concurrency_per_instance"], 1, INT_MAX)
    if "instance_count" in (spec.get("resources") or {}):
        problems += _in_range("resources.instance_count", spec["resources"]["instance_count"], 1, INT_MAX)
    level = spec.get("logging_level")
    if level is not None and not _binding(level) and level not in LOGGING_LEVELS:
        problems.append(f"logging_level: {level!r} is not one of {sorted(LOGGING_LEVELS)}")
    return problems


def component_problems(spec: dict[str, Any]) -> list[str]:
    """Why the service would refuse this parallel componentSpec ([] where it accepts it)."""
    problems = [f"{k}: unknown field" for k in spec if k not in COMPONENT_FIELDS]
    problems += [f"{k}: {type(v).__name__} where the service takes {'/'.join(t.__name__ for t in COMPONENT_FIELDS[k])}"
                 for k, v in spec.items() if k in COMPONENT_FIELDS and not isinstance(v, COMPONENT_FIELDS[k])]
    task = spec.get("task") or {}
    problems += [f"task.{k}: unknown field" for k in task if k not in TASK_FIELDS]
    if task.get("type") != "run_function":
        problems.append(f"task.type: {task.get('type')!r} is not run_function")
    if not str(spec.get("input_data", "")).startswith("${{inputs."):
        problems.append("input_data: must name one of the inputs (${{inputs.<name>}})")
    return problems + settings_problems(spec)
