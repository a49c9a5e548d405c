"""The ledger in-process: its lines chain (`at` of a line is the `out` of the one before),
recovery cuts a torn last line, and a damaged or hand-edited line stops recovery with the
file, the line and what to do, before anything is cut or run."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.local.output.ledger import Ledger
from hypothesis import given
from hypothesis import strategies as st

from runner.local.output.ledger_line import OK_SECS, encode_ok, read_lines
from tests.local.helpers import commit
from runner.runs.records import DamagedFolder, RecordError


def _record(mb: int, status: str = "ok") -> dict[str, object]:
    return {"mb": mb, "status": status, "items": 2, "ok": 2 if status == "ok" else 0,
            "failed": 0 if status == "ok" else 2, "rows": 2 if status == "ok" else 0, "tries": 1, "worker": 0,
            "secs": 0.25}


def _committed(tmp_path: Path, count: int = 5, failed: tuple[int, ...] = ()) -> tuple[Path, Path]:
    """A ledger and output of `count` mini-batches, two rows each (none for a failed one)."""
    ledger_path, output = tmp_path / "ledger.jsonl", tmp_path / "rows.txt"
    ledger = Ledger(str(ledger_path), str(output), total=count)
    for mb in range(count):
        if mb in failed:
            commit(ledger, {**_record(mb, "failed"), "error": "ValueError: bad"})
        else:
            commit(ledger, _record(mb), b"row %d a\nrow %d b\n" % (mb, mb))
    ledger.close()
    return ledger_path, output


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_each_line_says_where_its_rows_start_and_end_and_the_lines_chain(tmp_path: Path) -> None:
    ledger_path, output = _committed(tmp_path, failed=(2,))
    records = [json.loads(line) for line in _lines(ledger_path)]
    assert [(r["at"], r["out"]) for r in records] == [(0, 16), (16, 32), (32, 32), (32, 48), (48, 64)]
    # The hand-written line (an "ok" record) is the JSON json.dumps would write, key for key.
    assert list(records[0]) == ["mb", "status", "items", "ok", "failed", "rows", "tries", "worker", "secs", "at",
                                "out"]
    assert records[0]["secs"] == 0.25 and records[2]["error"] == "ValueError: bad"
    assert output.stat().st_size == 64


def test_a_csv_header_belongs_to_the_first_line_with_rows(tmp_path: Path) -> None:
    ledger = Ledger(str(tmp_path / "ledger.jsonl"), str(tmp_path / "rows.csv"), total=2)
    commit(ledger, _record(0), b"1,2\n", header=b"a,b\n")
    commit(ledger, _record(1), b"3,4\n", header=b"a,b\n")
    ledger.close()
    records = list(read_lines(str(tmp_path / "ledger.jsonl")))
    assert [(r.at, r.out) for r in records] == [(0, 8), (8, 12)]
    assert (tmp_path / "rows.csv").read_text() == "a,b\n1,2\n3,4\n"


@pytest.mark.parametrize("tail", [b'{"mb":4,"sta', b"\x00\x00\x00\x00", b"not json at all\n"])
def test_a_torn_last_line_is_cut_and_its_mini_batch_runs_again(tmp_path: Path, tail: bytes) -> None:
    ledger_path, output = _committed(tmp_path)
    ledger_path.write_bytes(b"".join(_lines(ledger_path)[:4]) + tail)
    again = Ledger(str(ledger_path), str(output), total=5)
    assert again.recovered == 4 and not again.done(4)
    assert output.stat().st_size == 80 - 16 == again.out_pos  # the fifth mini-batch's rows are cut
    commit(again, _record(4), b"row 4 a\nrow 4 b\n")
    again.close()
    assert [r.mb for r in read_lines(str(ledger_path))] == [0, 1, 2, 3, 4]
    assert output.read_text().splitlines() == [f"row {i} {x}" for i in range(5) for x in "ab"]


def _edit(index: int, change: Callable[[bytes], bytes]) -> Callable[[list[bytes]], list[bytes]]:
    def edit(lines: list[bytes]) -> list[bytes]:
        lines[index] = change(lines[index])
        return lines
    return edit


def _sub(pattern: bytes, replacement: bytes) -> Callable[[bytes], bytes]:
    return lambda line: re.sub(pattern, replacement, line)


DAMAGE: dict[str, tuple[Callable[[list[bytes]], list[bytes]], int, str]] = {
    # name: (what is done to the lines, the line named, what the message says)
    "mb out of range": (_edit(2, _sub(rb'"mb":2', b'"mb":7')), 3, '"mb" is 7, not a mini-batch of this step (0 to 4)'),
    "negative mb": (_edit(2, _sub(rb'"mb":2', b'"mb":-1')), 3, '"mb" is -1'),
    "mb as text": (_edit(2, _sub(rb'"mb":2', b'"mb":"2"')), 3, '"mb" is "2"'),
    "mb a bool": (_edit(1, _sub(rb'"mb":1', b'"mb":true')), 2, '"mb" is true'),
    "mb a float": (_edit(1, _sub(rb'"mb":1', b'"mb":1.0')), 2, '"mb" is 1.0'),
    "missing key": (_edit(3, _sub(rb'"status":"ok",', b"")), 4, "it has no 'status'"),
    "missing out": (_edit(3, _sub(rb',"out":\d+', b"")), 4, "it has no 'out'"),
    "unknown status": (_edit(0, _sub(rb'"status":"ok"', b'"status":"fine"')), 1, '"status" is "fine"'),
    "negative count": (_edit(0, _sub(rb'"ok":2', b'"ok":-2')), 1, '"ok" is -2, not a count'),
    "error not text": (_edit(0, _sub(rb'"at":0', b'"error":5,"at":0')), 1, '"error" is 5, not text'),
    "not JSON in the middle": (_edit(1, lambda line: b"garbage\n"), 2, "not a JSON object"),
    "a JSON list": (_edit(1, lambda line: b"[1, 2]\n"), 2, "not a JSON object"),
    "a line deleted from the middle": (lambda lines: lines[:2] + lines[3:], 3, "a line between them is missing"),
    "the first line deleted": (lambda lines: lines[1:], 1, "a line before it is missing"),
    "out decreased": (_edit(3, _sub(rb'"at":\d+,"out":\d+', b'"at":48,"out":5')), 4, "before the line before's end"),
    "at edited": (_edit(3, _sub(rb'"at":\d+', b'"at":12')), 4, "a line is repeated or edited"),
    "a line repeated": (lambda lines: lines + [lines[1]], 6, "a line is repeated or edited"),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_a_damaged_line_stops_recovery_naming_the_file_and_line(tmp_path: Path, name: str) -> None:
    damage, number, says = DAMAGE[name]
    ledger_path, output = _committed(tmp_path)
    damaged = b"".join(damage(_lines(ledger_path)))
    ledger_path.write_bytes(damaged)
    with pytest.raises(RecordError) as caught:
        Ledger(str(ledger_path), str(output), total=5)
    message = str(caught.value)
    assert message.startswith(f"{ledger_path} line {number}: ") and says in message, message
    assert f"cut it before line {number}" in message
    # Nothing was cut or run: the files are as they were, for the user to look at.
    assert ledger_path.read_bytes() == damaged and output.stat().st_size == 80


def test_cutting_the_ledger_where_the_message_says_makes_it_resumable_exactly_once(tmp_path: Path) -> None:
    ledger_path, output = _committed(tmp_path)
    lines = _lines(ledger_path)
    ledger_path.write_bytes(b"".join(lines[:2] + lines[3:]))  # mini-batch 2's line deleted
    with pytest.raises(RecordError, match="line 3: "):
        Ledger(str(ledger_path), str(output), total=5)
    ledger_path.write_bytes(b"".join(lines[:2]))  # what the message advises
    again = Ledger(str(ledger_path), str(output), total=5)
    assert [again.done(mb) for mb in range(5)] == [True, True, False, False, False]
    for mb in (2, 3, 4):
        commit(again, _record(mb), b"row %d a\nrow %d b\n" % (mb, mb))
    again.close()
    assert output.read_text().splitlines() == [f"row {i} {x}" for i in range(5) for x in "ab"]


def test_lines_of_an_older_runner_without_at_are_read_and_still_must_not_go_back(tmp_path: Path) -> None:
    ledger_path, output = _committed(tmp_path)
    old = [re.sub(rb',"at":\d+', b"", line) for line in _lines(ledger_path)]
    ledger_path.write_bytes(b"".join(old))
    again = Ledger(str(ledger_path), str(output), total=5)
    assert again.recovered == 5
    again.close()
    ledger_path.write_bytes(b"".join(old[:2] + [old[4], old[3]]))
    with pytest.raises(RecordError, match=r"line 4: its rows end at byte 64"):
        Ledger(str(ledger_path), str(output), total=5)


def test_rows_the_output_lost_are_cut_with_their_lines_and_what_follows(tmp_path: Path) -> None:
    """A machine crash can lose the output's tail though the ledger lines were written."""
    ledger_path, output = _committed(tmp_path)
    with open(output, "r+b") as handle:
        handle.truncate(40)
    again = Ledger(str(ledger_path), str(output), total=5)
    assert [again.done(mb) for mb in range(5)] == [True, True, False, False, False]
    assert again.out_pos == 32 == output.stat().st_size and len(_lines(ledger_path)) == 2
    again.close()


