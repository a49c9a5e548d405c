"""What planning needs to know of this machine, read here so that runner.plan stays pure:
the working directory relative paths start from, and what is on disk at each dataset's
path (a folder, a file, its MLTable file), which a target's refusals depend on
(runner/plan/targets.py: azureml-v2 reads a local table through the MLTable in its folder).

And the files a spec names that `apply`'s pre-flight refuses to run without (its entry
script, source directory, local datasets and models): `validate` and `plan` say so
first, at the spec's file:line:col, so a gate built on them stops what cannot run.
"""

from __future__ import annotations

import dataclasses
import os
from itertools import islice
from typing import TYPE_CHECKING

from runner.plan.references import MLTABLE, is_remote, resolve_path
from runner.plan.targets import AZURE_TARGETS, DatasetOnDisk, used_datasets
from runner.spec.diagnostics import Diagnostic, Path_, did_you_mean
from runner.spec.load import diagnostic_at
from runner.spec.tree import Scalar, lookup

if TYPE_CHECKING:
    from runner.plan.plan import Plan
    from runner.spec.load import LoadedSpec


def plan_here(loaded: LoadedSpec, target: str | None = None, processes_per_node: int | None = None) -> Plan:
    """build_plan for this machine: relative paths start from the working directory, and
    the target checks see what the disk holds at each dataset's path now."""
    from runner.plan.plan import build_plan  # not at import: `runner validate` needs no plan

    cwd = os.getcwd()
    return build_plan(loaded, cwd=cwd, datasets=datasets_on_disk(loaded, cwd), target=target,
                      processes_per_node=processes_per_node)


def datasets_on_disk(loaded: LoadedSpec, cwd: str) -> dict[str, DatasetOnDisk]:
    """Each dataset of the spec by name, with what is at its path (relative to `cwd`); a
    datastore or asset URI names nothing on this machine and is not looked for."""
    found: dict[str, DatasetOnDisk] = {}
    for name, dataset in loaded.spec.datasets.items():
        path = resolve_path(loaded, ("datasets", name, "path"), dataset.path)
        if is_remote(path):
            found[name] = DatasetOnDisk(path)
            continue
        # Only a partition_format makes the check read the MLTable (its columns).
        found[name] = _on_disk(path, cwd, read_mltable=dataset.kind == "tabular" and bool(dataset.partition_format))
    return found


def _on_disk(path: str, cwd: str, read_mltable: bool) -> DatasetOnDisk:
    where = os.path.join(cwd, path)  # an absolute path stays itself
    if not os.path.isdir(where):
        return DatasetOnDisk(path, exists=os.path.exists(where))
    mltable = os.path.join(where, MLTABLE)
    if not os.path.isfile(mltable):
        return DatasetOnDisk(path, exists=True, is_folder=True)
    text = None
    if read_mltable:
        try:
            with open(mltable, "rb") as handle:
                text = handle.read()
        except OSError:
            pass  # unreadable: the partition check passes over it, as over a missing one
    return DatasetOnDisk(path, exists=True, is_folder=True, has_mltable=True, mltable=text)


_NOTE = "--no-files checks a spec away from its files without looking for them"
_MAX_NAMES = 10_000  # names read beside a missing path for a suggestion: a huge folder is not listed in full


def missing_files(loaded: LoadedSpec, target: str) -> list[Diagnostic]:
    """What `apply`'s pre-flight refuses on `target` for want of a file (relative to the
    working directory), each at the field that names it. A dataset on a datastore or
    other remote store names nothing here and is not looked for; nor is a glob's match."""
    problems: list[tuple[Path_, str, str]] = []
    for index, step in enumerate(loaded.spec.steps):
        field = ("steps", index, "parallel_run")
        folder = resolve_path(loaded, (*field, "source_directory"), step.parallel_run.source_directory)
        script = os.path.normpath(os.path.join(folder, step.parallel_run.entry_script))
        if not os.path.isdir(folder):
            problems.append(((*field, "source_directory"), folder, "is not a folder"))
        elif not os.path.isfile(script):
            problems.append(((*field, "entry_script"), script, "does not exist"))
        else:
            problems += [((*field, "entry_script"), script, problem) for problem in _syntax(script)]
    from runner.inputs.listing import is_glob  # not at import: `validate --no-files` lists nothing

    # Azure uploads the datasets a parameter names in the base too (its default); the
    # local engine reads what the steps name.
    on_disk = datasets_on_disk(loaded, os.getcwd())
    for name in used_datasets(loaded, base_parameters=target in AZURE_TARGETS):
        found = on_disk[name]
        if not found.exists and not is_remote(found.path) and not is_glob(found.path):
            problems.append((("datasets", name, "path"), found.path, "does not exist"))
    for name, model in loaded.spec.models.items():
        path = resolve_path(loaded, ("models", name, "path"), model.path)
        if not is_remote(path) and not os.path.exists(path):
            problems.append((("models", name, "path"), path, "does not exist"))
    diags = []
    for where, path, problem in problems:
        node, _, _ = lookup(loaded.tree, where)
        secret = isinstance(node, Scalar) and node.secret  # a path read from a secret is not shown
        shown = "(from a secret)" if secret else path
        hint = "" if secret else _hint(path)
        diag = diagnostic_at(loaded.tree, where, f"{shown} {problem}{hint}")
        diags.append(dataclasses.replace(diag, note="; ".join(n for n in (diag.note, _NOTE) if n)))
    return diags


def _syntax(script: str) -> list[str]:
    """The entry script's syntax error, as the pre-flight finds it before a worker imports it."""
    try:
        with open(script, "rb") as handle:
            compile(handle.read(), script, "exec")
    except SyntaxError as exc:
        return [f"has a syntax error at line {exc.lineno}: {exc.msg}"]
    except (OSError, ValueError) as exc:  # unreadable, or a NUL byte in it
        return [f"cannot be read as Python: {exc}"]
    return []


def _hint(path: str) -> str:
    """"; did you mean 'x'?" for the first part of `path` that is not there, from the
    names beside it (a typo is usually one name: `mnsit` for `mnist`)."""
    parts = os.path.normpath(path).split(os.sep)
    folder = os.sep if path.startswith(os.sep) else os.curdir
    for part in parts:
        if not part:
            continue
        if not os.path.exists(os.path.join(folder, part)):
            try:
                with os.scandir(folder) as entries:
                    names = [entry.name for entry in islice(entries, _MAX_NAMES)]
            except OSError:
                return ""
            return did_you_mean(part, names)
        folder = os.path.join(folder, part)
    return ""
