"""The Jinja sandbox spec templates render in: immutable, strict about undefined names,
and bounded (no statements, no unbounded repetition, padding or output), so a spec from
a stranger cannot run away with time or memory. Imported only when a spec has a template."""

from __future__ import annotations

import re
from collections.abc import Mapping as AbcMapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, UndefinedError, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from runner.spec.templating import _MAX_OUTPUT, BINDING

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


def render_one(sandbox: _Sandbox, text: str, env: AbcMapping[str, str]) -> str:
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


def explain(exc: TemplateError) -> str:
    if isinstance(exc, SecurityError):
        return f"template blocked by the sandbox: {exc}"
    if isinstance(exc, UndefinedError):
        missing = re.search(r"_Env object' has no attribute '([^']+)'", str(exc))
        what = f"environment variable '{missing.group(1)}' is not set" if missing else str(exc)
        return f"template error: {what} (use `| default(...)` for optional values)"
    if isinstance(exc, TemplateSyntaxError):
        return f"template syntax error: {exc.message}"
    return f"template error: {exc}"
