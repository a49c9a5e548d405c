"""How `status --watch` and `logs -f` draw (runner/watch.py): redrawn in place on a
terminal, a new block only on change elsewhere; headers between files as `tail -f`."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable

from runner.runs.display import status_lines
from runner.runs.status import Status
from runner.runs.views import ItemsView, LogChunk, MiniBatchesView, ProgressView, RunView, StepView
from runner.watch import print_follow, watch_status


def _info(status: str, step_status: str, reason: str = "", progress: ProgressView | None = None) -> RunView:
    return RunView("job-1", "job", "spec.yaml", status=Status(status), reason=reason,
                   steps=(StepView("score", Status(step_status), reason, progress=progress),))


def _reader(*infos: RunView) -> Callable[[], RunView]:
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
    ended = watch_status(_reader(first, second), out, 0.5, tty=True, width=lambda: 80, sleep=lambda _: None)
    assert ended == Status.CANCELED
    drawn = "\n".join(status_lines(first)) + "\n"
    rows = len(status_lines(first))
    assert out.getvalue() == drawn + f"\x1b[{rows}F\x1b[J" + "\n".join(status_lines(second)) + "\n"


def test_on_a_narrow_terminal_lines_are_cut_not_wrapped() -> None:
    out = io.StringIO()
    first, second = _info("running", "running"), _info("canceled", "canceled", "by `runner cancel`")
    watch_status(_reader(first, second), out, 0.5, tty=True, width=lambda: 10, sleep=lambda _: None)
    first_block, second_block = out.getvalue().split("\x1b[J")
    assert all(len(line) <= 10 for line in out.getvalue().replace("\x1b[J", "\n").splitlines()[1:])
    assert first_block.splitlines()[0] == "run job-1…"
    # back up over exactly the rows drawn: one per line, none wrapped
    assert first_block.endswith(f"\x1b[{len(status_lines(first))}F")
    assert second_block.splitlines()[0] == "run job-1…"


def test_a_run_that_ended_is_drawn_once() -> None:
    out = io.StringIO()
    assert watch_status(_reader(_info("failed", "failed", "too many errors")), out, 1, tty=True,
                        width=lambda: 80) == Status.FAILED
    assert out.getvalue() == "\n".join(status_lines(_info("failed", "failed", "too many errors"))) + "\n"


def test_follow_prints_a_header_each_time_the_file_changes() -> None:
    out = io.StringIO()
    print_follow([LogChunk("a.log", "1\n"), LogChunk("a.log", "2\n"), LogChunk("b.txt", "half"),
                  LogChunk("a.log", "3\n")], out)
    assert out.getvalue() == "==> a.log <==\n1\n2\n==> b.txt <==\nhalf\n==> a.log <==\n3\n"


def _running(done: int, rate: float, eta: float | None, in_flight: int = 0) -> RunView:
    progress = ProgressView("score", mini_batches=MiniBatchesView(4, done, 0, in_flight), items=ItemsView(8, 2 * done),
                            mini_batches_per_second=rate, items_per_second=rate * 2, eta_seconds=eta,
                            elapsed_seconds=1.0 + rate, updated=100.0 + rate)
    return _info("running", "running", progress=progress)


def test_into_a_log_rates_and_the_time_left_alone_do_not_make_a_new_block() -> None:
    out = io.StringIO()
    watch_status(_reader(_running(1, 1.0, 3.0), _running(1, 2.5, 1.0), _info("succeeded", "succeeded")), out, 0.5,
                 tty=False, width=lambda: 80, sleep=lambda _: None)
    assert len(out.getvalue().split("\n\n")) == 2, out.getvalue()


def test_into_a_log_a_new_count_makes_a_new_block() -> None:
    out = io.StringIO()
    watch_status(_reader(_running(1, 1.0, 3.0), _running(2, 1.0, 3.0), _info("succeeded", "succeeded")), out, 0.5,
                 tty=False, width=lambda: 80, sleep=lambda _: None)
    blocks = out.getvalue().split("\n\n")
    assert len(blocks) == 3 and "2 succeeded, 0 failed, 2 left of 4" in blocks[1], out.getvalue()


def test_watch_decides_on_the_view_less_what_moves() -> None:
    first, faster = _running(1, 1.0, 3.0), _running(1, 2.5, 1.0)
    assert first != faster and first.settled() == faster.settled()
    assert first.settled() != _running(2, 1.0, 3.0).settled()
    assert first.settled() != dataclasses.replace(first, status=Status.CANCELED).settled()


def test_into_a_log_a_change_the_text_does_not_show_writes_no_block() -> None:
    # Work in flight and the service's own word change often; neither is printed, so the
    # same block is not written again.
    out = io.StringIO()
    same = dataclasses.replace(_running(1, 1.0, 3.0, in_flight=2), azure_status="Running")
    watch_status(_reader(_running(1, 1.0, 3.0), same, _info("succeeded", "succeeded")), out, 0.5,
                 tty=False, width=lambda: 80, sleep=lambda _: None)
    assert len(out.getvalue().split("\n\n")) == 2, out.getvalue()
