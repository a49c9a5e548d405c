"""Jinja2 templating of string scalars, sandboxed, with strict undefined.

Templates render one string scalar at a time, after YAML parsing, so a rendered value
is always a string in the place it was written: a template can never inject YAML
structure, and positions stay exact. `${{ ... }}` parameter bindings are not Jinja;
they are set aside before rendering and put back after.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from collections.abc import Mapping as AbcMapping

from runner.spec.diagnostics import Diagnostic, Path_
from runner.spec.tree import Node, Scalar, walk

BINDING = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
_SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|PWD|CREDENTIAL|SAS|CONNECTION_STRING",
                          re.IGNORECASE)
_MAX_OUTPUT = 65_536  # characters a single rendered value may have


def looks_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


class _Env(AbcMapping[str, str]):
    """os.environ as the templates see it; remembers which variables were read."""

    def __init__(self, environ: AbcMapping[str, str]) -> None:
        self._environ = environ
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self._environ[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)


def _is_template(text: str) -> bool:
    stripped = BINDING.sub("", text)
    return "{{" in stripped or "{%" in stripped or "{#" in stripped


def render_tree(root: Node, environ: AbcMapping[str, str] | None = None) -> list[Diagnostic]:
    """Render every templated string scalar in place; return all errors. Jinja is loaded
    only for a spec that has a template (a sixth of `runner validate`'s time otherwise)."""
    templated = [(path, node) for path, node in walk(root)
                 if isinstance(node, Scalar) and isinstance(node.value, str) and _is_template(node.value)]
    if not templated:
        return []
    from jinja2 import TemplateError

    from runner.spec.sandbox import explain, make_environment, render_one

    sandbox = make_environment()
    diags: list[Diagnostic] = []
    for path, node in templated:
        assert isinstance(node, Scalar) and isinstance(node.value, str)
        env = _Env(os.environ if environ is None else environ)
        try:
            node.value = render_one(sandbox, node.value, env)
            node.from_env = bool(env.read)
        except TemplateError as exc:
            diags.append(Diagnostic(node.mark, path, explain(exc)))
            continue
        except (ArithmeticError, TypeError, ValueError, OverflowError) as exc:
            diags.append(Diagnostic(node.mark, path, f"template error: {exc}"))
            continue
        if any(looks_secret(name) for name in env.read):
            node.secret = True
    return diags


def secret_paths(root: Node) -> set[Path_]:
    return {path for path, node in walk(root) if isinstance(node, Scalar) and node.secret}
