"""What planning needs to know of this machine, read here so that runner.plan stays pure:
the working directory relative paths start from, and what is on disk at each dataset's
path (a folder, a file, its MLTable file), which a target's refusals depend on
(runner/plan/targets.py: azureml-v2 reads a local table through the MLTable in its folder).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from runner.plan.references import MLTABLE, is_remote, resolve_path
from runner.plan.targets import DatasetOnDisk

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
