"""The driver <-> worker protocol in-process: every message over a real socket pair, the
wire form, and a Worker serving typed messages without a subprocess."""

from __future__ import annotations

import os
import pickle
import socket
import time
import types
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from runner.local import protocol
from runner.local.partition.descriptors import FilesBatch, encode
from runner.local.protocol import (Done, Failed, FromWorker, ImportFailed, Imported, InFlight, InitFailed,
                                   ProtocolError, Ready, Results, Started, Stop, Tasks, ToWorker, WorkerConfig)
from runner.local.worker.main import Worker
from runner.plan.references import InputPlan


@pytest.fixture
def pair() -> Iterator[tuple[Connection, Connection]]:
    a, b = socket.socketpair()
    ends = Connection(a.detach()), Connection(b.detach())
    yield ends
    for end in ends:
        end.close()


def _config(tmp_path: Path, **changes: object) -> WorkerConfig:
    values: dict[str, object] = {
        "entry_script": str(tmp_path / "entry.py"), "source_directory": str(tmp_path),
        "working_dir": str(tmp_path), "arguments": ["--x", "1"], "logging_level": "INFO",
        "inputs": [InputPlan("datasets.d", "file", str(tmp_path))], "kind": "file", "output_action": "append_row",
        "row_format": "text", "minibatches": str(tmp_path / "minibatches.jsonl"), "stdout": str(tmp_path / "o"),
        "stderr": str(tmp_path / "e"), "log_file": str(tmp_path / "l"), "env": {"RUNNER_WORKER": "0"}}
    values.update(changes)
    return WorkerConfig(**values)  # type: ignore[arg-type]


FROM_WORKER: list[FromWorker] = [
    Imported(), ImportFailed("Traceback: ...\nNameError"), Ready(), InitFailed("no model"),
    Results([Done(4, 2, 2, b"a\nb\n", None, None, 0.25)]),
    Results([Done(5, 3, 1, b"x,y\n", b"c1,c2\n", ["/d/é.png"], 1e-6), Failed(6, None, "unreadable", 0.0),
             Failed(7, 10, "boom", 2.5)]), Results([]), Started(3, None), Started(3, 120)]
TO_WORKER: list[ToWorker] = [Tasks([1, 2, 3], [0, 80, 160]), Tasks([], []), Tasks([4], [0], [b'{"id": 4}\n']),
                             Stop()]


@pytest.mark.parametrize("message", FROM_WORKER, ids=lambda m: type(m).__name__)
def test_each_message_from_a_worker_arrives_as_sent(pair: tuple[Connection, Connection],
                                                    message: FromWorker) -> None:
    worker, driver = pair
    protocol.send(worker, message)
    received = protocol.receive_from_worker(driver)
    assert type(received) is type(message) and received == message
    if isinstance(message, Results):
        assert [type(r) for r in received.results] == [type(r) for r in message.results]


@pytest.mark.parametrize("message", TO_WORKER, ids=lambda m: type(m).__name__)
def test_each_message_from_the_driver_arrives_as_sent(pair: tuple[Connection, Connection],
                                                      message: ToWorker) -> None:
    driver, worker = pair
    protocol.send(driver, message)
    received = protocol.receive_from_driver(worker)
    assert type(received) is type(message) and received == message


def test_on_the_wire_a_message_is_a_plain_tuple(pair: tuple[Connection, Connection]) -> None:
    """No class goes over the wire: unpickling one costs a lookup per message."""
    worker, driver = pair
    protocol.send(worker, Results([Done(1, 1, 1, b"r\n", None, None, 0.5), Failed(2, None, "x", 0.0)]))
    data = driver.recv_bytes()
    assert b"protocol" not in data and pickle.loads(data) == (
        "results", [("done", 1, 1, 1, b"r\n", None, None, 0.5), ("failed", 2, None, "x", 0.0)])


def test_a_message_the_other_side_does_not_expect_is_a_protocol_error(pair: tuple[Connection, Connection]) -> None:
    a, b = pair
    protocol.send(a, Ready())  # a worker's message, read as the driver's
    with pytest.raises(ProtocolError, match="unexpected message"):
        protocol.receive_from_driver(b)
    for raw in (("ready", 1), ("nonsense",), (), "text", ("done", 1, 1, 1, b"", None, None, 0.0),
                ("results", [("done", 1)]), ("results", [("ready",)]), ("results", 3)):
        # wrong field count, unknown tag, not a tuple, a result outside Results, a bad result
        a.send(raw)
        with pytest.raises(ProtocolError):
            protocol.receive_from_worker(b)


