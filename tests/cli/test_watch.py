"""How `status --watch` and `logs -f` draw (runner/watch.py): redrawn in place on a
terminal, a new block only on change elsewhere; headers between files as `tail -f`."""

from __future__ import annotations

import io
from typing import Any

from runner.runs.display import status_lines
from runner.runs.status import Status
from runner.watch import print_follow, watch_status


def _info(status: str, step_status: str, reason: str = "") -> dict[str, Any]:
    return {"id": "job-1", "status": status, "reason": reason,
            "steps": [{"name": "score", "status": step_status, "reason": reason}]}


def _reader(*infos: dict[str, Any]) -> Any:
    left = list(infos)
    return lambda: left.pop(0)


def test_without_a_terminal_a_block_is_written_only_when_it_changes() -> None:
    out = io.StringIO()
    running, done = _info("running", "running"), _info("succeeded", "succeeded")
    ended = watch_status(_reader(running, running, running, done), out, 0.5, tty=False, width=lambda: 80,
                         sleep=lambda _: None)
    assert ended == Status.SUCCEEDED
    blocks = out.getvalue().split("\n\n")
    assert blocks == ["\n".join(status_lines(running)), "\n".join(status_lines(done)) + "\n"]
    assert "\x1b" not in out.getvalue()


def test_on_a_terminal_the_block_is_redrawn_over_the_last_one() -> None:
    out = io.StringIO()
    first, second = _info("running", "running"), _info("canceled", "canceled", "by `runner cancel`")
    ended = watch_status(_reader(first, second), out, 0.5, tty=True, width=lambda: 10, sleep=lambda _: None)
    assert ended == Status.CANCELED
    drawn = "\n".join(status_lines(first)) + "\n"
    rows = sum(-(-len(line) // 10) for line in status_lines(first))  # lines wider than 10 columns wrap
    assert rows > len(status_lines(first))
    assert out.getvalue() == drawn + f"\x1b[{rows}F\x1b[J" + "\n".join(status_lines(second)) + "\n"


def test_a_run_that_ended_is_drawn_once() -> None:
    out = io.StringIO()
    assert watch_status(_reader(_info("failed", "failed", "too many errors")), out, 1, tty=True,
                        width=lambda: 80) == Status.FAILED
    assert out.getvalue() == "\n".join(status_lines(_info("failed", "failed", "too many errors"))) + "\n"


def test_follow_prints_a_header_each_time_the_file_changes() -> None:
    out = io.StringIO()
    print_follow([("a.log", "1\n"), ("a.log", "2\n"), ("b.txt", "half"), ("a.log", "3\n")], out)
    assert out.getvalue() == "==> a.log <==\n1\n2\n==> b.txt <==\nhalf\n==> a.log <==\n3\n"


def test_into_a_log_rates_and_the_time_left_alone_do_not_make_a_new_block() -> None:
    def running(rate: float, eta: float) -> dict[str, Any]:
        info = _info("running", "running")
        info["steps"][0]["progress"] = {
            "mini_batches": {"total": 4, "succeeded": 1, "failed": 0}, "items": {"total": 8, "succeeded": 2, "failed": 0},
            "mini_batches_per_second": rate, "items_per_second": rate * 2, "eta_seconds": eta,
            "elapsed_seconds": 1.0 + rate, "retries": 0, "worker_restarts": 0}
        return info

    out = io.StringIO()
    watch_status(_reader(running(1.0, 3.0), running(2.5, 1.0), _info("succeeded", "succeeded")), out, 0.5,
                 tty=False, width=lambda: 80, sleep=lambda _: None)
    assert len(out.getvalue().split("\n\n")) == 2, out.getvalue()
