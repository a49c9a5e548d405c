"""`runner status --watch` and `runner logs -f` as a terminal shows them: the loops and
the drawing, kept out of the CLI (flags only) and out of the runs layer (records only).
What a status says comes from runner/runs/display.py, as `runner status` prints it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import IO, Any

from runner.runs.display import status_lines
from runner.runs.status import Status

# ANSI: to the start of the line N rows up, then clear to the end of the screen.
_UP, _CLEAR = "\x1b[{}F", "\x1b[J"


def watch_status(read: Callable[[], dict[str, Any]], out: IO[str], interval: float, tty: bool,
                 width: Callable[[], int], sleep: Callable[[float], None] = time.sleep) -> Status:
    """Show the status `read()` returns until the run ends; returns how it ended. On a
    terminal the block is redrawn in place; otherwise (a file, a pipe, CI) a new block is
    written, after a blank line, only when its text changed."""
    shown: list[str] = []
    rows = 0
    while True:
        info = read()
        lines = status_lines(info)
        # Into a log, a new block when the counts or states change, not each time a rate
        # or the time left moves (every second while a run goes on).
        if lines != shown if tty else _settled(lines) != _settled(shown):
            if tty:
                out.write((_UP.format(rows) + _CLEAR if rows else "") + "\n".join(lines) + "\n")
                rows = _rows(lines, width())
            else:
                out.write(("\n" if shown else "") + "\n".join(lines) + "\n")
            out.flush()
            shown = lines
        status = Status(info["status"])
        if status.finished:
            return status
        sleep(interval)


_MOVING = re.compile(r"; [~\d.,]+ (?:mini-batches|items)/s$")


def _settled(lines: list[str]) -> list[str]:
    """`lines` without what moves every second: the rates and the ETA line."""
    return [_MOVING.sub("", line) for line in lines if not line.lstrip().startswith("ETA ")]


def _rows(lines: list[str], width: int) -> int:
    """The terminal rows `lines` take: a line longer than the terminal wraps."""
    width = max(1, width)
    return sum(max(1, -(-len(line) // width)) for line in lines)


def print_follow(chunks: Iterable[tuple[str, str]], out: IO[str]) -> bool:
    """Each (path, new text) as `tail -f` shows several files: a header when the file
    changes, then the text as it comes. Whether there was any."""
    last, ended_line = None, True
    for path, text in chunks:
        if path != last:
            out.write(("" if ended_line else "\n") + f"==> {path} <==\n")
            last = path
        out.write(text)
        out.flush()
        ended_line = text.endswith("\n")
    return last is not None