@pytest.mark.parametrize("bad", [b'{"mb":"x"}\n', b'{"mb":2,"status":"ok","items":"2","ok":2,"failed":0,'
                                  b'"tries":1,"out":48}\n', b"[]\n", b"nonsense\n"])
def test_status_reads_the_lines_before_a_damaged_one(tmp_path: Path, bad: bytes) -> None:
    ledger_path, _ = _committed(tmp_path)
    lines = _lines(ledger_path)
    ledger_path.write_bytes(b"".join(lines[:2]) + bad + b"".join(lines[3:]))
    assert [r.mb for r in read_lines(str(ledger_path))] == [0, 1]


# --- retries: a later attempt's line replaces a failure of an earlier one -----------------


def test_a_retry_runs_the_failures_again_and_its_lines_replace_them(tmp_path: Path) -> None:
    from runner.local.output.ledger_line import current_lines

    ledger_path, output = _committed(tmp_path, failed=(1, 3))
    first = Ledger(str(ledger_path), str(output), total=5)
    assert first.totals.mini_batches.failed == 2 and first.done(1) and first.reopened == 0
    first.close()
    retry = Ledger(str(ledger_path), str(output), total=5, attempt=1)
    assert retry.reopened == 2 and retry.recovered == 3 and not retry.done(1) and not retry.done(3)
    assert retry.totals.mini_batches.failed == 0 and retry.totals.items.failed == 0 and not retry.totals.first_errors
    commit(retry, _record(1), b"row 1 a\nrow 1 b\n")
    retry.close()
    # Killed here: the resume of attempt 1 runs mini-batch 3 only, and counts mini-batch 1 once.
    resumed = Ledger(str(ledger_path), str(output), total=5, attempt=1)
    assert resumed.recovered == 4 and resumed.done(1) and not resumed.done(3) and resumed.reopened == 1
    assert resumed.totals.mini_batches.succeeded == 4 and resumed.totals.items.succeeded == 8
    commit(resumed, {**_record(3, "failed"), "error": "ValueError: still bad"})
    resumed.close()
    current = list(current_lines(str(ledger_path)))
    assert sorted(r.mb for r in current) == [0, 1, 2, 3, 4]
    assert [r.gen for r in current if r.mb in (1, 3)] == [1, 1]
    assert output.read_text().count("row 1 a") == 1
    # Resumed again as attempt 1, mini-batch 3's failure is this attempt's own: it stays.
    again = Ledger(str(ledger_path), str(output), total=5, attempt=1)
    assert again.recovered == 5 and again.reopened == 0 and again.totals.first_errors == ["ValueError: still bad"]


