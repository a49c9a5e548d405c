"""What the supervisor (runner/local/driver/supervisor.py) keeps per mini-batch and per
worker, and how it words what it reports."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from runner.local.protocol import WorkerConfig
from runner.local.transport.base import Handle, InFlightView

# Characters of a worker's start-up error kept in the step's reason, which run.json and
# step.json hold and apply and status print: the driver's log keeps the whole text.
SHOWN_ERROR = 8000


@dataclass(slots=True)
class Task:
    """A mini-batch by reference: workers read its descriptor from minibatches.jsonl at
    `offset`, so every message the driver sends is a few bytes and never blocks. (Slots
    and no list per task: one is made per mini-batch on the driver's hot path.)"""

    id: int
    offset: int
    files: int | None  # items of a file dataset; None for rows, which only workers count
    tries: int = 0  # failed tries so far


@dataclass
class Spawned:
    """A worker as its transport started it; `conn` None until one started elsewhere
    connects (its configuration is then sent by the supervisor)."""

    handle: Handle
    conn: Connection | None
    in_flight: InFlightView
    config: WorkerConfig
    at: float  # time.monotonic() when started: its start-up timeout counts from here


@dataclass
class Slot:
    index: int
    node: int
    process: int
    proc: Handle | None = None  # a process here, an actor elsewhere (runner/local/transport/)
    conn: Connection | None = None  # None until a worker started elsewhere connects
    in_flight: InFlightView | None = None  # what the worker runs now (runner/local/protocol.py)
    config: WorkerConfig | None = None  # what it was started with, sent once it is connected
    state: str = "down"  # down | starting | imported | ready | retired
    queue: deque[Task] = field(default_factory=deque)  # sent, in order, whose results have not come
    init_failures: int = 0
    last_error: str = ""
    spawned: float = 0.0

    def running(self) -> tuple[Task | None, int | None, float]:
        """The queued mini-batch the worker runs (None: between two), its rows if read,
        and when it started (time.monotonic seconds). One whose result is held is still
        queued: the worker has moved on from it only once the id changed."""
        if self.in_flight is None:
            return None, None, 0.0
        mb, rows, started = self.in_flight.read()
        for task in self.queue:
            if task.id == mb:
                return task, rows, started / 1e9
        return None, None, 0.0


@dataclass
class Outcome:
    status: str  # succeeded | failed | interrupted | preflight
    reason: str = ""


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else text


def shown(text: str) -> str:
    """`text` cut to about SHOWN_ERROR characters: its head (where it was raised) and its
    tail (the exception's last words), and how much was left out where."""
    if len(text) <= SHOWN_ERROR:
        return text
    head, tail = text[:SHOWN_ERROR * 3 // 4], text[-SHOWN_ERROR // 4:]
    return (f"{head}\n[... {len(text) - len(head) - len(tail):,} characters cut: logs/sys/driver.log in the "
            f"step's folder (`runner logs <run> --sys`) has the whole text ...]\n{tail}")
