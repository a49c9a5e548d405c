"""Variants (`extends:`), deep merge, and `--set` / `--set-param` overrides.

A variant names its base with a path relative to itself and keeps only what differs.
Merging is deep: mappings merge key by key, lists of named items (steps) merge by
`name`, anything else is replaced, and an explicit `null` removes a key from the base.
Every merged node keeps its own mark, so an error points at the file that set the value.
A variant overrides what its bases declare: a parameter, dataset, model or step it names
that no base has, and that is no addition of its own, is an error (merge_variant), so a
rename in a base cannot leave a variant's value applying to nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from runner.spec.binding import parse_reference
from runner.spec.diagnostics import Diagnostic, Mark, SpecError, did_you_mean
from runner.spec.extends import chain_root, check_base, check_link, check_suffix, missing_hint, not_a_spec
from runner.spec.secrets import REDACTED, credential_kind, looks_secret
from runner.spec.tree import Entry, Mapping, Node, Scalar, Sequence, walk
from runner.spec.yaml_loader import load_value, load_yaml

_MAX_CHAIN = 16
_MAX_FILE_BYTES = 1 << 20  # real specs are a few kilobytes; this bounds what a stranger's costs


def _named_items(node: Node) -> dict[str, Node] | None:
    """{name: item} when every item of a sequence is a mapping with a distinct string name.

    Repeated names disable merging by name (the list is replaced), so validation still
    sees, and reports, both items.
    """
    if not isinstance(node, Sequence):
        return None
    named: dict[str, Node] = {}
    for item in node.items:
        if not isinstance(item, Mapping) or "name" not in item.entries:
            return None
        name = item.entries["name"].node
        if not isinstance(name, Scalar) or not isinstance(name.value, str) or name.value in named:
            return None
        named[name.value] = item
    return named


def merge(base: Node, override: Node, key: str = "") -> Node:
    """Deep-merge `override` onto `base` (both are consumed); `key` is the field being merged."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        for name, entry in override.entries.items():
            removing = isinstance(entry.node, Scalar) and entry.node.value is None
            if removing:
                base.entries.pop(name, None)
            elif name in base.entries:
                base.entries[name] = Entry(entry.key_mark, merge(base.entries[name].node, entry.node, name))
            else:
                base.entries[name] = entry
        return base
    base_named, over_named = _named_items(base), _named_items(override)
    if base_named is not None and over_named is not None and isinstance(base, Sequence):
        for name, item in over_named.items():
            if name in base_named:
                index = base.items.index(base_named[name])
                base.items[index] = merge(base.items[index], item)
            else:
                _check_new_item(key, name, item, base_named)
                base.items.append(item)
        return base
    return override


# What a step needs to stand on its own; a variant's step without them can only have
# meant to change a base step, so its name is a typo, not a new step.
_COMPLETE_STEP = ("inputs", "parallel_run")


def _check_new_item(key: str, name: str, item: Node, base_named: dict[str, Node]) -> None:
    if key != "steps" or not isinstance(item, Mapping):
        return
    if all(field in item.entries for field in _COMPLETE_STEP):
        return  # a whole new step: variants may add one
    mark = item.entries["name"].node.mark
    raise SpecError([Diagnostic(mark, ("steps",), f"no step named '{name}' in the base"
                                                  f"{did_you_mean(name, base_named)}",
                                "a variant changes a base step by naming it; a new step needs inputs and "
                                "parallel_run")])


# Sections whose entries a variant overrides by name. A name the bases do not declare
# adds an entry, which is also what a rename in a base leaves behind: the variant's
# value then applies to nothing and the job silently runs with the base's. So an added
# entry that nothing in the merged spec refers to is an error: always for a parameter
# (it exists to be referred to); for a dataset or model (an entry script may read every
# model by name, a spec may keep a dataset for later) where it cannot stand on its own
# (it lacks a field its kind requires) or a base's entry has a close name.
_BY_NAME = ("parameters", "datasets", "models")
_COMPLETE = {"parameters": None, "datasets": ("kind", "path"), "models": ("path",)}


