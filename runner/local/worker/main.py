"""One worker process: import the entry script, `init()` once, `run()` per mini-batch.

How it is started and what it exchanges with the driver: runner/local/protocol.py. The
worker reads each mini-batch's data itself (its descriptor from minibatches.jsonl, then
the files or table rows it names) and sends back only the formatted output rows and
counts. Its stdout and stderr (print, C extensions, tracebacks) go to its files under
logs/user; `logging` goes to its entry_script_log file.
"""

from __future__ import annotations

import atexit
import importlib.util
import inspect
import io
import logging
import os
import re
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NoReturn

from runner.compat.context import MiniBatchContext
from runner.errors import ExitCode, RunnerError
from runner.local import protocol
from runner.local.partition.descriptors import ByteRange, Descriptor, Partition, decode, files_of
from runner.local.partition.identity import UnreadableInput
from runner.local.protocol import (Done, Failed, ImportFailed, Imported, InFlight, InitFailed, Ready, Results,
                                   SendingInFlight, Stop, WorkerConfig)
from runner.local.worker.fetch import Fetched

# Results are held, to go several to a message, only while each mini-batch takes less
# than BATCH_SECONDS, for at most HOLD_SECONDS: a held result is not yet committed, and
# is run again if the worker dies (runner/local/protocol.py).
BATCH_SECONDS = 0.001
HOLD_SECONDS = 0.005


class RunResultError(RunnerError):
    """run() returned something the engine cannot count: the entry script's to fix (exit 2)."""

    exit_code = ExitCode.USAGE


def main() -> None:
    """Serve, then leave with os._exit whatever happened: a non-daemon thread that run()
    or init() left running must not hold a finished worker (nor the driver's graceful
    stop, which would wait its whole grace for it). What the worker started is ended by
    its guard once it has exited (runner/local/procs/guard.py)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides when workers stop
    code = 0
    try:
        _serve(int(sys.argv[1]), int(sys.argv[3]))
    except BaseException:  # noqa: BLE001 - an error of the worker itself: logged, then exit 1
        _to_stderr(traceback.format_exc())
        code = 1
    _leave(code)


def _serve(fd: int, in_flight_fd: int) -> None:
    os.set_inheritable(fd, False)  # what run() starts must not hold the driver's socket open
    conn = Connection(fd)
    in_flight = InFlight(in_flight_fd)
    os.close(in_flight_fd)  # mapped: the fd is no longer needed, and run()'s children must not get it
    config = protocol.receive_config(conn)
    if config.remote:  # code paths relative to the working directory, where its host unpacked the code
        config = config._replace(entry_script=os.path.abspath(config.entry_script),
                                 source_directory=os.path.abspath(config.source_directory),
                                 working_dir=os.path.abspath(config.working_dir))
    _redirect_output(config)
    _configure_logging(config)
    module = _import_entry_script(conn, config)
    if module is None:
        return
    if not _call_init(conn, module):
        return
    Worker(conn, config, module, SendingInFlight(conn) if config.remote else in_flight).serve()


def _leave(code: int) -> NoReturn:
    """What an interpreter's exit does that matters here, without waiting for threads:
    the script's atexit functions, then what is buffered in its output and log files."""
    try:
        atexit._run_exitfuncs()  # each one's error is printed, not raised
    except BaseException:  # noqa: BLE001 - leaving regardless
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - closed, or fd 1 and 2 closed by run()
            pass
    try:
        logging.shutdown()
    except Exception:  # noqa: BLE001
        pass
    os._exit(code)


def _to_stderr(text: str) -> None:
    """A traceback for the worker's stderr log. run() may have closed fd 1 and 2 (or
    replaced sys.stderr): writing must not raise, or the failure it reports would become
    the worker's death, with no traceback sent to the driver."""
    try:
        print(text, file=sys.stderr, flush=True)
    except Exception:  # noqa: BLE001
        pass


