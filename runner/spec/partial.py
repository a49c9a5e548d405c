"""The parts of an invalid spec that are valid, for the cross-field rules.

When the models reject a spec, its references (a dataset name typo, a step output that
does not exist) would otherwise be reported only in the next round, after the field
errors are fixed. Each part is validated on its own; what passes is checked now, and
what failed is remembered by name so that references to it are not reported twice.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import TypeAdapter, ValidationError

from runner.spec.checks import Broken
from runner.spec.models import Azure, Dataset, ModelAsset, Spec, Step
from runner.spec.types import AssetName, ParameterValue, ParamName

_DATASET: TypeAdapter[Any] = TypeAdapter(Dataset)
_PARAMETER: TypeAdapter[Any] = TypeAdapter(ParameterValue)
_ASSET_NAME: TypeAdapter[str] = TypeAdapter(AssetName)
_PARAM_NAME: TypeAdapter[str] = TypeAdapter(ParamName)
_STEP: TypeAdapter[Step] = TypeAdapter(Step)
_MODEL: TypeAdapter[ModelAsset] = TypeAdapter(ModelAsset)
_AZURE: TypeAdapter[Azure] = TypeAdapter(Azure)


_REPAIRS = 3  # rounds of removing bad keys; each round removes every key an error names


def _valid(adapter: TypeAdapter[Any], value: Any, repaired: list[bool] | None = None) -> Any:
    """`value` validated, with the keys that fail removed (their defaults stand in, so
    the rest of the part can still be checked: a step with a bad node_count still has
    its inputs checked); None when a required field is what fails. `repaired` gets True
    appended when a key was removed."""
    value = copy.deepcopy(value)
    for _ in range(_REPAIRS):
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            if not all(_drop(value, tuple(error["loc"])) for error in exc.errors()):
                return None
            if repaired is not None:
                repaired.append(True)
    return None


def _drop(value: Any, loc: tuple[Any, ...]) -> bool:
    """Remove the deepest mapping key along `loc`; False when there is none to remove
    (a missing field, a bad list item, the part itself)."""
    parent, key = None, None
    node = value
    for part in loc:
        if isinstance(node, dict) and part in node:
            parent, key, node = node, part, node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            parent, key, node = None, None, node[part]
    if parent is None or key is None:
        return False
    del parent[key]
    return True


def _named(section: Any, names: TypeAdapter[str], values: TypeAdapter[Any],
           repaired: set[str] | None = None) -> tuple[dict[str, Any], set[str]]:
    """(valid entries, names of the broken ones) of a mapping section; `repaired` gets
    the names of entries valid once a field that failed was left out."""
    valid: dict[str, Any] = {}
    broken: set[str] = set()
    for name, value in (section.items() if isinstance(section, dict) else ()):
        dropped: list[bool] = []
        parsed = _valid(values, value, dropped) if _valid(names, name) is not None else None
        if parsed is None:
            broken.add(str(name))
        else:
            valid[name] = parsed
            if dropped and repaired is not None:
                repaired.add(str(name))
    return valid, broken


def _steps(section: Any, broken: Broken) -> list[Step]:
    steps: list[Step] = []
    indices: list[int] = []
    for index, item in enumerate(section if isinstance(section, list) else ()):
        step = _valid(_STEP, item)
        if step is not None:
            steps.append(step)
            indices.append(index)
            continue
        name = item.get("name") if isinstance(item, dict) else None
        output = item.get("output") if isinstance(item, dict) else None
        output_name = output.get("name") if isinstance(output, dict) else None
        if isinstance(name, str):
            broken.step_outputs[index] = (name, output_name if isinstance(output_name, str) else None)
    broken.step_indices = indices
    return steps


def partial_spec(plain: Any) -> tuple[Spec, Broken] | None:
    """A Spec built from the valid parts of `plain` (not validated as a whole), and what
    was left out; None when there is nothing to check."""
    if not isinstance(plain, dict):
        return None
    broken = Broken()
    datasets, broken.datasets = _named(plain.get("datasets"), _ASSET_NAME, _DATASET, broken.incomplete)
    models, broken.models = _named(plain.get("models"), _ASSET_NAME, _MODEL)
    parameters, _ = _named(plain.get("parameters"), _PARAM_NAME, _PARAMETER)
    azure = _valid(_AZURE, plain["azure"]) if plain.get("azure") is not None else None
    broken.azure = plain.get("azure") is not None and azure is None
    steps = _steps(plain.get("steps"), broken)
    spec = Spec.model_construct(parameters=parameters, datasets=datasets, models=models, azure=azure, steps=steps)
    return spec, broken
