"""What `extends:` may name, and how a base that is not a spec is reported.

`plan` runs on strangers' specs (a pull-request bot), and an error shows a snippet of
the file it is in: `extends: /proc/self/environ` printed the process environment. So a
base must be a `.yaml`/`.yml` file inside the tree the chain starts in, and a base that
does not parse as a YAML mapping is named, with where it failed, but never shown.

The tree is the git repository of the spec that starts the chain (its top level: the
`specs/variants/gpu.yaml` -> `../base.yaml` layout stays legal), or, outside git, the
working directory when the spec is under it, else the spec's own folder. Standard input
starts from the working directory. Symbolic links are followed before the check.
"""

from __future__ import annotations

import itertools
import os

import yaml

from runner.spec.diagnostics import Diagnostic, Mark, SpecError, did_you_mean
from runner.spec.tree import Scalar

SPEC_SUFFIXES = (".yaml", ".yml")
_MAX_SIBLINGS = 1_000  # files looked at for a "did you mean": a huge folder costs no more


def git_top(folder: str) -> str | None:
    """The top of the git repository `folder` is in (a folder holding `.git`, a folder or
    a worktree's file), found as git finds it; None outside one."""
    current = folder
    while True:
        if os.path.exists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def chain_root(path: str, from_stdin: bool, resolve: bool = True) -> str:
    """The folder every base of the chain that starts at `path` must be in (module doc).
    `resolve`: follow symbolic links (files on disk; a git revision's paths are taken as named)."""
    real = os.path.realpath if resolve else os.path.abspath
    start = real(os.getcwd() if from_stdin else os.path.dirname(os.path.abspath(path)))
    top = git_top(start)
    if top is not None:
        return top
    cwd = real(os.getcwd())
    return cwd if inside(start, cwd) else start


def _where(root: str) -> str:
    relative = os.path.relpath(root)
    return "the working directory" if relative == "." else relative if not relative.startswith("..") else root


def _kind(root: str) -> str:
    return "git repository" if git_top(root) == root else "folder"


def check_base(target: Scalar, base_real: str, base_display: str, root: str) -> None:
    """Refuse a base outside `root` or one that is not named as a spec file."""
    if not inside(base_real, root):
        raise SpecError([Diagnostic(target.mark, ("extends",),
                                    f"extends must name a spec inside the spec's {_kind(root)} ({_where(root)}); "
                                    f"{base_display} is outside it")])


def check_link(path: str, display: str, root: str) -> None:
    """The spec a chain starts from may be a link, but not out of its own tree: a pull
    request can commit a link to /proc/self/environ and ask for it to be planned."""
    if not inside(os.path.realpath(path), root):
        raise SpecError([Diagnostic(Mark(display, 0, 0), (), f"the spec is a link to a file outside its "
                                                             f"{_kind(root)} ({_where(root)}); it is not read")])


def check_suffix(target: Scalar, base_display: str) -> None:
    if not base_display.lower().endswith(SPEC_SUFFIXES):
        raise SpecError([Diagnostic(target.mark, ("extends",),
                                    f"extends must name a spec file (.yaml or .yml), not {base_display}")])


def missing_hint(target_value: str, base_path: str) -> str:
    """"; did you mean 'x.yaml'?" among the spec files beside where the base was looked for."""
    folder = os.path.dirname(base_path) or "."
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in itertools.islice(entries, _MAX_SIBLINGS)
                     if e.name.lower().endswith(SPEC_SUFFIXES)]
    except OSError:
        return ""
    prefix = os.path.dirname(target_value)
    return did_you_mean(target_value, [os.path.join(prefix, name) for name in names])


def _is_yaml_mapping(text: str) -> bool:
    try:
        return isinstance(yaml.compose(text, Loader=yaml.SafeLoader), yaml.MappingNode)
    except (yaml.YAMLError, RecursionError):
        return False


def not_a_spec(error: SpecError, target: Scalar, base_display: str, text: str | None) -> SpecError:
    """`error`, raised reading the base, unless the base is no YAML mapping at all: then
    one error at the `extends:` that names it, with no word of its content (a key file,
    /proc/self/environ) and where it failed."""
    if text is not None and _is_yaml_mapping(text):
        return error  # a spec with an error in it (a duplicate key, a tag): shown as any spec is
    marked = [d for d in error.diagnostics if d.mark.file == base_display and d.mark.line > 0]
    if not marked and not any(d.message.startswith("cannot read") for d in error.diagnostics):
        return error  # no position in the file and nothing read (its size, no permission)
    where = f" (it fails at line {marked[0].mark.line}, column {marked[0].mark.col})" if marked else ""
    return SpecError([Diagnostic(target.mark, ("extends",),
                                 f"extends names {base_display}, which is not a spec: not a readable YAML "
                                 f"mapping of fields{where}")])