def test_a_retry_line_that_replaces_a_success_or_comes_from_an_unknown_attempt_is_damage(tmp_path: Path) -> None:
    ledger_path, output = _committed(tmp_path, failed=(1,))
    lines = _lines(ledger_path)
    end = json.loads(lines[-1])["out"]
    replaces_ok = json.dumps({**_record(0, "failed"), "gen": 1, "at": end, "out": end}).encode() + b"\n"
    ledger_path.write_bytes(b"".join(lines) + replaces_ok)
    with pytest.raises(RecordError, match="mini-batch 0 succeeded in an earlier attempt"):
        Ledger(str(ledger_path), str(output), total=5, attempt=1)
    unknown = json.dumps({**_record(1, "failed"), "gen": 2, "at": end, "out": end}).encode() + b"\n"
    ledger_path.write_bytes(b"".join(lines) + unknown)
    with pytest.raises(RecordError, match="retry 2 of the step, but its step.json counts 1"):
        Ledger(str(ledger_path), str(output), total=5, attempt=1)


# --- one type, one codec: the lines the previous driver wrote, byte for byte --------------

PREVIOUS = [  # as runner/local/output/ledger.py wrote them before LedgerLine (its _line), for these commits
    b'{"mb":0,"status":"ok","items":2,"ok":2,"failed":0,"rows":2,"tries":1,"worker":0,"secs":0.25,"at":0,"out":16}\n',
    b'{"mb":1,"status":"ok","items":3,"ok":2,"failed":1,"rows":2,"tries":2,"worker":1,"secs":1.5,'
    b'"error":"run() returned 2 results for 3 items","failed_files":["a.txt"],"at":16,"out":30}\n',
    b'{"mb":2,"status":"failed","items":1,"ok":0,"failed":1,"rows":0,"tries":3,"worker":1,"secs":0,'
    b'"error":"Traceback: \\"x\\"\\nValueError: \\u00e9","items_unknown":true,"at":30,"out":30}\n',
    b'{"mb":2,"status":"ok","items":1,"ok":1,"failed":0,"rows":1,"tries":1,"worker":0,"secs":0.0001,"gen":1,'
    b'"at":30,"out":38}\n',
]


