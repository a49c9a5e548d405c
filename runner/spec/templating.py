"""Jinja2 templating of string scalars, sandboxed, with strict undefined.

Templates render one string scalar at a time, after YAML parsing, so a rendered value
is always a string in the place it was written: a template can never inject YAML
structure, and positions stay exact. `${{ ... }}` parameter bindings are not Jinja;
they are set aside before rendering and put back after.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from collections.abc import Mapping as AbcMapping
from typing import TYPE_CHECKING

from runner.spec.diagnostics import Diagnostic, Path_
from runner.spec.secrets import credential_kind, looks_secret, redact
from runner.spec.tree import Node, Scalar, walk

if TYPE_CHECKING:
    from runner.spec.sandbox import _Sandbox

_MAX_OUTPUT = 65_536  # characters a single rendered value (or its template) may have


class _Env(AbcMapping[str, str]):
    """os.environ as the templates see it; remembers which variables were read."""

    def __init__(self, environ: AbcMapping[str, str]) -> None:
        self._environ = environ
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self._environ[name]

    def secrets(self) -> list[str]:
        """Values read so far that are secret, by their variable's name or by their look."""
        values = [self._environ.get(name) for name in self.read]
        return [v for name, v in zip(self.read, values)
                if v and (looks_secret(name) or credential_kind(v) is not None)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)


def bindings(text: str) -> list[tuple[int, int]]:
    """Where each `${{ ... }}` of `text` starts and ends, left to right. Plain `find`: a
    non-greedy regex backtracked to the end of the text from every unclosed `${{`."""
    out: list[tuple[int, int]] = []
    start = text.find("${{")
    while start >= 0:
        end = text.find("}}", start + 3)
        if end < 0:
            break
        out.append((start, end + 2))
        start = text.find("${{", end + 2)
    return out


def _without_bindings(text: str) -> str:
    parts, last = [], 0
    for start, end in bindings(text):
        parts.append(text[last:start])
        last = end
    return "".join(parts) + text[last:]


def _is_template(text: str) -> bool:
    stripped = _without_bindings(text)
    return "{{" in stripped or "{%" in stripped or "{#" in stripped


def render_tree(root: Node, environ: AbcMapping[str, str] | None = None) -> list[Diagnostic]:
    """Render every templated string scalar in place; return all errors. Jinja is loaded
    only for a spec that has a template (a sixth of `runner validate`'s time otherwise).
    All of a spec's templates share one budget (sandbox.SECONDS)."""
    templated = [(path, node) for path, node in walk(root)
                 if isinstance(node, Scalar) and isinstance(node.value, str) and _is_template(node.value)]
    if not templated:
        return []
    from runner.spec.sandbox import budget, make_environment

    sandbox = make_environment()
    diags: list[Diagnostic] = []
    with budget(sandbox):
        for path, node in templated:
            diag = _render_node(sandbox, path, node, environ)
            if diag is not None:
                diags.append(diag)
    return diags


def _render_node(sandbox: _Sandbox, path: Path_, node: Scalar,
                 environ: AbcMapping[str, str] | None) -> Diagnostic | None:
    from runner.spec.sandbox import explain, render_one

    assert isinstance(node.value, str)
    if len(node.value) > _MAX_OUTPUT:
        return Diagnostic(node.mark, path, f"template longer than {_MAX_OUTPUT} characters")
    env = _Env(os.environ if environ is None else environ)
    try:
        node.value = render_one(sandbox, node.value, env)
    # Anything a stranger's template raises (a filter given the wrong type, a recursion,
    # the budget running out) is a problem with the spec, reported where it was written.
    except Exception as exc:  # noqa: BLE001
        return Diagnostic(node.mark, path, redact(explain(exc, sandbox), env.secrets()))
    node.from_env = bool(env.read)
    # Secret by the variable's name or the value's look; a template that reads no
    # variable but yields a credential is caught by the literal-secret check.
    if env.secrets():
        node.secret = True
    return None


def secret_paths(root: Node) -> set[Path_]:
    return {path for path, node in walk(root) if isinstance(node, Scalar) and node.secret}
