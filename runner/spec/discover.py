"""Which YAML files below a folder are runner specs, for `runner validate DIR`.

A repository holds other YAML too (CI workflows, pre-commit and conda files, Azure
DevOps pipelines, MLTable files), so a folder is searched by a rule, not by suffix alone.
Below a folder, a `*.yaml` or `*.yml` file is a spec when:

- its name does not start with `.` or `_`, nor does a folder on its way: hidden files
  are tool configuration, and `_base.yaml` is a fragment that specs extend (it is
  validated through them), as the golden corpus keeps its bases;
- and it names a runner schema in its `# yaml-language-server: $schema=` line, or its
  top level is a mapping with `extends:` naming a file (a variant), or with a `steps:`
  list of which some item has `parallel_run` or `inputs` (a spec: an Azure DevOps
  pipeline's steps have `script` or `task`);
- a file that is not readable YAML counts when a line starts with `steps:` or
  `extends:`, so a broken spec is reported rather than passed over.

A file named on the command line is always validated, whatever its name or content.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from runner.spec.diagnostics import SpecError
from runner.spec.tree import Mapping, Node, Scalar, Sequence
from runner.spec.yaml_loader import load_yaml

SUFFIXES = (".yaml", ".yml")
_MAX_READ = 1 << 20  # the spec loader's own limit: a bigger file is read no further
_SCHEMA_LINE = re.compile(r"^#\s*yaml-language-server:\s*\$schema=\S*runner-(spec|variant)\.schema\.json",
                          re.MULTILINE)
_TOP_KEY = re.compile(r"^(steps|extends)\s*:", re.MULTILINE)
_STEP_KEYS = ("parallel_run", "inputs")


def find_specs(folder: str) -> list[str]:
    """Every spec below `folder` (see the module's rule) as paths that start with it: a
    folder's own files first, then its subfolders', each sorted by name."""
    found: list[str] = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(files):
            if name.endswith(SUFFIXES) and not name.startswith((".", "_")):
                path = os.path.join(top, name)
                if is_spec_file(path):
                    found.append(path)
    return found


def is_spec_file(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_READ + 1)
    except OSError:
        return True  # unreadable: validating it says why
    text = data[:_MAX_READ].decode("utf-8", "replace")
    return is_spec_text(text, complete=len(data) <= _MAX_READ)


def is_spec_text(text: str, complete: bool = True) -> bool:
    if _SCHEMA_LINE.search(text[:4096]):
        return True
    if not complete:  # over the loader's limit: only the text says what it was meant to be
        return bool(_TOP_KEY.search(text))
    try:
        tree = load_yaml(text, "<probe>")
    except (SpecError, RecursionError, ValueError):
        return bool(_TOP_KEY.search(text))
    return isinstance(tree, Mapping) and (_is_variant(tree) or any(_is_step(item) for item in _steps(tree)))


def _is_variant(tree: Mapping) -> bool:
    entry = tree.entries.get("extends")
    return entry is not None and isinstance(entry.node, Scalar) and isinstance(entry.node.value, str)


def _steps(tree: Mapping) -> Iterator[Node]:
    entry = tree.entries.get("steps")
    if entry is not None and isinstance(entry.node, Sequence):
        yield from entry.node.items


def _is_step(item: object) -> bool:
    return isinstance(item, Mapping) and any(key in item.entries for key in _STEP_KEYS)