def test_lines_are_written_as_the_previous_driver_wrote_them_and_read_back_typed(tmp_path: Path) -> None:
    from runner.local.output.ledger_line import LedgerLine, decode, encode

    lines = [
        LedgerLine(0, "ok", 2, 2, 0, 1, 16, rows=2, worker=0, secs=0.25, at=0),
        LedgerLine(1, "ok", 3, 2, 1, 2, 30, rows=2, worker=1, secs=1.5, error="run() returned 2 results for 3 items",
                   failed_files=["a.txt"], at=16),
        LedgerLine(2, "failed", 1, 0, 1, 3, 30, rows=0, worker=1, secs=0, error='Traceback: "x"\nValueError: é',
                   items_unknown=True, at=30),
        LedgerLine(2, "ok", 1, 1, 0, 1, 38, rows=1, worker=0, secs=0.0001, gen=1, at=30),
    ]
    assert [encode(line) for line in lines] == PREVIOUS
    assert [decode(raw) for raw in PREVIOUS] == lines
    # A retry of a run the previous version made: its lines recover as they did.
    ledger_path, output = tmp_path / "ledger.jsonl", tmp_path / "rows.txt"
    ledger_path.write_bytes(b"".join(PREVIOUS))
    output.write_bytes(b"x" * 38)
    ledger = Ledger(str(ledger_path), str(output), total=4, attempt=1)
    assert ledger.recovered == 3 and ledger.reopened == 0 and not ledger.done(3)
    assert (ledger.totals.mini_batches.succeeded, ledger.totals.mini_batches.failed) == (3, 0)
    assert (ledger.totals.items.succeeded, ledger.totals.items.failed, ledger.totals.rows_written) == (5, 1, 5)
    ledger.close()
    assert ledger_path.read_bytes() == b"".join(PREVIOUS)