def _reopen_closed_output(config: WorkerConfig) -> None:
    """If run() closed fd 1 or 2, its log file goes back on it, so what is written next
    (this failure's traceback, later prints, what run() starts) still lands in the log.
    Checked only when a mini-batch failed: two fstat calls."""
    for fd, path in ((1, config.stdout), (2, config.stderr)):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        try:
            new = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW)
        except OSError:
            continue
        if new != fd:  # the other one is open (os.open takes the lowest free fd)
            os.dup2(new, fd)
            os.close(new)
        else:
            os.set_inheritable(fd, True)


def _redirect_output(config: WorkerConfig) -> None:
    """fd 1 and 2 are already this worker's log files (the driver opened them, so even
    an interpreter crash lands there); line buffering keeps them current."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # not when something replaced sys.stdout
            stream.reconfigure(line_buffering=True)
    os.environ.update(config.env)


def _configure_logging(config: WorkerConfig) -> None:
    os.makedirs(os.path.dirname(config.log_file), exist_ok=True)
    # Opened without following a link (as the run folder's other files are): a link
    # planted in its place would have the worker append to a file outside the run.
    fd = os.open(config.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    handler = logging.StreamHandler(open(fd, "a", encoding="utf-8"))  # noqa: SIM115 - the worker's whole life
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(process)d: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.logging_level)


def _import_entry_script(conn: Connection, config: WorkerConfig) -> Any:
    script = config.entry_script
    sys.path.insert(0, config.source_directory)
    sys.path.insert(0, os.path.dirname(script))
    # What Azure ML entry scripts import (azureml_user.parallel_run, azureml.core.Model),
    # last on the path: an installed Azure package wins.
    sys.path.append(str(Path(__file__).resolve().parents[2] / "compat" / "shims"))  # runner/compat/shims
    sys.argv = [script, *config.arguments]
    os.chdir(config.working_dir)
    name = os.path.splitext(os.path.basename(script))[0]
    try:
        spec = importlib.util.spec_from_file_location(name, script)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {script}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except BaseException:  # noqa: BLE001 - SystemExit from argparse included
        text = traceback.format_exc()
        _to_stderr(text)
        protocol.send(conn, ImportFailed(text))
        return None
    if not callable(getattr(module, "run", None)):
        protocol.send(conn, ImportFailed(f"{script} defines no run(mini_batch) function"))
        return None
    protocol.send(conn, Imported())
    return module


def _call_init(conn: Connection, module: Any) -> bool:
    init = getattr(module, "init", None)
    if init is not None:
        try:
            init()
        except BaseException:  # noqa: BLE001
            text = traceback.format_exc()
            _to_stderr(text)
            protocol.send(conn, InitFailed(text))
            return False
    protocol.send(conn, Ready())
    return True


class Worker:
    def __init__(self, conn: Connection, config: WorkerConfig, module: Any,
                 in_flight: InFlight | SendingInFlight) -> None:
        self.conn = conn
        self.in_flight = in_flight
        self.held: list[Done | Failed] = []  # results not yet sent, in order
        self.held_since = 0.0
        self.config = config
        self.module = module
        self.inputs = config.inputs
        self.kind = config.kind
        self.summary_only = config.output_action == "summary_only"
        self.row_format = config.row_format
        # Opened at the first mini-batch (a worker started while its step is planned may
        # come before the file), then for the worker's life; a remote worker gets its
        # descriptors in Tasks.
        self.descriptors: Any = None
        self.log = logging.getLogger("runner.worker")
        # A file dataset's objects on object storage, copied for run() into its scratch folder.
        self.fetched = Fetched(config.env.get("RUNNER_WORKING_DIR") or tempfile.gettempdir())
        try:
            params = inspect.signature(module.run).parameters.values()
            positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            self.pass_context = len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)
        except (TypeError, ValueError):
            self.pass_context = False

    def serve(self) -> None:
        while True:
            try:
                message = protocol.receive_from_driver(self.conn)
            except EOFError:  # the driver is gone
                break
            if isinstance(message, Stop):
                break
            for line in self._lines(message.offsets, message.lines):  # in order: the driver matches results to its queue
                # As text: json.loads would first guess a byte string's encoding (a third of
                # decoding a descriptor); the lines are UTF-8, as it would have found.
                self.handle(decode(line.decode("utf-8", "surrogatepass")))
            self.send_held()  # before waiting for more: nothing is held while the worker idles
        shutdown = getattr(self.module, "shutdown", None)
        if shutdown is not None:
            try:
                shutdown()
            except Exception:  # noqa: BLE001 - shutdown errors are logged, not fatal
                _to_stderr(traceback.format_exc())

    def _lines(self, offsets: list[int], lines: list[bytes] | None) -> Iterator[bytes]:
        if lines is not None:
            yield from lines
            return
        if self.config.remote:
            raise protocol.ProtocolError("a remote worker was sent descriptors by offset")
        if self.descriptors is None:
            self.descriptors = open(self.config.minibatches, "rb")  # noqa: SIM115 - the worker's whole life
        for offset in offsets:
            self.descriptors.seek(offset)
            yield self.descriptors.readline()

    def send_held(self) -> None:
        if self.held:
            held, self.held = self.held, []
            protocol.send(self.conn, Results(held))

    def _hold(self, result: Done | Failed, now: float) -> None:
        """Send a result with those held before it, or hold it while mini-batches are tiny."""
        if not self.held:
            self.held_since = now
        self.held.append(result)
        if result.seconds >= BATCH_SECONDS or isinstance(result, Failed) or now - self.held_since >= HOLD_SECONDS:
            self.send_held()

    def handle(self, descriptor: Descriptor) -> None:
        mb_id = descriptor.id
        self.in_flight.start(mb_id, time.monotonic_ns())
        started = time.perf_counter()
        files = files_of(descriptor)
        items: int | None = len(files) if self.kind == "file" and files is not None else None
        if isinstance(descriptor, ByteRange):  # rows counted at planning: a range that cannot be read fails them all
            items = descriptor.rows
        try:
            mini_batch = self._read(descriptor, files)
            if self.kind == "tabular":
                items = len(mini_batch)
                self.in_flight.loaded(items)
            args: tuple[Any, ...] = (mini_batch,)
            if self.pass_context:
                keys = descriptor.keys if isinstance(descriptor, Partition) else {}
                args += (MiniBatchContext(keys, mb_id, self.inputs[descriptor.input].reference),)
            result = self.module.run(*args)
            elements, payload, header = self._format(result)
        except BaseException as exc:  # noqa: BLE001 - every failure of run() fails the mini-batch
            if isinstance(exc, KeyboardInterrupt):
                raise
            text = str(exc) if isinstance(exc, (RunResultError, UnreadableInput)) else traceback.format_exc()
            _reopen_closed_output(self.config)
            _to_stderr(f"mini-batch {mb_id} failed:\n{text}")
            now = time.perf_counter()
            self._hold(Failed(mb_id, items, text, now - started), now)
            return
        finally:
            self.fetched.clear()
        assert items is not None
        failed_files = None
        if elements < items and files is not None and self.kind == "file" and not self.summary_only:
            failed_files = _unaccounted(files, result, items - elements)
        now = time.perf_counter()
        self._hold(Done(mb_id, items, elements, payload, header, failed_files, now - started), now)

    def _read(self, descriptor: Descriptor, files: list[str] | None) -> Any:
        if self.kind == "file":
            if files is None:
                raise ValueError(f"mini-batch {descriptor.id} of a file dataset names no files")
            # A copy (run() may change it, and _unaccounted reads the files); objects on
            # object storage as local copies.
            return self.fetched.local_paths(files, self.inputs, descriptor)
        from runner.local.partition.tables import read_descriptor

        return read_descriptor(self.inputs[descriptor.input], descriptor)

    def _format(self, result: Any) -> tuple[int, bytes, bytes | None]:
        """Count the returned elements and format them as output rows."""
        if result is None:
            raise RunResultError("run() returned None: it must return a list, a tuple or a pandas "
                                 "DataFrame with one element per input item that succeeded")
        frame_type = _dataframe_type()
        if frame_type is not None and isinstance(result, frame_type):
            count = len(result)
            if self.summary_only:
                return count, b"", None
            return count, *_frame_rows(result, self.row_format)
        if isinstance(result, (str, bytes, dict)) or not hasattr(result, "__iter__"):
            raise RunResultError(f"run() returned {type(result).__name__}: it must return a list, a tuple "
                                 "or a pandas DataFrame with one element per input item that succeeded")
        elements = list(result)
        if self.summary_only:
            return len(elements), b"", None
        if self.row_format == "text":
            text = "".join(f"{_one_line(e)}\n" for e in elements)
            return len(elements), text.encode("utf-8", "surrogateescape"), None
        import pandas as pd

        rows = [e if isinstance(e, (list, tuple)) else [e] for e in elements]
        return len(elements), *_frame_rows(pd.DataFrame(rows), self.row_format)


def _one_line(element: Any) -> str:
    """One output row per element: a line break inside (\\n, \\r, \\u2028, any that
    str.splitlines() splits on) is written as its escape, `\\n`, `\\r`, `\\u2028`..."""
    text = str(element)
    return text if text.isprintable() else text.translate(_ESCAPES)  # every line break is unprintable


_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_ESCAPES = str.maketrans({c: repr(c)[1:-1] for c in _BREAKS})
_NOT_NEWLINE_BREAKS = re.compile("[" + _BREAKS[1:] + "]")


def _dataframe_type() -> type[Any] | None:
    pandas = sys.modules.get("pandas")  # a script that never imported pandas returns none
    return pandas.DataFrame if pandas is not None else None


def _frame_rows(frame: Any, row_format: str) -> tuple[bytes, bytes | None]:
    if row_format == "text":  # Azure's append_row: values separated by spaces, no header
        text = frame.to_csv(sep=" ", header=False, index=False)
        if text.count("\n") != len(frame) or _NOT_NEWLINE_BREAKS.search(text):
            # A value holds a line break: escaped as _one_line does, so each row stays one line.
            text = _escaped(frame).to_csv(sep=" ", header=False, index=False)
        return text.encode("utf-8", "surrogateescape"), None
    if row_format == "parquet":
        from runner.local.protocol import frame_to_staged

        return frame_to_staged(frame.rename(columns=str)), None
    header = frame.iloc[:0].to_csv(index=False).encode("utf-8", "surrogateescape")
    return frame.to_csv(header=False, index=False).encode("utf-8", "surrogateescape"), header


def _escaped(frame: Any) -> Any:
    """The frame with each line break in a text (or object) value escaped."""
    out = frame.copy(deep=False)
    for index in range(out.shape[1]):  # by position: column names may repeat
        column = out.iloc[:, index]
        if column.dtype.kind not in "biufcmM":  # numbers and times hold no line break
            out.isetitem(index, column.astype(object).map(_escaped_value))
    return out


def _escaped_value(value: Any) -> Any:
    if isinstance(value, str):
        return _one_line(value)
    text = str(value)  # what to_csv writes for an object; None and NaN stay empty
    return value if text.isprintable() else text.translate(_ESCAPES)


def _unaccounted(files: list[str], result: Any, shortfall: int) -> list[str] | None:
    """Which files failed when run() returned fewer rows than files: those whose name no
    returned row mentions, if that is exactly the shortfall (else unknown)."""
    try:
        text = "\n".join(str(e) for e in result)
    except Exception:  # noqa: BLE001
        return None
    missing = [f for f in files if os.path.basename(f) not in text]
    return missing if len(missing) == shortfall else None


if __name__ == "__main__":
    main()
