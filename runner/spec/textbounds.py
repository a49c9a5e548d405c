"""Text a template builds, bounded before it is built.

Checking a result's size after the work leaves the work done: `'{:>999999999}'.format(1)`
allocated a gigabyte, and `join` with a 200 KB separator over 10,000 items two, before
any check saw the result. So the operations that build text from small inputs check the
size the result will have first: a format spec's width and precision, a join's items and
separators as they come, each operand of `~` as it is evaluated, and a template's output
piece by piece.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from string import Formatter
from typing import Any

from jinja2 import pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import make_attrgetter
from jinja2.nodes import Concat, EvalContext
from jinja2.sandbox import SandboxedFormatter
from markupsafe import EscapeFormatter

from runner.spec.limits import MAX_WEIGHT, Exhausted, weight

_MAX_DIGITS = len(str(MAX_WEIGHT))


def check_format_spec(spec: str) -> None:
    """Refuse a format spec with a width or precision past MAX_WEIGHT (each run of
    digits is one or the other, or a fill character: a digit)."""
    start = -1
    for index, char in enumerate(spec + " "):
        if char in "0123456789":
            start = index if start < 0 else start
            continue
        if start >= 0 and (index - start > _MAX_DIGITS or int(spec[start:index]) > MAX_WEIGHT):
            raise Exhausted(f"a format width or precision larger than {MAX_WEIGHT}")
        start = -1


class Accumulator:
    """Counts the characters of a result as its pieces are made; raises past `cap`."""

    def __init__(self, what: str, cap: int = MAX_WEIGHT) -> None:
        self.what, self.cap, self.total = what, cap, 0

    def add(self, size: int) -> None:
        self.total += size
        if self.total > self.cap:
            raise Exhausted(f"{self.what} would be larger than {self.cap} characters")


class BoundedFormatter(SandboxedFormatter):
    """str.format as Jinja's sandbox runs it, with each field's spec checked before the
    field is formatted and the fields' total counted as they are."""

    def __init__(self, env: Any, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.size = Accumulator("a str.format() result")

    def format_field(self, value: Any, format_spec: str) -> Any:
        check_format_spec(format_spec)
        if weight(value) > MAX_WEIGHT:
            raise Exhausted(f"a str.format() argument larger than {MAX_WEIGHT} characters or items")
        out = super().format_field(value, format_spec)
        self.size.add(len(out))
        return out


class BoundedEscapeFormatter(BoundedFormatter, EscapeFormatter):
    """For Markup.format (a value the `escape` filter made)."""


def bounded_format(env: Any, text: str, is_format_map: bool) -> Callable[..., str]:
    """What Jinja's sandbox returns for `text.format` / `text.format_map`, bounded."""
    formatter: BoundedFormatter
    if hasattr(text, "__html__"):
        formatter = BoundedEscapeFormatter(env, escape=text.escape)  # type: ignore[attr-defined]
    else:
        formatter = BoundedFormatter(env)

    def call(*args: Any, **kwargs: Any) -> str:
        env.tick()
        if is_format_map:
            if kwargs or len(args) != 1:
                raise TypeError("format_map() takes exactly one argument")
            kwargs = args[0]
            args = ()
        formatter.size = Accumulator("a str.format() result")
        return type(text)(formatter.vformat(text, args, kwargs))
    return call


def join_items(items: Iterable[Any], separator: str, what: str) -> str:
    """`separator.join(str(item) ...)`, refused as soon as the pieces pass MAX_WEIGHT."""
    size = Accumulator(what)
    parts: list[str] = []
    for item in items:
        text = str(item)
        size.add(len(text) + (len(separator) if parts else 0))
        parts.append(text)
    return separator.join(parts)


@pass_eval_context
def do_join(eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
    """Jinja's `join` filter (autoescape is off in specs), bounded as it goes."""
    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    return join_items(value, str(d), "a join")


def concat(*operands: Callable[[], Any]) -> str:
    """`a ~ b ~ c`: each operand evaluated only once what came before is known to fit."""
    return join_items((operand() for operand in operands), "", "a '~' concatenation")


class BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator with `~` compiled to `environment.bounded_concat(lambda: a, ...)`:
    Jinja's own evaluates every operand into one tuple before it joins them."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat(")
        for arg in node.nodes:
            self.write("(lambda: ")
            self.visit(arg, frame)
            self.write("), ")
        self.write(")")


def bounded_output(pieces: Iterator[str], cap: int, what: str) -> str:
    """A template's output, refused as soon as its pieces pass `cap`."""
    size = Accumulator(what, cap)
    parts = []
    for piece in pieces:
        size.add(len(piece))
        parts.append(piece)
    return "".join(parts)
