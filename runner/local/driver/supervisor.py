"""The driver's one scheduling loop: worker processes, dispatch, retries, timeouts,
crashes and thresholds, for one step.

Each worker has up to PREFETCH mini-batches queued, so it never waits on the driver;
it runs them in order and answers in order. A worker that dies or times out fails only
the mini-batch it was running, which it publishes in shared memory (Slot.running,
runner/local/protocol.py InFlight), one try; the rest of its queue goes back without a
try counted, results it held unsent included. Retries go before new work.

When mini-batches take well under a millisecond, a message per mini-batch would cost
more than the work: the queue then runs deeper (DEEP), refilled CHUNK mini-batches to a
message, and the worker sends its results a message's worth at a time.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection

from typing_extensions import assert_never  # typing's is 3.11+; runner supports 3.10 (pydantic brings it)

from runner.local import protocol
from runner.local.driver.slots import Outcome, Slot, Spawned, Task, last_line, shown
from runner.local.output.ledger import Ledger
from runner.local.transport.base import Transport
from runner.local.transport.processes import Processes
from runner.local.protocol import (Done, FromWorker, ImportFailed, Imported, InitFailed, Ready, ReportedInFlight,
                                   Results, Started, Stop, WorkerConfig)

__all__ = ["Outcome", "Slot", "Supervisor", "Task"]

PREFETCH = 2
# Tiny mini-batches: CHUNK to a message, up to DEEP queued, refilled once a CHUNK's
# results are in (the worker answers a message's worth at a time, so a queue refilled
# only when half empty would leave it idle for a round trip).
CHUNK = 64
DEEP = 4 * CHUNK
TINY_SECONDS = 0.001  # a mean run() time below this counts as tiny
TIMEOUT_CHECK_SECONDS = 0.02  # timeouts are seconds long: checking each message is waste
# Import and init() get at least this long (a large model can take minutes to load);
# a start that hangs past it is a failed start, so a hung init() cannot hang the job.
MIN_START_SECONDS = float(os.environ.get("RUNNER_START_TIMEOUT", "600"))
STOP_GRACE_SECONDS = 10.0
KILL_GRACE_SECONDS = 1.0
# A worker that has exited takes its guard with it within milliseconds (runner/local/procs/guard.py),
# which then exits with the worker's status: waited for, so the status reported is the
# worker's own and not the SIGKILL a kill would give it.
EXIT_WAIT_SECONDS = 2.0


class Supervisor:
    def __init__(self, *, workers: int, per_node: int, tasks: Iterator[Task], ledger: Ledger,
                 run_max_try: int, timeout: float, thresholds: Callable[[Ledger], str | None],
                 worker_config: Callable[[Slot], WorkerConfig], worker_env: dict[str, str],
                 log: Callable[[str], None], interrupted: Callable[[], bool],
                 tick: Callable[[Supervisor], None],
                 event: Callable[[dict[str, object]], None] = lambda event: None,
                 transport: Transport | None = None, prestarted: list[Spawned] | None = None) -> None:
        self.slots = [Slot(i, i // per_node, i % per_node) for i in range(workers)]
        self.tasks = tasks
        self.retries: deque[Task] = deque()
        self.ledger = ledger
        self.run_max_try = run_max_try
        self.timeout = timeout
        self.thresholds = thresholds
        self.worker_config = worker_config
        self.worker_env = worker_env
        self.log = log
        self.interrupted = interrupted
        self.tick = tick
        self.event = event  # rare events for `runner report` (runs/folder.py StepFolder.log_event)
        self.transport: Transport = transport or Processes()
        # Workers started while the step was planned (runner/local/driver/headstart.py),
        # their configurations sent: the first slots' workers.
        self.prestarted = prestarted or []
        # Pre-flight waits for these slots' imports: those started ahead where any were (a
        # worker the plan found work for after, or a restarted one, joins once imported).
        self._waited = len(self.prestarted) or workers
        self.exhausted = False
        self.restarts = 0
        # Slots retired (a final state): counted, not found by all() over the slots each
        # time round the loop, which runs once or twice per mini-batch.
        self.retired = 0
        self._outcome: Outcome | None = None
        self._selector = selectors.DefaultSelector()  # kept across loops: cheaper than wait()
        wakeup = self.transport.wakeup()
        self._remote = wakeup is not None  # workers elsewhere, whose connections arrive later
        self._imported = False  # a worker has imported the entry script
        if wakeup is not None:  # data None: connections have arrived
            self._selector.register(wakeup, selectors.EVENT_READ, None)
        self._mean_seconds = 1.0  # run() time, a moving average: deep queues only once it is tiny
        self._last_timeout_check = 0.0

    # --- the loop -------------------------------------------------------------------

    def run(self) -> Outcome:
        try:
            for slot in self.slots:
                if slot.index < len(self.prestarted):
                    self._adopt(slot, self.prestarted[slot.index])
                else:
                    self._start(slot)
            outcome = self._wait_imported() or self._loop()
        finally:
            self.ledger.maybe_flush()
        self.stop_all(graceful=outcome.status == "succeeded")
        return outcome

    def _wait_imported(self) -> Outcome | None:
        """Pre-flight: no mini-batch is sent until every worker started ahead (or, where
        none was, every worker) has imported the entry script and found run() (an import
        error is the user's to fix: exit 2)."""
        # Workers elsewhere (Ray actors) start one by one and may wait for room on their
        # cluster: once one has imported the script, the others are not waited for (one
        # that then fails to import is a failed start, as a failed init() is).
        while ((not self._remote and any(s.state == "starting" for s in self.slots[:self._waited]))
               or not any(s.state in ("imported", "ready") for s in self.slots)):
            if self.interrupted():
                return Outcome("interrupted", "interrupted before any mini-batch ran")
            self._poll(0.2)
            self._check_timeouts()
            if self._outcome:
                return self._outcome
            if self.retired == len(self.slots):
                return self._all_retired()
        return None

    def _loop(self) -> Outcome:
        while True:
            if self.interrupted():
                return Outcome("interrupted", "interrupted (Ctrl-C)")
            self._dispatch()
            if self.exhausted and not self.retries and not any(s.queue for s in self.slots):
                return Outcome("succeeded")
            if self.retired == len(self.slots):
                return self._all_retired()
            self._poll(self._wait_time())
            now = time.monotonic()
            if now - self._last_timeout_check >= TIMEOUT_CHECK_SECONDS:
                self._last_timeout_check = now
                self._check_timeouts()
            if self._outcome:
                return self._outcome
            self.ledger.maybe_flush()
            self.tick(self)

    def _wait_time(self) -> float:
        now, wait_for = time.monotonic(), 0.25
        for slot in self.slots:
            if slot.state == "ready" and slot.queue and slot.in_flight is not None:
                started = slot.in_flight.read()[2] / 1e9
                if started:  # a mini-batch already committed only wakes the loop early
                    wait_for = min(wait_for, max(started + self.timeout - now, TIMEOUT_CHECK_SECONDS))
        return wait_for

    def _next_task(self) -> Task | None:
        if self.retries:
            return self.retries.popleft()
        if self.exhausted:
            return None
        task = next(self.tasks, None)
        if task is None:
            self.exhausted = True
        return task

    def _dispatch(self) -> None:
        tiny = self._mean_seconds < TINY_SECONDS
        depth, chunk = (DEEP, CHUNK) if tiny else (PREFETCH, 1)
        for slot in self.slots:
            while slot.state == "ready" and len(slot.queue) <= depth - chunk:
                ids: list[int] = []
                offsets: list[int] = []
                while len(ids) < chunk:
                    task = self._next_task()
                    if task is None:
                        break
                    slot.queue.append(task)
                    ids.append(task.id)
                    offsets.append(task.offset)
                if not ids:
                    return
                try:
                    assert slot.conn is not None
                    protocol.send(slot.conn, self.transport.tasks(ids, offsets))
                except OSError:
                    self._worker_died(slot)

    def _poll(self, timeout: float) -> None:
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._attach_connected()
                continue
            slot, conn = key.data
            if slot.conn is not conn:
                continue  # restarted since
            try:  # one message per readiness event: Connection.poll() would build a selector each time
                message = protocol.receive_from_worker(conn)
            except (EOFError, OSError):
                self._worker_died(slot)
                continue
            self._receive(slot, message)  # the driver's own write failing (a full disk) is no worker's death

    # --- messages -------------------------------------------------------------------

    def _receive(self, slot: Slot, message: FromWorker) -> None:
        match message:  # results first: they are nearly all of them
            case Results(results=results):
                for result in results:  # each committed, even past a threshold: they ran
                    if isinstance(result, Done):
                        self._commit(slot, result)
                    else:
                        self._try_failed(self._finish_head(slot, result.mb), slot, result.text, result.items)
            case Started(mb=mb, rows=rows):
                assert isinstance(slot.in_flight, ReportedInFlight)  # only remote workers send it
                slot.in_flight.report(mb, rows, time.monotonic_ns())
            case Imported():
                slot.state, self._imported = "imported", True
            case ImportFailed(text=text) if self._imported and (self._remote or slot.index >= self._waited):
                self._init_failed(slot, f"the entry script failed to import:\n{text}")
            case ImportFailed(text=text):
                self.log(f"worker {slot.index}: the entry script failed to import:\n{text}")
                self._outcome = Outcome("preflight", f"the entry script failed to import:\n{shown(text)}")
            case Ready():
                slot.state, slot.init_failures = "ready", 0
            case InitFailed(text=text):
                self._init_failed(slot, f"init() raised:\n{text}")
            case _:
                assert_never(message)

    def _commit(self, slot: Slot, done: Done) -> None:
        self._mean_seconds += (done.seconds - self._mean_seconds) / 16
        task = self._finish_head(slot, done.mb)
        if self.ledger.commit_done(done, task.tries + 1, slot.index):  # some items gave no result
            # Thresholds count failed items and mini-batches, so a whole success cannot
            # trip one (checking after each cost 2-3% of the driver's time per mini-batch).
            self._check_thresholds()

    def _finish_head(self, slot: Slot, mb: int) -> Task:
        task = slot.queue.popleft()
        if task.id != mb:  # a worker of another protocol: its rows cannot be told apart
            raise protocol.ProtocolError(f"worker {slot.index} answered mini-batch {mb}, expected {task.id}")
        return task

    def _try_failed(self, task: Task, slot: Slot, text: str, items: int | None) -> None:
        task.tries += 1
        if task.tries < self.run_max_try:
            self.log(f"mini-batch {task.id} failed on worker {slot.index} (try {task.tries} of "
                     f"{self.run_max_try}), retrying: {last_line(text)}")
            self.retries.append(task)
            self.event({"kind": "retry", "mb": task.id, "worker": slot.index, "try": task.tries,
                        "error": last_line(text)[:200]})
            return
        self.log(f"mini-batch {task.id} failed after {task.tries} tries: {last_line(text)}")
        self.ledger.commit_failed(task.id, items if items is not None else task.files, task.tries, slot.index, text)
        self._check_thresholds()

    def _check_thresholds(self) -> None:
        reason = self.thresholds(self.ledger)
        if reason and self._outcome is None:
            self._outcome = Outcome("failed", reason)

    # --- failures of the worker itself -----------------------------------------------------

    def _check_timeouts(self) -> None:
        now = time.monotonic()
        start_limit = max(MIN_START_SECONDS, self.timeout)
        for slot in self.slots:
            if slot.proc is not None and slot.state not in ("down", "retired") and slot.proc.poll() is not None:
                self._worker_died(slot)  # exited, though something it started holds its socket open
                continue
            if slot.state in ("starting", "imported") and now - slot.spawned > start_limit:
                # A Ray actor waiting for room on the cluster waits here too: a failed start.
                self._init_failed(slot, f"import and init() did not finish within {start_limit:g} s")
                continue
            if slot.state == "ready" and slot.queue:
                task, _, started = slot.running()
                if task is None or now - started <= self.timeout:
                    continue
                self._drain(slot)  # results sent meanwhile are committed, not lost with the worker
                if slot.conn is None or task not in slot.queue:
                    continue  # it finished after all
                self._kill(slot)
                self._lose_worker(slot, f"run() did not return within run_invocation_timeout "
                                        f"({self.timeout:g} s); the worker was killed and restarted")

    def _drain(self, slot: Slot) -> None:
        """Read what a worker sent before it died or hung. With a deep queue several results
        can be waiting: without them the head blamed would be one that had finished."""
        conn = slot.conn
        while conn is not None and slot.conn is conn:
            try:
                if not conn.poll(0):
                    return
                message = protocol.receive_from_worker(conn)
            except (EOFError, OSError):
                return
            self._receive(slot, message)  # a failed commit (a full disk) stops the step: not caught here

    def _ready_now(self, slot: Slot) -> bool:
        """Whether a worker is ready, a Ready it sent and the loop did not read counting
        (at a step's end: nothing else it may have sent matters then, it holds no work)."""
        conn = slot.conn
        while slot.state != "ready" and conn is not None:
            try:
                if not conn.poll(0):
                    break
                if isinstance(protocol.receive_from_worker(conn), Ready):
                    slot.state = "ready"
            except (EOFError, OSError):
                break
        return slot.state == "ready"

    def _worker_died(self, slot: Slot) -> None:
        proc = slot.proc
        self._drain(slot)
        # What it sent before it died may already have settled it: an init_error or
        # import_error restarts or retires the slot. Acting on the slot after that would
        # kill the new process and blame its SIGKILL (the flaky "exited during start-up
        # (killed by SIGKILL)" in place of the init() error, under CPU load).
        if slot.proc is not proc or slot.state == "retired" or (
                self._outcome is not None and self._outcome.status == "preflight"):
            return
        starting = slot.state in ("starting", "imported")
        if proc is not None:
            try:
                proc.wait(EXIT_WAIT_SECONDS)
            except subprocess.TimeoutExpired:  # alive, though its socket closed
                pass
        self._kill(slot)  # what it started may live on; then its exit status is final
        how = self.transport.exit_text(slot.proc) if slot.proc is not None else "exit status unknown"
        if starting:
            self._init_failed(slot, f"the worker exited during start-up ({how})")
            return
        self._lose_worker(slot, f"the worker process died ({how}) while running this mini-batch")

    def _lose_worker(self, slot: Slot, text: str) -> None:
        """Once the worker is dead: the mini-batch it ran fails one try (the head, where it
        had none queued: it died between two); the other queued ones go back untouched."""
        task, rows, _ = slot.running()
        queue, slot.queue = slot.queue, deque()
        if queue:
            if task is None:
                task = queue[0]
            queue.remove(task)
            self.retries.extendleft(reversed(queue))
            self._try_failed(task, slot, text, rows)
        self.restarts += 1
        self.event({"kind": "restart", "worker": slot.index, "error": text[:200]})
        self._start(slot)

    def _init_failed(self, slot: Slot, text: str) -> None:
        """Azure's policy: a worker whose init fails is restarted; after run_max_try
        failures in a row it is retired; when every worker is retired the job fails."""
        slot.init_failures += 1
        slot.last_error = text
        self._kill(slot)
        self.retries.extendleft(reversed(slot.queue))
        slot.queue.clear()
        if slot.init_failures >= self.run_max_try:
            slot.state = "retired"
            self.retired += 1
            self.event({"kind": "retired", "worker": slot.index, "error": last_line(text)[:200]})
            self.log(f"worker {slot.index} retired after {slot.init_failures} failed starts:\n{text}")
        else:
            self.event({"kind": "start_failed", "worker": slot.index, "error": last_line(text)[:200]})
            self.log(f"worker {slot.index} failed to start ({slot.init_failures} of {self.run_max_try}), "
                     f"restarting:\n{text}")
            self._start(slot)

    def _all_retired(self) -> Outcome:
        last = self.slots[0].last_error
        return Outcome("failed", f"every worker failed to start {self.run_max_try} times; the last error:\n"
                                 f"{shown(last)}")

    # --- processes ------------------------------------------------------------------

    def _start(self, slot: Slot) -> None:
        config = self.worker_config(slot)
        if slot.in_flight is not None:
            slot.in_flight.close()
        slot.proc, conn, slot.in_flight, config = self.transport.spawn(slot.index, slot.node, config, self.worker_env)
        slot.state, slot.spawned, slot.config = "starting", time.monotonic(), config
        if conn is not None:
            self._attach(slot, conn)

    def _adopt(self, slot: Slot, worker: Spawned) -> None:
        """A worker started before the loop, its configuration already sent."""
        slot.proc, slot.in_flight, slot.config = worker.handle, worker.in_flight, worker.config
        slot.state, slot.spawned = "starting", worker.at
        if worker.conn is not None:
            self._register(slot, worker.conn)

    def _register(self, slot: Slot, conn: Connection) -> None:
        slot.conn = conn
        self._selector.register(conn.fileno(), selectors.EVENT_READ, (slot, conn))

    def _attach(self, slot: Slot, conn: Connection) -> None:
        assert slot.config is not None
        self._register(slot, conn)
        try:
            protocol.send_config(conn, slot.config)
        except OSError:
            self._worker_died(slot)

    def _attach_connected(self) -> None:
        """Connections from workers started elsewhere: each to its slot, unless that
        worker was given up on meanwhile (its connection is then closed)."""
        for handle, conn in self.transport.connected():
            slot = next((s for s in self.slots if s.proc is handle and s.conn is None), None)
            if slot is None or slot.state != "starting":
                conn.close()
                continue
            self._attach(slot, conn)

    def _kill(self, slot: Slot, sig: int = signal.SIGKILL) -> None:
        """The whole process tree: the guard, the worker and all they started."""
        if slot.proc is not None:
            self.transport.kill(slot.proc, sig)
        if slot.conn is not None and sig == signal.SIGKILL:
            self._selector.unregister(slot.conn.fileno())
            slot.conn.close()
            slot.conn = None
        if slot.state != "retired":
            slot.state = "down"

    def stop_all(self, graceful: bool) -> None:
        """On success each ready worker gets `stop` and runs shutdown(), and one still
        starting (importing, or in init(): it holds no work) is stopped at once; otherwise
        (threshold, Ctrl-C) workers are stopped at once: their unfinished mini-batches are
        not in the ledger, so a resume runs them again."""
        live = [s for s in self.slots if s.proc is not None and s.proc.poll() is None]
        for slot in live:  # once per worker per step: cheap, and read before it exits
            assert slot.proc is not None
            peak = self.transport.peak_memory_mb(slot.proc)
            if peak is not None:
                self.event({"kind": "peak_memory", "worker": slot.index, "mb": peak})
        for slot in live:
            if graceful and self._ready_now(slot) and slot.conn is not None:
                try:
                    protocol.send(slot.conn, Stop())
                except OSError:
                    pass
            else:
                self._kill(slot, signal.SIGTERM)
        deadline = time.monotonic() + (STOP_GRACE_SECONDS if graceful else KILL_GRACE_SECONDS)
        for slot in live:
            try:
                assert slot.proc is not None
                slot.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for slot in self.slots:
            self._kill(slot)
            if slot.in_flight is not None:
                slot.in_flight.close()
                slot.in_flight = None
        self._selector.close()
        self.transport.close()

