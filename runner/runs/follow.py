"""Following a run from any terminal (`runner logs -f`): read what its files gain, as
`tail -f` does, until the run ends. Only files are read, never the driver's memory, so
a second process (another terminal, an SSH session) follows as well as the first.

The end is read before each pass over the files and the pass after the end reads to
the end of every file: the driver writes its logs before it records the end, so nothing
written before the end is missed. Files may appear at any time (a step starting, a
worker restarting); each pass asks for the list again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from runner.runs.folder import RunFolder
from runner.runs.inspect import read

if TYPE_CHECKING:
    from runner.runs.views import LogChunk

INTERVAL = 0.25  # seconds between passes: prompt for a person, idle for the machine
CHUNK = 1 << 20  # read at most this much of one file per pass while the run goes on


def tail(paths: Callable[[], Iterable[Path]], ended: Callable[[], bool], interval: float = INTERVAL,
         sleep: Callable[[float], None] = time.sleep) -> Iterator[LogChunk]:
    """What each file `paths()` lists gains, whole lines only while the run goes
    on, until `ended()`; then what is left of every file, and stop."""
    from runner.runs import views  # lazily: `runner apply` never pays for the views

    offsets: dict[Path, int] = {}
    while True:
        done = ended()
        for path in paths():
            text = _new_text(path, offsets, done)
            if text:
                yield views.LogChunk(str(path), text)
        if done:
            return
        sleep(interval)


def _new_text(path: Path, offsets: dict[Path, int], to_end: bool) -> str:
    """What `path` gained since the last read: whole lines, or everything when `to_end`."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, whatever happens
    except OSError:
        return ""  # listed, then gone (a run removed while followed): nothing more to show
    with handle:
        size = os.fstat(handle.fileno()).st_size
        offset = offsets.get(path, 0)
        if size < offset:  # cut back or replaced: show it from its start again
            offset = 0
        handle.seek(offset)
        data = handle.read() if to_end else handle.read(min(size - offset, CHUNK))
    if not to_end:
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) < CHUNK:
            return ""  # half a line: the rest comes in a later pass
        data = data[:cut] if cut else data
    offsets[path] = offset + len(data)
    return data.decode("utf-8", errors="replace")


def run_ended(run: RunFolder) -> Callable[[], bool]:
    """Whether the run has ended (a driver gone before it recorded the end counts)."""
    return lambda: read(run).status.finished


def status_changes(run: RunFolder, interval: float = INTERVAL,
                   sleep: Callable[[float], None] = time.sleep) -> Iterator[LogChunk]:
    """(run.json, a line) each time the run's status changes, until it ends: what a
    target whose logs are kept elsewhere (Azure ML) can show while it runs."""
    from runner.runs import views  # lazily: `runner apply` never pays for the views

    shown = ""
    while True:
        info = read(run)
        line = f"run {run.id}: {info.status}" + (f" ({info.reason})" if info.reason else "") + "\n"
        if line != shown:
            shown = line
            yield views.LogChunk(str(run.run_json), line)
        if info.status.finished:
            return
        sleep(interval)