def merge_variant(base: Mapping, variant: Mapping) -> Mapping:
    """Merge a variant onto its (merged) bases, refusing entries that override nothing."""
    declared = {section: set(_section(base, section)) for section in _BY_NAME}
    added = {section: {name: entry for name, entry in _section(variant, section).items()
                       if name not in declared[section]
                       and not (isinstance(entry.node, Scalar) and entry.node.value is None)}
             for section in _BY_NAME}
    merged = merge(base, variant)
    assert isinstance(merged, Mapping)
    used = _references(merged)
    diags = []
    for section, entries in added.items():
        for name, entry in entries.items():
            hint = did_you_mean(name, declared[section])
            if (section, name) in used or (not hint and _complete(section, entry.node)):
                continue
            kind = section[:-1]
            diags.append(Diagnostic(entry.key_mark, (section, name),
                                    f"no {kind} named '{name}' in the base{hint}",
                                    f"a variant overrides a {kind} its base declares; nothing refers to this one"))
    if diags:
        raise SpecError(diags)
    return merged


def _complete(section: str, node: Node) -> bool:
    fields = _COMPLETE[section]
    return fields is not None and isinstance(node, Mapping) and all(f in node.entries for f in fields)


def _section(tree: Mapping, section: str) -> dict[str, Entry]:
    entry = tree.entries.get(section)
    return entry.node.entries if entry is not None and isinstance(entry.node, Mapping) else {}


def _references(tree: Mapping) -> set[tuple[str, str]]:
    """(section, name) of every `${{ section.name }}` in `tree`, and each dataset a
    dataset parameter names."""
    found: set[tuple[str, str]] = set()
    for path, node in walk(tree):
        if not isinstance(node, Scalar) or not isinstance(node.value, str):
            continue
        if len(path) == 3 and path[0] == "parameters" and path[2] == "dataset":
            found.add(("datasets", node.value))
        ref = parse_reference(node.value)
        if ref is not None:
            found.add((ref.kind, ref.name))
    return found