def test_a_line_says_when_it_was_committed_and_a_line_without_it_still_reads(tmp_path: Path) -> None:
    """`t` (epoch milliseconds) places a mini-batch on the report's timeline: written by the
    driver on both paths of encode, read back; the lines of earlier runners have none."""
    import time

    from runner.local.output.ledger_line import LedgerLine, decode, encode
    from runner.local.protocol import Done

    fast = LedgerLine(0, "ok", 2, 2, 0, 1, 16, rows=2, worker=0, secs=0.25, at=0, t=1765000000125)
    slow = LedgerLine(1, "failed", 1, 0, 1, 3, 16, worker=1, secs=0, error="ValueError: x", at=16, t=1765000001500)
    for line in (fast, slow):
        assert b'"t":' in encode(line) and decode(encode(line)) == line
    assert decode(PREVIOUS[0]).t is None
    ledger = Ledger(str(tmp_path / "ledger.jsonl"), str(tmp_path / "rows.txt"), total=2)
    before = int(time.time() * 1000)
    ledger.commit_done(Done(0, 1, 1, b"a\n", None, None, 0.01), 1, 0)
    ledger.commit_failed(1, 1, 2, 1, "ValueError: y")
    ledger.close()
    committed = list(read_lines(tmp_path / "ledger.jsonl"))
    assert all(line.t is not None and before <= line.t <= time.time() * 1000 + 1 for line in committed)


def test_readers_get_typed_lines_and_stop_at_a_damaged_one(tmp_path: Path) -> None:
    """reports, retry and status read through the same decoder as recovery: a count that
    is a float or a bool ends what they read, as it stops a resume."""
    from runner.local.output.ledger_line import Totals, current_lines

    ledger_path, _ = _committed(tmp_path, failed=(1,))
    lines = _lines(ledger_path)
    ledger_path.write_bytes(b"".join(lines[:3]) + lines[3].replace(b'"ok":2', b'"ok":2.0') + lines[4])
    totals = Totals.of(current_lines(str(ledger_path)))
    assert (totals.mini_batches.succeeded, totals.mini_batches.failed, totals.items.failed) == (2, 1, 2)
    assert totals.first_errors == ["ValueError: bad"] and totals.first_error_mbs == [1]


def test_keys_this_runner_does_not_know_are_left_aside() -> None:
    from runner.local.output.ledger_line import LineError, decode

    assert decode(PREVIOUS[0].replace(b'"mb":0,', b'"mb":0,"note":[1],')) == decode(PREVIOUS[0])
    with pytest.raises(LineError, match='"ok" is true, not a count'):
        decode(PREVIOUS[0].replace(b'"mb":0,', b'"mb":0,"note":1,').replace(b'"ok":2', b'"ok":true'))


# --- the output as the ledger committed it ------------------------------------------------


def test_an_output_folder_replaced_by_a_link_is_refused_before_anything_is_cut(tmp_path: Path) -> None:
    ledger_path = tmp_path / "step" / "ledger.jsonl"
    output = tmp_path / "step" / "outputs" / "out" / "rows.txt"
    ledger_path.parent.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "rows.txt").write_bytes(b"precious\n")
    output.parent.parent.mkdir()
    output.parent.symlink_to(outside)
    with pytest.raises(DamagedFolder, match=f"{output.parent} is a link \\(to {outside}\\), expected a folder"):
        Ledger(str(ledger_path), str(output), total=5)
    assert (outside / "rows.txt").read_bytes() == b"precious\n"


