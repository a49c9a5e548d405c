"""`runner status --watch` and `runner logs -f` as a terminal shows them: the loops and
the drawing, kept out of the CLI (flags only) and out of the runs layer (views and records only).
What a status says comes from runner/runs/display.py, as `runner status` prints it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING

from runner.runs.display import status_lines
from runner.runs.status import Status

if TYPE_CHECKING:
    from runner.runs.views import LogChunk, RunView

# ANSI: to the start of the line N rows up, then clear to the end of the screen.
_UP, _CLEAR = "\x1b[{}F", "\x1b[J"


def watch_status(read: Callable[[], RunView], out: IO[str], interval: float, tty: bool,
                 width: Callable[[], int], sleep: Callable[[float], None] = time.sleep) -> Status:
    """Show the status `read()` returns until the run ends; returns how it ended. On a
    terminal the block is redrawn in place, each line cut to the terminal's width;
    otherwise (a file, a pipe, CI) a new block is written, after a blank line, only when
    the run changed."""
    shown: list[str] = []
    settled: RunView | None = None  # of the block last written
    rows = 0
    while True:
        view = read()
        lines = status_lines(view)
        # Into a log, a new block when the counts or states change (the view less what
        # moves every second while a run goes on: rates, time left), never the same text
        # twice (a field the text does not show changed).
        if lines != shown and (tty or view.settled() != settled):
            if tty:
                # Each line cut to the terminal's width: a wrapped line breaks words and
                # ids, and the rows to go back up over would depend on where it broke.
                cut = [fit(line, width()) for line in lines]
                out.write((_UP.format(rows) + _CLEAR if rows else "") + "\n".join(cut) + "\n")
                rows = len(cut)
            else:
                out.write(("\n" if shown else "") + "\n".join(lines) + "\n")
            out.flush()
            shown, settled = lines, view.settled()
        if view.status.finished:
            return view.status
        sleep(interval)


def fit(line: str, width: int) -> str:
    """`line`, cut to `width` columns with an ellipsis where it is longer."""
    width = max(1, width)
    return line if len(line) <= width else line[:width - 1] + "…"


def print_follow(chunks: Iterable[LogChunk], out: IO[str]) -> bool:
    """Each file's new text as `tail -f` shows several files: a header when the file
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
