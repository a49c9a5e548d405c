"""The driver <-> worker protocol: every message, typed.

A worker is started by the supervisor as `python -c "...import runner.local.worker.main..." FD
LIFELINE PAGE` (so a `runner` folder in the source directory cannot shadow this package) in a
session of its own (so Ctrl-C on the terminal reaches only the driver), behind a guard
process that ends its whole tree (runner/local/transport/processes.py, guard.py). FD is its end of
a socket pair, a `multiprocessing.connection.Connection` on both sides; PAGE a page of
memory shared with the driver (InFlight, below).

The driver sends, in order:
  WorkerConfig                    once, first: what to import and how to run it
  Tasks(ids, offsets, lines)      mini-batches to run, in order; each descriptor is the
                                  line of minibatches.jsonl at its offset (the worker
                                  reads it itself, so a message is a few bytes; a remote
                                  worker, on another machine, gets the lines themselves)
  Stop()                          run shutdown() and exit (only on success; otherwise
                                  the driver kills the worker's process tree)

The worker answers:
  Imported() | ImportFailed(text) the entry script imported and defines run() (or not)
  Ready()    | InitFailed(text)   init() returned (or raised)
  Started(mb, rows)               a remote worker only: the mini-batch it starts (rows
                                  None), then its rows once read (InFlight, by message)
  Results([Done | Failed, ...])   the results of mini-batches run, in the order given:
    Done(mb, items, elements, payload, header, failed_files, seconds)
                                  the formatted output rows of one
    Failed(mb, items, text, seconds)
                                  run() raised, returned something unusable, or the
                                  data could not be read (items None: rows never read)

Results are sent several to a message while mini-batches take well under a millisecond
(a message each would cost more than the work), at the latest when a Tasks message is
used up or HOLD_SECONDS (runner/local/worker/main.py) after the first was held; one that
took longer, or failed, goes at once. So a crash is still pinned on the mini-batch that caused it, each worker
publishes the one it runs in shared memory (InFlight, below), which the driver reads
once the worker is dead or past its timeout: results held and not yet sent are lost with
the worker and run again, with no try counted.

On the wire a message is a plain tuple, its tag then its fields: pickling the class
itself would cost the receiver a class lookup per message (1.3 us against 0.2 to unpickle
a Done), with a no-op run() about a tenth of the driver's time per mini-batch. `send`
and the `receive_*` functions are the only code that sees the tuples.
"""

from __future__ import annotations

import mmap
import pickle
import struct
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from runner.errors import RunnerError
from runner.plan.references import InputPlan


class WorkerConfig(NamedTuple):
    """The first message: everything a worker needs to start (sent pickled as it is). A
    NamedTuple like the messages: a frozen dataclass of these fields takes 0.5 ms to
    define, paid at every worker's start."""

    entry_script: str
    source_directory: str
    working_dir: str
    arguments: list[str]
    logging_level: str
    inputs: list[InputPlan]
    kind: str  # file | tabular
    output_action: str  # append_row | summary_only
    row_format: str  # text | csv | parquet
    minibatches: str  # the step's minibatches.jsonl
    stdout: str  # the worker's log files, opened by the driver as its fd 1 and 2
    stderr: str
    log_file: str  # where `logging` goes
    env: dict[str, str]  # set in the worker before the import
    # A worker on another machine (the ray target): no page is shared with the driver, so
    # the worker reports each mini-batch it starts in a Started message, and descriptors
    # travel in Tasks (`minibatches` is then "").
    remote: bool = False


# --- driver -> worker -----------------------------------------------------------------

class Tasks(NamedTuple):
    ids: list[int]
    offsets: list[int]  # of each descriptor's line in minibatches.jsonl
    lines: list[bytes] | None = None  # the lines themselves, for a remote worker


class Stop(NamedTuple):
    pass


# --- worker -> driver -----------------------------------------------------------------

class Imported(NamedTuple):
    pass


class ImportFailed(NamedTuple):
    text: str  # the traceback, or why the script cannot be run


class Ready(NamedTuple):
    pass


class InitFailed(NamedTuple):
    text: str


class Done(NamedTuple):
    mb: int
    items: int  # files, or rows read
    elements: int  # what run() returned
    payload: bytes  # the output rows, formatted (b"" with summary_only)
    header: bytes | None  # a CSV header, written once before the first rows
    failed_files: list[str] | None  # which files failed, when run() returned fewer and it is known
    seconds: float  # in run() and reading, for the mean that sizes queues


class Failed(NamedTuple):
    mb: int
    items: int | None  # None: the data was never read, so its rows are unknown
    text: str
    seconds: float


class Started(NamedTuple):
    """A remote worker's InFlight: the mini-batch it starts (rows None), then its rows once read."""

    mb: int
    rows: int | None


class Results(NamedTuple):
    results: list[Done | Failed]  # in the order their mini-batches were given


ToWorker = Tasks | Stop
FromWorker = Imported | ImportFailed | Ready | InitFailed | Results | Started
Message = ToWorker | FromWorker

_TAGS: dict[type[Message], str] = {
    Tasks: "tasks", Stop: "stop", Imported: "imported", ImportFailed: "import_error", Ready: "ready",
    InitFailed: "init_error", Results: "results", Started: "started"}