def test_an_output_changed_behind_the_driver_is_reported_with_both_sizes(tmp_path: Path) -> None:
    ledger_path, output = tmp_path / "ledger.jsonl", tmp_path / "rows.txt"
    ledger = Ledger(str(ledger_path), str(output), total=3)
    for mb in range(2):
        commit(ledger, _record(mb), b"row %d a\nrow %d b\n" % (mb, mb))
    ledger.flush()
    with open(output, "r+b") as handle:  # what run() truncating the output file does
        handle.truncate(8)
    commit(ledger, _record(2), b"row 2 a\nrow 2 b\n")
    ledger.close()
    assert ledger.output_problem() == (
        f"{output} is 24 bytes, but the ledger committed 48 bytes of rows to it: something other than the driver "
        "changed it while the step ran (the entry script writing or truncating it?), so its rows cannot be trusted. "
        "Leave the output file to the runner (run() returns rows; append_row writes them) and apply the spec again "
        "for a new run")


def test_an_output_as_committed_has_no_problem(tmp_path: Path) -> None:
    ledger_path, output = _committed(tmp_path)
    ledger = Ledger(str(ledger_path), str(output), total=5)
    ledger.close()
    assert ledger.output_problem() is None


def test_a_whole_success_committed_without_a_ledger_line_object_is_the_line_encode_writes(tmp_path: Path) -> None:
    """commit_done writes a whole success of the run itself by hand (its hot path): the
    same bytes as encode and as json.dumps, totals as a reader adds them up, and its rows
    and header where the line says."""
    from runner.local.output.ledger_line import LedgerLine, Totals, decode, encode
    from runner.local.protocol import Done

    ledger_path, output = tmp_path / "ledger.jsonl", tmp_path / "rows.csv"
    ledger = Ledger(str(ledger_path), str(output), total=3)
    assert not ledger.commit_done(Done(0, 2, 2, b"1,2\n3,4\n", b"a,b\n", None, 0.123456), 1, 0)
    assert not ledger.commit_done(Done(1, 1, 3, b"5,6\n7,8\n9,0\n", b"a,b\n", None, 2.0), 3, 1)  # more rows than items
    assert ledger.commit_done(Done(2, 3, 1, b"x,y\n", b"a,b\n", ["f1", "f2"], 0.5), 1, 0)  # partial: the general path
    ledger.close()
    raws = _lines(ledger_path)
    lines = [decode(raw) for raw in raws]
    assert [(line.mb, line.items, line.ok, line.failed, line.rows, line.tries, line.worker, line.secs, line.at,
             line.out) for line in lines[:2]] == [(0, 2, 2, 0, 2, 1, 0, 0.1235, 0, 12), (1, 1, 1, 0, 3, 3, 1, 2.0, 12, 24)]
    for raw, line in zip(raws, lines):
        assert raw == encode(line)
        order = ["mb", "status", "items", "ok", "failed", "rows", "tries", "worker", "secs", "error", "failed_files",
                 "items_unknown", "gen", "at", "t", "out"]  # on disk, as earlier versions wrote it
        values = line._asdict()
        fields = {key: values[key] for key in order
                  if values[key] is not None and values[key] is not False and not (key == "gen" and values[key] == 0)}
        assert raw == json.dumps(fields, separators=(",", ":")).encode() + b"\n"
    assert output.read_bytes() == b"a,b\n1,2\n3,4\n5,6\n7,8\n9,0\nx,y\n"
    read = Totals.of(lines)
    read.mini_batches.total = 3  # what the ledger was told
    assert ledger.totals == read and (read.mini_batches.succeeded, read.rows_written, read.retries) == (3, 6, 2)
    assert lines[0] == LedgerLine(0, "ok", 2, 2, 0, 1, 12, 2, 0, 0.1235, at=0, t=lines[0].t)