def _display(path: str) -> str:
    """How a file is named in messages: relative to the working directory when inside it."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return absolute if relative.startswith("..") else relative


# Reads a spec file's text by its path from elsewhere than the disk (a git revision:
# `plan --against`); raises FileNotFoundError for a file that is not there.
Reader = Callable[[str], str]


def read_spec_file(path: str, display: str | None = None, text: str | None = None,
                   reader: Reader | None = None, sources: dict[str, str] | None = None) -> Mapping:
    """`text`, when given, is the file's content (standard input): `path` only names it.
    `sources` collects the text read, by its name in messages (snippets show it)."""
    display = display or _display(path)
    try:
        if text is None and reader is not None:
            text = reader(path)
        size = os.stat(path).st_size if text is None else len(text.encode("utf-8", "surrogatepass"))
        if size > _MAX_FILE_BYTES:
            raise SpecError([Diagnostic(Mark(display, 0, 0), (), f"spec file is {size} bytes; the limit is "
                                                                 f"{_MAX_FILE_BYTES} (1 MiB)")])
        text = Path(path).read_text(encoding="utf-8") if text is None else text
    except FileNotFoundError:
        raise SpecError([Diagnostic(Mark(display, 0, 0), (), "no such spec file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Diagnostic(Mark(display, 0, 0), (), f"cannot read spec file: {exc}")]) from None
    if sources is not None:
        sources[display] = text
    tree = load_yaml(text, display)
    assert isinstance(tree, Mapping)
    return tree


def load_with_extends(path: str, text: str | None = None, reader: Reader | None = None,
                      sources: dict[str, str] | None = None) -> tuple[Mapping, list[str]]:
    """Load a spec and its chain of bases, merged; returns the tree and the chain (base first).
    With `text` (standard input), `path` is its name in messages, e.g. `<stdin>`, and its
    `extends` is relative to the working directory. `reader` reads every file of the chain.
    `sources` collects each file's text, by its name in messages. Every base is a spec
    file inside the tree the chain starts in (extends.py)."""
    chain: list[str] = []
    seen: list[str] = []
    root = chain_root(path, text is not None, resolve=reader is None)
    if text is None and reader is None:
        check_link(path, _display(path), root)
    tree = _load_chain(path, path if text is not None else _display(path), chain, seen, text, reader,
                       {} if sources is None else sources, root)
    return tree, chain


def spec_file_exists(path: str, reader: Reader | None = None) -> bool:
    """Whether `path` is a file, on disk or where `reader` reads."""
    if reader is None:
        return os.path.isfile(path)
    try:
        reader(path)
    except (FileNotFoundError, IsADirectoryError):
        return False
    return True


def _load_chain(path: str, display: str, chain: list[str], seen: list[str], text: str | None,
                reader: Reader | None, sources: dict[str, str], root: str,
                referrer: Scalar | None = None) -> Mapping:
    real = os.path.realpath(path) if reader is None else os.path.abspath(path)
    try:
        tree = read_spec_file(path, display, text, reader, sources)
    except SpecError as exc:
        if referrer is None:
            raise
        raise not_a_spec(exc, referrer, display, sources.pop(display, None)) from None
    seen.append(real)
    entry = tree.entries.pop("extends", None)
    if entry is None:
        chain.append(display)
        return tree
    target = entry.node
    if not isinstance(target, Scalar) or not isinstance(target.value, str) or not target.value:
        raise SpecError([Diagnostic(target.mark, ("extends",), "extends must be the path of a spec file")])
    base_path = os.path.join(os.path.dirname(path), target.value)
    base_display = os.path.normpath(os.path.join(os.path.dirname(display), target.value))
    base_real = os.path.realpath(base_path) if reader is None else os.path.abspath(base_path)
    if base_real in seen:
        cycle = " -> ".join([*(_display(p) for p in seen), _display(base_real)])
        raise SpecError([Diagnostic(target.mark, ("extends",), f"extends forms a cycle: {cycle}")])
    if len(seen) >= _MAX_CHAIN:
        raise SpecError([Diagnostic(target.mark, ("extends",), f"extends chain longer than {_MAX_CHAIN} files")])
    check_base(target, base_real, base_display, root)
    if reader is None and os.path.isdir(base_path):
        raise SpecError([Diagnostic(target.mark, ("extends",),
                                    f"extends names a folder, not a spec file: {base_display}")])
    if not spec_file_exists(base_path, reader):
        hint = missing_hint(target.value, base_path) if reader is None else ""
        raise SpecError([Diagnostic(target.mark, ("extends",),
                                    f"extends names a file that does not exist: {base_display}{hint}")])
    check_suffix(target, base_display)
    base = _load_chain(base_path, base_display, chain, seen, None, reader, sources, root, target)
    chain.append(display)
    return merge_variant(base, tree)


# --set a.b[0].c=value ------------------------------------------------------------

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def flag(option: str, assignment: str) -> str:
    """The flag as messages name it; a long value is cut, a secret one hidden (a message
    names, it does not echo)."""
    path, sep, value = assignment.partition("=")
    if sep and (credential_kind(value) is not None or looks_secret(path.rsplit(".", 1)[-1])):
        assignment = f"{path}={REDACTED}"
    shown = assignment if len(assignment) <= 80 else assignment[:77] + "..."
    return f"{option} {shown}"


def parse_set_path(text: str) -> list[str | int] | None:
    """'steps[0].parallel_run.x' -> ['steps', 0, 'parallel_run', 'x']; None if malformed."""
    parts: list[str | int] = []
    position = 0
    for match in _SEGMENT.finditer(text):
        gap = text[position:match.start()]
        if gap not in ("", ".") or (gap == "" and position and match.group(1)):
            return None
        parts.append(int(match.group(2)) if match.group(2) is not None else match.group(1))
        position = match.end()
    if position != len(text) or not parts or not isinstance(parts[0], str):
        return None
    return parts


def parse_assignment(assignment: str, shown_as: str) -> tuple[list[str | int], Node]:
    """`PATH=VALUE` as every --set reads it (`apply`, `plan`, `retry`...): the path's parts
    and the value as a YAML 1.2 scalar or flow value, marked with the flag `shown_as`."""
    path_text, sep, value_text = assignment.partition("=")
    parts = parse_set_path(path_text.strip()) if sep else None
    if parts is None:
        raise SpecError([Diagnostic(Mark(shown_as, 0, 0), (),
                                    "expected PATH=VALUE, e.g. steps[0].parallel_run.node_count=2")])
    return parts, load_value(value_text, shown_as)


def apply_set(tree: Mapping, assignment: str, shown_as: str | None = None) -> None:
    """Apply one `path=value` override; the value is read as a YAML scalar or flow value."""
    mark = Mark(shown_as or flag("--set", assignment), 0, 0)
    parts, new = parse_assignment(assignment, mark.file)
    node: Node = tree
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, Sequence):
            named = _named_items(node) or {}
            if isinstance(part, str) and part in named:
                part = node.items.index(named[part])
            if not isinstance(part, int) or not 0 <= part < len(node.items):
                hint = did_you_mean(part, named) if isinstance(part, str) else ""
                raise SpecError([Diagnostic(mark, tuple(parts[:depth]), f"no list item '{part}' to set{hint}")])
            if last:
                node.items[part] = new
                return
            node = node.items[part]
        elif isinstance(node, Mapping) and isinstance(part, str):
            if depth == 1 and part not in node.entries:
                _check_new_entry(mark, parts, last, node)
            if last:
                node.entries[part] = Entry(mark, new)
                return
            if part not in node.entries:
                node.entries[part] = Entry(mark, Mapping(mark))
            node = node.entries[part].node
        else:
            raise SpecError([Diagnostic(mark, tuple(parts[:depth]), "cannot set a field inside a plain value")])


def _check_new_entry(mark: Mark, parts: list[str | int], last: bool, section: Mapping) -> None:
    """`--set` of an entry a named section does not have: as in a variant (merge_variant),
    a parameter must be declared, and a field set inside a dataset or model that is not
    there, whose name is close to one that is, is a typo; a whole entry is an addition."""
    name, kind = str(parts[1]), str(parts[0])[:-1]
    if parts[0] not in _BY_NAME:
        return
    hint = did_you_mean(name, section.entries)
    if parts[0] == "parameters" or (hint and not last):
        raise SpecError([Diagnostic(mark, (str(parts[0]), name), f"no {kind} named '{name}' to set{hint}")])


def apply_set_param(tree: Mapping, assignment: str) -> None:
    """`--set-param name=value`: sets parameters.name; a dataset parameter takes a dataset name."""
    name, sep, value = assignment.partition("=")
    mark = Mark(flag("--set-param", assignment), 0, 0)
    params = tree.entries.get("parameters")
    declared = params.node.entries if params and isinstance(params.node, Mapping) else {}
    if not sep:
        raise SpecError([Diagnostic(mark, ("parameters",), "expected NAME=VALUE, e.g. batch_size_param=10")])
    if name.strip() not in declared:
        suffix = did_you_mean(name.strip(), declared)
        known = ", ".join(declared) or "none"
        raise SpecError([Diagnostic(mark, ("parameters",),
                                    f"no parameter named '{name.strip()}' (declared: {known}){suffix}")])
    current = declared[name.strip()].node
    field = f"parameters.{name.strip()}"
    if isinstance(current, Mapping) and "dataset" in current.entries:
        field += ".dataset"  # a dataset parameter is rebound by naming another dataset
    apply_set(tree, f"{field}={value}", shown_as=mark.file)