def test_the_configuration_goes_first_and_whole(pair: tuple[Connection, Connection], tmp_path: Path) -> None:
    driver, worker = pair
    config = _config(tmp_path)
    protocol.send_config(driver, config)
    assert protocol.receive_config(worker) == config
    protocol.send(driver, Stop())
    with pytest.raises(ProtocolError, match="configuration"):
        protocol.receive_config(worker)


@pytest.fixture
def in_flight() -> Iterator[tuple[InFlight, InFlight]]:
    """One page mapped twice: the worker's view and the driver's."""
    fd = os.memfd_create("test-in-flight")
    os.ftruncate(fd, InFlight.SIZE)
    worker, driver = InFlight(fd), InFlight(fd)
    os.close(fd)
    yield worker, driver
    worker.close()
    driver.close()


def test_a_worker_runs_each_task_in_order_and_answers_in_order(
        pair: tuple[Connection, Connection], tmp_path: Path, in_flight: tuple[InFlight, InFlight]) -> None:
    """The Worker in this process: descriptors read at their offsets, results typed; tiny
    mini-batches' results go together at the end of the message, a failure at once, and
    each mini-batch is published as in flight while it runs."""
    lines = [encode(FilesBatch(i, 0, [f"/d/{i}-{k}.png" for k in range(i + 1)])).encode() for i in range(4)]
    (tmp_path / "minibatches.jsonl").write_bytes(b"".join(lines))
    offsets = [sum(len(line) for line in lines[:i]) for i in range(4)]
    seen: list[tuple[int, int | None]] = []
    mine, drivers = in_flight
    drivers.reset()

    def run(batch: list[str]) -> list[str]:
        seen.append(drivers.read()[:2])
        return batch[:-1] if len(batch) == 3 else (1 / 0 if len(batch) == 4 else batch)  # type: ignore[return-value]

    script = types.ModuleType("entry")
    script.run = run  # type: ignore[attr-defined]
    driver, conn = pair
    worker = Worker(conn, _config(tmp_path), script, mine)
    protocol.send(driver, Tasks([3, 0, 2, 1], [offsets[3], offsets[0], offsets[2], offsets[1]]))
    protocol.send(driver, Stop())
    worker.serve()
    assert seen == [(3, None), (0, None), (2, None), (1, None)]
    first_message, second_message = (protocol.receive_from_worker(driver) for _ in range(2))
    assert not driver.poll(0)
    assert isinstance(first_message, Results) and isinstance(second_message, Results)
    answers = [*first_message.results, *second_message.results]
    assert [type(a) for a in answers] == [Failed, Done, Done, Done] and [a.mb for a in answers] == [3, 0, 2, 1]
    assert len(first_message.results) == 1  # the failure went at once; the rest together
    failed, first, short, second = answers
    assert isinstance(failed, Failed) and failed.items == 4 and "ZeroDivisionError" in failed.text
    assert isinstance(first, Done) and first.payload == b"/d/0-0.png\n" and first.failed_files is None
    assert isinstance(short, Done) and (short.items, short.elements, short.failed_files) == (3, 2, ["/d/2-2.png"])
    assert isinstance(second, Done) and second.payload == b"/d/1-0.png\n/d/1-1.png\n"


def test_a_slow_mini_batchs_result_is_not_held(
        pair: tuple[Connection, Connection], tmp_path: Path, in_flight: tuple[InFlight, InFlight]) -> None:
    """Results wait for company only while mini-batches are tiny: one that took longer
    goes before the next starts, so a long run() after it cannot keep it uncommitted."""
    lines = [encode(FilesBatch(i, 0, [f"/d/{i}.png"])).encode() for i in range(3)]
    (tmp_path / "minibatches.jsonl").write_bytes(b"".join(lines))
    offsets = [sum(len(line) for line in lines[:i]) for i in range(3)]
    driver, conn = pair
    sent_before: list[bool] = []

    def run(batch: list[str]) -> list[str]:
        sent_before.append(driver.poll(0))
        time.sleep(0.01 if batch == ["/d/0.png"] else 0)
        return batch

    script = types.ModuleType("entry")
    script.run = run  # type: ignore[attr-defined]
    worker = Worker(conn, _config(tmp_path), script, in_flight[0])
    protocol.send(driver, Tasks([0, 1, 2], offsets))
    protocol.send(driver, Stop())
    worker.serve()
    assert sent_before == [False, True, True]


def test_the_message_classes_cover_the_wire_tags() -> None:
    tags = {protocol._TAGS[type(m)] for m in [*FROM_WORKER, *TO_WORKER]}
    assert tags == set(protocol._TAGS.values()) == {"imported", "import_error", "ready", "init_error", "results",
                                                   "tasks", "stop", "started"}
