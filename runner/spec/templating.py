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
from typing import Any

from jinja2 import StrictUndefined, TemplateError, UndefinedError, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

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


# A spec value is an expression, perhaps with a condition: loops, macros and assignments
# could run unbounded, and nothing in a spec needs them.
_STATEMENTS = (nodes.For, nodes.Macro, nodes.CallBlock, nodes.Assign, nodes.AssignBlock,
               nodes.FilterBlock, nodes.With, nodes.Import, nodes.FromImport, nodes.Include,
               nodes.Extends, nodes.Block)
# Calls whose size argument could allocate gigabytes before any output check.
_PADDING_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs", "format", "format_map"}
_PADDING_FILTERS = ("center", "format", "indent", "wordwrap", "filesizeformat")
_MAX_RANGE = 10_000


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, bounded: no statements, no unbounded repetition or padding."""

    intercepted_binops = frozenset(["*", "**", "%"])

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in _PADDING_FILTERS:
            self.filters.pop(name, None)
        self.globals["range"] = self._range

    @staticmethod
    def _range(*args: int) -> range:
        span = range(*args)
        if len(span) > _MAX_RANGE:
            raise SecurityError(f"range larger than {_MAX_RANGE} in template")
        return span

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _PADDING_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise SecurityError("%-formatting of strings is not allowed in templates")
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError("exponent too large in template")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    if len(seq) * times > _MAX_OUTPUT:
                        raise SecurityError("template output would be too large")
        return super().call_binop(context, operator, left, right)


def make_environment() -> _Sandbox:
    return _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def _is_template(text: str) -> bool:
    stripped = BINDING.sub("", text)
    return "{{" in stripped or "{%" in stripped or "{#" in stripped


def _render_one(sandbox: _Sandbox, text: str, env: _Env) -> str:
    # Set the bindings aside so Jinja never sees their `{{ }}`.
    bindings = BINDING.findall(text)
    masked = text
    for index, binding in enumerate(bindings):
        masked = masked.replace(binding, f"\x00{index}\x00", 1)
    tree = sandbox.parse(masked)
    if any(True for _ in tree.find_all(_STATEMENTS)):
        raise SecurityError("loops, macros, blocks and assignments are not allowed in spec templates; "
                            "use an expression, optionally with {% if %}")
    rendered = sandbox.from_string(tree).render(env=env)
    if len(rendered) > _MAX_OUTPUT:
        raise SecurityError("template output would be too large")
    for index, binding in enumerate(bindings):
        rendered = rendered.replace(f"\x00{index}\x00", binding)
    return rendered


def _explain(exc: TemplateError) -> str:
    if isinstance(exc, SecurityError):
        return f"template blocked by the sandbox: {exc}"
    if isinstance(exc, UndefinedError):
        missing = re.search(r"_Env object' has no attribute '([^']+)'", str(exc))
        what = f"environment variable '{missing.group(1)}' is not set" if missing else str(exc)
        return f"template error: {what} (use `| default(...)` for optional values)"
    if isinstance(exc, TemplateSyntaxError):
        return f"template syntax error: {exc.message}"
    return f"template error: {exc}"


def render_tree(root: Node, environ: AbcMapping[str, str] | None = None) -> list[Diagnostic]:
    """Render every templated string scalar in place; return all errors."""
    sandbox = make_environment()
    diags: list[Diagnostic] = []
    for path, node in list(walk(root)):
        if not (isinstance(node, Scalar) and isinstance(node.value, str) and _is_template(node.value)):
            continue
        env = _Env(os.environ if environ is None else environ)
        try:
            node.value = _render_one(sandbox, node.value, env)
            node.from_env = bool(env.read)
        except TemplateError as exc:
            diags.append(Diagnostic(node.mark, path, _explain(exc)))
            continue
        except (ArithmeticError, TypeError, ValueError, OverflowError) as exc:
            diags.append(Diagnostic(node.mark, path, f"template error: {exc}"))
            continue
        if any(looks_secret(name) for name in env.read):
            node.secret = True
    return diags


def secret_paths(root: Node) -> set[Path_]:
    return {path for path, node in walk(root) if isinstance(node, Scalar) and node.secret}
