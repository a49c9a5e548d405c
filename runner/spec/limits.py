"""The size caps of spec templates, and how big a value is: shared by the sandbox and
the bounded text operations (textbounds.py), which check a result's size before they
build it."""

from __future__ import annotations

from typing import Any

from jinja2.exceptions import SecurityError

# The caps. A spec's templates pick a value from the environment or format a name: a few
# hundred characters. The caps leave room for that many times over while keeping the
# worst case (a sort or join of a capped value) well inside the time budget.
MAX_WEIGHT = 262_144  # characters, items or bytes any intermediate value may hold
MAX_BITS = 65_536  # bits of an integer (about 20,000 digits)
MAX_COUNT = 10_000  # range(), lipsum paragraphs and words, batch and slice sizes
MAX_INDENT = 16  # tojson's indent


class Exhausted(SecurityError):
    """The template went past its budget (time or size)."""


def weight(value: Any, cap: int = MAX_WEIGHT) -> int:
    """Characters, items or bytes `value` holds, counting a shared item each time it
    appears (that is what joining or printing it costs); stops counting past `cap`."""
    total, stack = 0, [value]
    while stack and total <= cap:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 8 + 1
        elif isinstance(item, dict):  # plain data only: never walk the template's context or env
            total += 1
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 1
            stack.extend(item)
        else:
            total += 1
    return total


def check_weight(value: Any, what: str = "a value") -> Any:
    if weight(value) > MAX_WEIGHT:
        raise Exhausted(f"{what} would be larger than {MAX_WEIGHT} characters or items")
    return value