_TO_WORKER: dict[str, Callable[[Iterable[Any]], ToWorker]] = {"tasks": Tasks._make, "stop": Stop._make}
_FROM_WORKER: dict[str, Callable[[Iterable[Any]], FromWorker]] = {
    "imported": Imported._make, "import_error": ImportFailed._make, "ready": Ready._make,
    "init_error": InitFailed._make, "started": Started._make}
_RESULTS: dict[str, Callable[[Iterable[Any]], Done | Failed]] = {"done": Done._make, "failed": Failed._make}


class ProtocolError(RunnerError):
    """A message this side does not expect: a driver and a worker of different versions (exit 3)."""


def send(conn: Connection, message: Message) -> None:
    # pickle.dumps, not Connection.send: that makes a ForkingPickler per call, 1.4 us
    # against 0.2 for a Done, and pickles these plain values byte for byte the same.
    if isinstance(message, Results):
        conn.send_bytes(pickle.dumps(("results", [("done" if isinstance(r, Done) else "failed", *r)
                                                  for r in message.results])))
        return
    conn.send_bytes(pickle.dumps((_TAGS[type(message)], *message)))


def send_config(conn: Connection, config: WorkerConfig) -> None:
    conn.send(config)


def receive_config(conn: Connection) -> WorkerConfig:
    config = conn.recv()
    if not isinstance(config, WorkerConfig):
        raise ProtocolError(f"expected the worker's configuration, got {type(config).__name__}")
    return config


def receive_from_worker(conn: Connection) -> FromWorker:
    """The next message (blocks); EOFError or OSError when the worker is gone."""
    raw = conn.recv()
    try:
        if raw[0] == "results" and len(raw) == 2:
            return Results([_RESULTS[result[0]](result[1:]) for result in raw[1]])
        return _FROM_WORKER[raw[0]](raw[1:])
    except (KeyError, IndexError, TypeError):  # an unknown tag, or the wrong number of fields
        raise ProtocolError(f"unexpected message {raw!r:.200}") from None


def receive_from_driver(conn: Connection) -> ToWorker:
    """The next message (blocks); EOFError when the driver is gone."""
    raw = conn.recv()
    try:
        return _TO_WORKER[raw[0]](raw[1:])
    except (KeyError, IndexError, TypeError):
        raise ProtocolError(f"unexpected message {raw!r:.200}") from None


class InFlight:
    """The mini-batch a worker runs, in a page it shares with the driver: its id (-1
    before the first), its rows once read (-1 until then: a crash in run() still fails
    the right number of items) and when it started (time.monotonic_ns, one clock for
    every process). The worker writes it as each mini-batch starts (three stores, the id
    last); the driver reads it for timeouts, and after the worker died for whom to blame.
    A read torn by a start can only pair an id with the start of the mini-batch after it
    (the id is read first, written last), which is later: a timeout comes no sooner
    than it should."""

    SIZE = mmap.PAGESIZE

    def __init__(self, fd: int) -> None:
        self._map = mmap.mmap(fd, self.SIZE)
        self._words = memoryview(self._map).cast("q")

    def start(self, mb: int, started_ns: int) -> None:
        words = self._words
        words[2] = started_ns
        words[1] = -1
        words[0] = mb

    def loaded(self, rows: int) -> None:
        self._words[1] = rows

    def read(self) -> tuple[int, int | None, int]:
        """(mini-batch or -1, its rows or None, started in monotonic ns)."""
        words = self._words
        mb, rows, started = words[0], words[1], words[2]
        return mb, rows if rows >= 0 else None, started

    def reset(self) -> None:
        self.start(-1, 0)

    def close(self) -> None:
        self._words.release()
        self._map.close()


class ReportedInFlight:
    """The driver's InFlight for a remote worker, kept from its Started messages: the
    start is when the driver heard of it (the worker's clock is another machine's)."""

    def __init__(self) -> None:
        self._state: tuple[int, int | None, int] = (-1, None, 0)

    def report(self, mb: int, rows: int | None, now_ns: int) -> None:
        started = self._state[2] if mb == self._state[0] else now_ns
        self._state = (mb, rows, started)

    def read(self) -> tuple[int, int | None, int]:
        return self._state

    def close(self) -> None:
        pass


class SendingInFlight:
    """The worker's side of ReportedInFlight: the same calls as InFlight, sent as Started."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._mb = -1

    def start(self, mb: int, started_ns: int) -> None:
        self._mb = mb
        send(self._conn, Started(mb, None))

    def loaded(self, rows: int) -> None:
        send(self._conn, Started(self._mb, rows))


# A Parquet step's Done carries its frame as one Arrow IPC stream after its length: the
# driver appends payloads to the staged file as they come, and reports.finish_parquet
# walks them by this prefix (runner/local/output/reports.py).
FRAME_SIZE = struct.Struct("<Q")


def frame_to_staged(frame: Any) -> bytes:
    """A DataFrame as a Done's payload: its length, then an Arrow IPC stream of it."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return FRAME_SIZE.pack(len(data)) + data
