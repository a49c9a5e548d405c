"""A YAML document as a tree of nodes that remember where they came from.

Merging variants, applying --set, rendering templates and binding parameters all move
or replace nodes, so every value keeps the mark of the file (or command-line flag) that
set it. The Pydantic models see plain data (`to_plain`); errors come back as paths and
`lookup` turns a path into a mark (the Dagster source-position habit).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeAlias, Union, overload

from runner.spec.diagnostics import Mark, Path_

# What a scalar holds: YAML's core scalars (dates stay text), or a rendered template (text).
ScalarValue: TypeAlias = Union[str, int, float, bool, None]


@dataclass
class Scalar:
    mark: Mark
    value: ScalarValue
    # Rendered from an environment variable whose name looks like a secret: `plan` hides it.
    secret: bool = False
    # Rendered from a template that read the environment (a secret written literally in a
    # spec, or produced by a template that reads no variable, is refused).
    from_env: bool = False
    # "parameters.x" when the value was bound from a pipeline parameter.
    bound_from: str | None = None


@dataclass
class Entry:
    key_mark: Mark
    node: Node


@dataclass
class Mapping:
    mark: Mark
    entries: dict[str, Entry] = field(default_factory=dict)


@dataclass
class Sequence:
    mark: Mark
    items: list[Node] = field(default_factory=list)


Node: TypeAlias = Union[Scalar, Mapping, Sequence]
# A node without its marks, as the models validate it.
Plain: TypeAlias = Union[dict[str, "Plain"], list["Plain"], ScalarValue]


@overload
def to_plain(node: Mapping) -> dict[str, Plain]: ...
@overload
def to_plain(node: Sequence) -> list[Plain]: ...
@overload
def to_plain(node: Node) -> Plain: ...
def to_plain(node: Node) -> Plain:
    """The data the models validate: dicts, lists and scalars."""
    if isinstance(node, Mapping):
        return {key: to_plain(entry.node) for key, entry in node.entries.items()}
    if isinstance(node, Sequence):
        return [to_plain(item) for item in node.items]
    return node.value


def child(node: Node, part: str | int) -> tuple[Mark, Node] | None:
    """The child at `part` with the mark of its key (or of the item itself)."""
    if isinstance(node, Mapping) and isinstance(part, str) and part in node.entries:
        entry = node.entries[part]
        return entry.key_mark, entry.node
    if isinstance(node, Sequence) and isinstance(part, int) and 0 <= part < len(node.items):
        item = node.items[part]
        return item.mark, item
    return None


def lookup(root: Node, path: Path_) -> tuple[Node, Mark, Path_]:
    """Descend along `path` as far as the data goes.

    Returns the deepest node found, the mark of the key that leads to it, and the part
    of the path that matched (Pydantic adds union tags and validator names to error
    locations; those parts match nothing and are skipped).
    """
    node, key_mark = root, root.mark
    matched: Path_ = ()
    for part in path:
        found = child(node, part)
        if found is None:
            continue
        key_mark, node = found
        matched = (*matched, part)
    return node, key_mark, matched


def walk(node: Node, path: Path_ = ()) -> Iterator[tuple[Path_, Node]]:
    """Yield (path, node) for every node, parents before children."""
    yield path, node
    if isinstance(node, Mapping):
        for key, entry in node.entries.items():
            yield from walk(entry.node, (*path, key))
    elif isinstance(node, Sequence):
        for index, item in enumerate(node.items):
            yield from walk(item, (*path, index))

