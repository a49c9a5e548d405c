"""Safe YAML loading into a position tree.

PyYAML composes the document (SafeLoader: no Python objects are ever built), then we
walk the node graph ourselves so that we can: keep every key's and value's position,
report duplicate keys (PyYAML silently keeps the last), refuse any tag outside YAML's
core schema (``!!python/object``, ``!Ref``, ...), and bound alias expansion so a
"billion laughs" document is an error rather than an out-of-memory kill.
"""

from __future__ import annotations

import re

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from runner.spec.diagnostics import Diagnostic, Mark, Path_, SpecError
from runner.spec.tree import Entry, Mapping, Node, Scalar, Sequence, walk

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
# YAML 1.1 (PyYAML) reads 010 as eight and `on` as true; we read them as YAML 1.2 does.
_DECIMAL = re.compile(r"^[-+]?[0-9][0-9_]*$")
_BOOLS = {"true", "True", "TRUE", "false", "False", "FALSE"}
_MAX_NODES = 100_000  # expanded nodes per document; real specs have a few hundred
_MAX_DEPTH = 64
_MAX_DIGITS = 4_000  # Python refuses to read integers longer than 4300 digits
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Walker:
    def __init__(self, file: str) -> None:
        self.file = file
        self.diags: list[Diagnostic] = []
        self.count = 0
        self.constructor = SafeConstructor()

    def mark(self, node: yaml.Node) -> Mark:
        return Mark(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def error(self, node: yaml.Node, path: Path_, message: str) -> None:
        self.diags.append(Diagnostic(self.mark(node), path, message))

    def convert(self, node: yaml.Node, path: Path_, depth: int = 0) -> Node:
        self.count += 1
        if self.count > _MAX_NODES or depth > _MAX_DEPTH:
            raise SpecError(
                [Diagnostic(self.mark(node), (), "document is too large or too deeply nested "
                            "(aliases expand to more than 100000 values)")]
            )
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != f"{_CORE}seq":
                self.error(node, path, self.tag_message(node.tag))
            items = [self.convert(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
            return Sequence(self.mark(node), items)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        raise TypeError(f"PyYAML composed an unknown node: {type(node).__name__}")

    def scalar(self, node: yaml.ScalarNode, path: Path_) -> Scalar:
        if self.bad_text(node, path, node.value):
            return Scalar(self.mark(node), "")
        if node.tag not in _SCALAR_TAGS:
            self.error(node, path, self.tag_message(node.tag))
            return Scalar(self.mark(node), node.value)
        if node.tag == f"{_CORE}timestamp":
            # Dates stay text: no spec field is a date, and a str field must accept them.
            return Scalar(self.mark(node), node.value)
        if node.tag == f"{_CORE}int":  # 010 is ten; 0x1F, 0o7 and 1:30 stay text
            decimal = _DECIMAL.match(node.value)
            if decimal and len(node.value) > _MAX_DIGITS:
                self.error(node, path, f"number with more than {_MAX_DIGITS} digits")
                return Scalar(self.mark(node), 0)
            return Scalar(self.mark(node), int(node.value.replace("_", ""), 10) if decimal else node.value)
        if node.tag == f"{_CORE}bool" and node.value not in _BOOLS:
            return Scalar(self.mark(node), node.value)  # yes/no/on/off are words, not booleans
        try:
            value = self.constructor.construct_object(node, deep=True)
        except ConstructorError as exc:
            self.error(node, path, str(exc.problem))
            value = node.value
        return Scalar(self.mark(node), value)

    def mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> Mapping:
        if node.tag != f"{_CORE}map":
            self.error(node, path, self.tag_message(node.tag))
        out = Mapping(self.mark(node))
        own: dict[str, yaml.Node] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                key: str = key_node.value
                if key in own:
                    first = self.mark(own[key])
                    self.error(key_node, (*path, key),
                               f"duplicate key '{key}' (first defined at line {first.line})")
                own[key] = key_node
        try:
            # Resolves `<<: *anchor` merge keys the way YAML defines them.
            self.constructor.flatten_mapping(node)
        except ConstructorError as exc:
            self.error(node, path, str(exc.problem))
            return out
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, path, "mapping keys must be plain strings")
                continue
            # The raw text is the key: `on:` or `1:` stay the strings "on" and "1".
            key = key_node.value
            if self.bad_text(key_node, path, key):
                continue
            key_path: Path_ = (*path, key)
            out.entries[key] = Entry(self.mark(key_node), self.convert(value_node, key_path, depth + 1))
        return out

    def bad_text(self, node: yaml.Node, path: Path_, text: str) -> bool:
        """NUL bytes and lone surrogates (YAML's \\0 and \\ud800 escapes) are errors: no
        file name, environment variable or terminal takes them."""
        if "\x00" in text:
            self.error(node, path, "contains a NUL character (\\0)")
            return True
        if _SURROGATE.search(text):
            self.error(node, path, "contains a lone surrogate (\\ud800-\\udfff), which is not valid Unicode")
            return True
        return False

    @staticmethod
    def tag_message(tag: str) -> str:
        shown = tag.replace(_CORE, "!!")
        return f"tag '{shown}' is not allowed: specs are loaded as plain YAML (no tags)"


def load_value(text: str, shown_as: str) -> Node:
    """A `--set` value, read by the same rules as a file (no tags, no duplicate keys,
    bounded aliases); every node is marked with the flag itself."""
    if not text.strip():
        return Scalar(Mark(shown_as, 0, 0), "")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return Scalar(Mark(shown_as, 0, 0), text)  # not YAML: the text itself
    except RecursionError:
        raise SpecError([Diagnostic(Mark(shown_as, 0, 0), (), f"nested more than {_MAX_DEPTH} levels deep")]) from None
    walker = _Walker(shown_as)
    node = walker.convert(root, ()) if root is not None else Scalar(Mark(shown_as, 0, 0), None)
    if walker.diags:
        raise SpecError([Diagnostic(Mark(shown_as, 0, 0), (), d.message) for d in walker.diags])
    for _, child in walk(node):
        child.mark = Mark(shown_as, 0, 0)
        if isinstance(child, Mapping):
            for entry in child.entries.values():
                entry.key_mark = child.mark
    return node


def load_yaml(text: str, file: str) -> Node:
    """Parse one YAML document into a position tree, or raise SpecError."""
    root = _compose(text, file)
    if root is None:
        raise SpecError([Diagnostic(Mark(file, 1, 1), (), "the spec is empty")])
    walker = _Walker(file)
    tree = walker.convert(root, ())
    if walker.diags:
        raise SpecError(walker.diags)
    if not isinstance(tree, Mapping):
        raise SpecError([Diagnostic(tree.mark, (), "a spec must be a mapping of fields (name, steps, ...)")])
    return tree


def _compose(text: str, file: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_syntax_error(exc, file)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Diagnostic(Mark(file, 1, 1), (), f"YAML error: {exc}")]) from None
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise SpecError([_too_deep(text, file)]) from None


# What PyYAML's "while parsing ..." contexts are, in the words of the spec's author.
_CONSTRUCTS = {
    "while parsing a flow sequence": "the list '[' opened",
    "while parsing a flow mapping": "the mapping '{' opened",
    "while scanning a quoted scalar": "the quoted string opened",
    "while parsing a block mapping": "the mapping that starts",
    "while parsing a block collection": "the list that starts",
    "while scanning a simple key": "the key that starts",
    "while scanning a block scalar": "the block text that starts",
    "while parsing a flow node": "the value that starts",
    "while parsing a block node": "the value that starts",
}
# Constructs the author opened and must close: the error belongs where they opened it.
_OPENED = ("flow sequence", "flow mapping", "quoted scalar")


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> Diagnostic:
    """'the list '[' opened at 63:9 is never closed (found the end of the file at 80:1)':
    where the construct began and where the problem was found, both."""
    found, began = exc.problem_mark, exc.context_mark
    problem = exc.problem or "invalid YAML"
    if found is not None and ("end of stream" in problem or "<stream end>" in problem):
        unclosed = _unclosed(found.buffer or "")
        if unclosed is not None:
            kind, opened = unclosed
            return Diagnostic(Mark(file, opened.line + 1, opened.column + 1), (),
                              f"YAML syntax error: the {kind} opened at {opened.line + 1}:{opened.column + 1} "
                              f"is never closed (the file ends at {found.line + 1}:{found.column + 1})")
    if began is None or found is None or exc.context is None:
        mark = found or began
        where = Mark(file, mark.line + 1, mark.column + 1) if mark else Mark(file, 1, 1)
        return Diagnostic(where, (), f"YAML syntax error: {problem}" + (f" ({exc.context})" if exc.context else ""))
    start = Mark(file, began.line + 1, began.column + 1)
    end = Mark(file, found.line + 1, found.column + 1)
    construct = _CONSTRUCTS.get(exc.context, exc.context.removeprefix("while ").replace("parsing ", ""))
    is_open = any(kind in exc.context for kind in _OPENED)
    if is_open and ("end of stream" in problem or "<stream end>" in problem):
        text = f"{construct} at {start.line}:{start.col} is never closed (the file ends at {end.line}:{end.col})"
    else:
        closed = " is not closed" if is_open else ""
        text = f"{construct} at {start.line}:{start.col}{closed}: {problem} at {end.line}:{end.col}"
    return Diagnostic(start if is_open else end, (), f"YAML syntax error: {text}")


def _unclosed(text: str) -> tuple[str, yaml.Mark] | None:
    """The innermost '[' or '{' still open where the scanner stops (end of file or error)."""
    stack: list[tuple[str, yaml.Mark]] = []
    try:
        for token in yaml.scan(text.rstrip("\0"), Loader=yaml.SafeLoader):
            if isinstance(token, (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)):
                kind = "list '['" if isinstance(token, yaml.FlowSequenceStartToken) else "mapping '{'"
                stack.append((kind, token.start_mark))
            elif isinstance(token, (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)) and stack:
                stack.pop()
    except yaml.YAMLError:
        pass
    return stack[-1] if stack else None


def _too_deep(text: str, file: str) -> Diagnostic:
    """Where nesting passes _MAX_DEPTH, found with PyYAML's scanner, which keeps its own
    stack (no recursion)."""
    depth = 0
    opening = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken,
               yaml.BlockSequenceStartToken, yaml.BlockMappingStartToken)
    closing = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken, yaml.BlockEndToken)
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            depth += isinstance(token, opening) - isinstance(token, closing)
            if depth > _MAX_DEPTH:
                mark = token.start_mark
                return Diagnostic(Mark(file, mark.line + 1, mark.column + 1), (),
                                  f"nested more than {_MAX_DEPTH} levels deep")
    except yaml.YAMLError:
        pass
    return Diagnostic(Mark(file, 1, 1), (), f"nested more than {_MAX_DEPTH} levels deep")