def _shapes(tmp_path: Path) -> Path:
    """A ledger of every shape of line: encode_ok's own (as the driver writes nearly all),
    and lines decode reads otherwise (partial, failed, a retry's, an older runner's, by
    hand), with values at their edges."""
    good = encode_ok(5, 2, 2, 1, 0, 0.5, 10, 11, 12)
    lines = [encode_ok(0, 1, 1, 1, 0, 0.0, 0, 1, 45), encode_ok(1, 64, 70, 3, 1, 0.1235, 99, 1796576896313, 10**17),
             encode_ok(2, 2, 0, 1, 5, 0.0001, 3, 0, 3), encode_ok(3, 1, 1, 2, 1, 12345678901.1234, 4, 5, 6),
             encode_ok(4, 1, 1, 2, 1, 1e-05, 4, 5, 6), encode_ok(6, 1, 1, 2, 1, 1e16, 4, 5, 6),
             good.replace(b'"secs":0.5', b'"secs":0.50').replace(b'"mb":5', b'"mb":7'),
             good.replace(b'"secs":0.5', b'"secs":5e-1').replace(b'"mb":5', b'"mb":8'),
             good.replace(b'"secs":0.5', b'"secs":2').replace(b'"mb":5', b'"mb":9'),
             good.replace(b'"mb":5', b'"mb":10').replace(b'"at":10', b'"gen":1,"at":10'),
             good.replace(b'"mb":5', b'"mb":11').replace(b'"failed":0', b'"failed":1'),
             good.replace(b'"mb":5', b'"mb":12').replace(b'"status":"ok"', b'"status":"failed"'),
             good.replace(b'"mb":5', b'"mb":13').replace(b',"t":11', b""),
             good.replace(b'"mb":5,', b'"mb": 14,'), good.replace(b'"mb":5', b'"mb":15').replace(b"}\n", b',"x":1}\n'),
             good.replace(b'"mb":5', b'"mb":12').replace(b'"at":10', b'"gen":1,"at":10'), good,
             good.replace(b'"at":10', b'"gen":1,"at":10')]  # replaces mb 5's line for a reader
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b"".join(lines * 3))
    return path


@pytest.mark.parametrize("chunk", [1, 7, 200, 1 << 20])
@pytest.mark.parametrize("end", [b"", b'{"mb":16,"sta', b'{"mb":"x"}\n' + b'{"mb":1,"status":"ok"}\n',
                                 b'{"mb":"x"}\n' + b"".join(encode_ok(16, 1, 1, 1, 1, 0.5, 0, 0, 0) for _ in range(40))])
def test_runs_of_encode_oks_own_lines_are_the_current_lines_without_decoding(tmp_path: Path, chunk: int,
                                                                               end: bytes) -> None:
    """current_runs gives what current_lines gives, line for line (a torn last line left
    out, nothing from a damaged line on), wherever the chunks it reads end; only lines as
    encode_ok writes them come as matches, whose fields are what decode reads."""
    from runner.local.output.ledger_line import current_lines, current_runs, decode

    path = _shapes(tmp_path)
    path.write_bytes(path.read_bytes() + end)
    for retried in (False, True):
        runs = list(current_runs(path, retried, chunk))
        got = [decode(match[0]) for run in runs if isinstance(run, list) for match in run]
        assert len(got) == (12 if retried else 15)  # 0, 1, 2, 3 (and 5 unless retried), three times
        for line in got:
            match = [m for run in runs if isinstance(run, list) for m in run if int(m[1]) == line.mb][0]
            assert [int(match[i]) for i in (1, 2, 3, 4, 5, 6, 8, 9, 10)] == [
                line.mb, line.items, line.ok, line.rows, line.tries, line.worker, line.at, line.t, line.out]
            assert match[7] == repr(line.secs).encode() and line.gen == 0
        flat = [decode(m[0]) if isinstance(run, list) else run for run in runs
                for m in (run if isinstance(run, list) else [None])]
        assert flat == list(current_lines(path, retried))


@given(st.from_regex(OK_SECS, fullmatch=True))
def test_seconds_read_without_decoding_are_their_floats_repr(secs: bytes) -> None:
    """The seconds current_runs takes as they are written are exactly the floats whose repr
    they are (what the report shows of a decoded line)."""
    assert repr(float(secs)).encode() == secs
