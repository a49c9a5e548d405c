"""The programmatic entry point: what the CLI calls, usable from Python and notebooks.

Errors are exceptions (`SpecError` for a bad spec); nothing here prints or exits.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.plan.plan import Plan, build_plan
from runner.spec.diagnostics import SpecError
from runner.spec.load import LoadedSpec, load_spec
from runner.spec.schema import SPEC_SCHEMA_FILE, VARIANT_SCHEMA_FILE, dumps, spec_schema, variant_schema

__all__ = ["SpecError", "ValidationResult", "load", "plan", "validate", "write_schemas", "RUNS_DIR"]

# Where the local engine keeps its run folders, relative to the working directory.
RUNS_DIR = Path(".runner") / "runs"


@dataclass
class ValidationResult:
    path: str
    error: SpecError | None

    @property
    def ok(self) -> bool:
        return self.error is None


def load(spec: str, sets: Sequence[str] = (), set_params: Sequence[str] = (),
         environ: Mapping[str, str] | None = None) -> LoadedSpec:
    """Load and validate one spec (raises SpecError)."""
    return load_spec(spec, sets, set_params, environ)


def validate(specs: Sequence[str], sets: Sequence[str] = (), set_params: Sequence[str] = (),
             environ: Mapping[str, str] | None = None) -> list[ValidationResult]:
    """Validate each spec independently; never raises for a bad spec."""
    results = []
    for spec in specs:
        try:
            load_spec(spec, sets, set_params, environ)
            results.append(ValidationResult(spec, None))
        except SpecError as exc:
            results.append(ValidationResult(spec, exc))
    return results


def plan(spec: str, sets: Sequence[str] = (), set_params: Sequence[str] = (), target: str | None = None,
         environ: Mapping[str, str] | None = None) -> Plan:
    """The resolved spec and what it will run (raises SpecError)."""
    loaded = load_spec(spec, sets, set_params, environ)
    return build_plan(loaded, target=target, cpu_count=os.cpu_count() or 1)


def write_schemas(folder: str | Path) -> list[Path]:
    """Write the spec and variant JSON Schemas into `folder`; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in ((SPEC_SCHEMA_FILE, spec_schema()), (VARIANT_SCHEMA_FILE, variant_schema())):
        target = folder / name
        target.write_text(dumps(schema), encoding="utf-8")
        written.append(target)
    return written


def list_runs(root: Path = RUNS_DIR) -> list[Path]:
    """Run folders, oldest first (the local engine creates them)."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
