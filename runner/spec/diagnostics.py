"""Spec diagnostics: where a problem is (file:line:col and field path) and what it is.

Every stage of loading collects diagnostics instead of stopping at the first one, so a
user sees all problems at once (the DVC habit). `SpecError` carries them to the CLI,
which prints them and exits 2 without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from runner.errors import ExitCode, RunnerError

Path_ = tuple[str | int, ...]

MAX_SHOWN = 50  # diagnostics printed in full; the rest are counted
_LINE_WINDOW = 160  # characters of a source line shown in a snippet

@dataclass(frozen=True)
class Mark:
    """A position in a source file; line and column are 1-based as editors show them.

    Line 0 marks a value that came from no file (a `--set` flag): `file` then holds the
    flag as typed, so the message names it.
    """

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        if self.line == 0:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


def format_path(path: Path_) -> str:
    """('steps', 0, 'parallel_run', 'x') -> 'steps[0].parallel_run.x'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "<spec>"


@dataclass(frozen=True)
class Diagnostic:
    mark: Mark
    path: Path_
    message: str
    # Extra context, e.g. "set by --set steps[0].x=1" or "bound from parameters.p".
    note: str = ""
    # Text the snippet must not show (a secret written literally: the error names it, the
    # snippet under it shows the line with *** in its place).
    hidden: tuple[str, ...] = ()

    def headline(self) -> str:
        where = format_path(self.path) if self.path else ""
        text = f"{self.mark} {where}: {self.message}" if where else f"{self.mark}: {self.message}"
        return f"{text} ({self.note})" if self.note else text


@dataclass
class SpecError(RunnerError):
    """One or more problems with a spec (exit 2), with the text of each file they were
    found in (`sources`: the file as marks name it -> its text), as DVC's
    YAMLValidationError keeps the text and revision it validated: a snippet then shows
    what was validated (standard input, a git revision's file), not the working tree."""

    exit_code: ClassVar[ExitCode] = ExitCode.USAGE
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "\n".join(d.headline() for d in self.diagnostics)

    def report(self) -> str:
        return render(self.diagnostics, sources=self.sources)

    def with_sources(self, sources: dict[str, str]) -> SpecError:
        """The error with `sources` added (a text it already holds stays: it is the one validated)."""
        self.sources = {**sources, **self.sources}
        return self


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.mark.file, d.mark.line, d.mark.col, d.message)


def unique_sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    """Drop exact repeats (a value checked in two passes) and order by position."""
    return sorted(dict.fromkeys(diags), key=sort_key)


def snippet(mark: Mark, context: int = 2, source: str | None = None, hidden: tuple[str, ...] = ()) -> str:
    """A numbered excerpt of the file around `mark`, with a caret under the column; each
    `hidden` text shown as *** (before lines are cut, so no piece of it shows either)."""
    if mark.line == 0:
        return ""
    if source is None:
        try:
            source = Path(mark.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return ""
    for text in hidden:
        source = source.replace(text, "***") if text else source
    lines = source.splitlines()
    if not 1 <= mark.line <= len(lines):
        return ""
    first = max(1, mark.line - context)
    width = len(str(mark.line))
    # Long lines are cut to a window around the column, so one huge line cannot flood the terminal.
    longest = max(len(line) for line in lines[first - 1:mark.line])
    start = max(0, mark.col - 1 - _LINE_WINDOW // 2) if longest > _LINE_WINDOW else 0
    out = []
    for number in range(first, mark.line + 1):
        text = lines[number - 1]
        shown = text[start:start + _LINE_WINDOW]
        prefix, suffix = ("..." if start else ""), ("..." if len(text) > start + _LINE_WINDOW else "")
        out.append(f"  {number:>{width}} | {prefix}{shown}{suffix}")
    caret = mark.col - 1 - start + (3 if start else 0)
    out.append(f"  {' ' * width} | {' ' * caret}^")
    return "\n".join(out)


def render(diags: list[Diagnostic], with_snippets: bool = True, sources: dict[str, str] | None = None) -> str:
    """All diagnostics as text: headline, then the numbered snippet (the first 50 in full).
    A snippet comes from `sources` (the texts validated) where it has the file, else from disk."""
    blocks = []
    for d in diags[:MAX_SHOWN]:
        block = d.headline()
        excerpt = snippet(d.mark, source=(sources or {}).get(d.mark.file), hidden=d.hidden) if with_snippets else ""
        blocks.append(f"{block}\n{excerpt}" if excerpt else block)
    count = len(diags)
    summary = f"{count} error{'s' if count != 1 else ''} in spec"
    if count > MAX_SHOWN:
        summary += f" ({count - MAX_SHOWN} more not shown)"
    return "\n".join(blocks) + f"\n{summary}"


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """"; did you mean 'x'?" for the closest known name, or "" (every message says it alike)."""
    hint = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean '{hint[0]}'?" if hint else ""
