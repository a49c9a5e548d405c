"""A ledger line's one type and one codec, and the counts a ledger adds up.

`LedgerLine` is what the driver writes for each finished mini-batch and what every
reader gets back: recovery (runner/local/output/ledger.py), the reports, `runner retry`,
`runner status` and `runner results --sorted`. `encode` writes it; `decode` reads it
back checked against the type (pydantic, strict: a count is a non-negative int, not a
bool or a float), so a damaged line is found in one place and said the same way.

The format on disk is the one earlier versions wrote, byte for byte: keys in the order
below, optional ones left out while they hold their default. Lines of runners before
`at` was written have no `at` (None here): they chain on `out` only; lines before `t` (when
the line was committed, for `runner report`'s timelines) have no `t`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from annotated_types import Ge

from runner.runs.folder import no_links
from runner.runs.records import ItemCounts, MiniBatchCounts, RecordError, adapter

if TYPE_CHECKING:  # imported where lines are decoded: a worker never loads pydantic
    from pydantic_core import ErrorDetails

Count = Annotated[int, Ge(0)]


class LedgerLine(NamedTuple):
    """One committed mini-batch (a NamedTuple: built once per mini-batch on the driver's
    hot path, where a frozen dataclass cost three times as much)."""

    mb: Count
    status: Literal["ok", "failed"]
    items: Count
    ok: Count  # items that gave a result
    failed: Count
    tries: Count
    out: Count  # where its rows end in the output (the output's size after them)
    rows: Count = 0  # rows appended (for Parquet: how many of the staged frames' rows are its)
    worker: Count | None = None
    secs: float | None = None
    error: str | None = None
    failed_files: list[str] | None = None  # which files failed, when run() returned fewer and it is known
    items_unknown: bool = False  # a failure before the rows were counted: `items` is 1, at least
    gen: Count = 0  # the step's attempt that wrote it (0: the run, n: its n-th `runner retry`)
    at: Count | None = None  # where its rows start (before a CSV header it wrote); None: an old line
    # When it was committed, in milliseconds since the epoch (an int: formatting a float's
    # repr per mini-batch cost four times as much); None: a line of an earlier runner.
    t: Count | None = None


_T = ',"t":'  # an f-string of Python 3.11 cannot hold the quotes


class LineError(RecordError):
    """What is wrong with a ledger line (args[0]: said as recovery shows it); damage, as a
    damaged record is (exit 2), though recovery catches it to cut a torn last line."""


class NotALine(LineError):
    """Not a JSON object: as the last line, a torn write (cut, and its mini-batch runs
    again); before it, damage."""


def encode_ok(mb: int, items: int, rows: int, tries: int, worker: int, secs: float, at: int, t: int,
              out: int) -> bytes:
    """The common line, written by hand: a whole success of the run itself (attempt 0),
    with no error, as `encode` writes it (json.dumps per mini-batch was a tenth of the
    driver's time with tiny mini-batches; the Ledger writes these without a LedgerLine)."""
    return (f'{{"mb":{mb},"status":"ok","items":{items},"ok":{items},"failed":0,"rows":{rows},"tries":{tries},'
            f'"worker":{worker},"secs":{float(secs)!r},"at":{at}{_T}{t},"out":{out}}}\n').encode()


def encode(line: LedgerLine) -> bytes:
    """A ledger line: keys in LedgerLine's order, those at their default left out."""
    if line.error is None and not line.gen and line.status == "ok" and line.secs is not None and \
            line.worker is not None and line.at is not None and line.t is not None and line.ok == line.items \
            and not line.failed and line.failed_files is None and not line.items_unknown:
        return encode_ok(line.mb, line.items, line.rows, line.tries, line.worker, line.secs, line.at, line.t,
                         line.out)
    fields: dict[str, Any] = {"mb": line.mb, "status": line.status, "items": line.items, "ok": line.ok,
                              "failed": line.failed, "rows": line.rows, "tries": line.tries}
    for key in ("worker", "secs", "error", "failed_files"):
        if getattr(line, key) is not None:
            fields[key] = getattr(line, key)
    if line.items_unknown:
        fields["items_unknown"] = True
    if line.gen:
        fields["gen"] = line.gen
    if line.at is not None:
        fields["at"] = line.at
    if line.t is not None:
        fields["t"] = line.t
    fields["out"] = line.out
    return json.dumps(fields, separators=(",", ":")).encode() + b"\n"


def decode(raw: bytes, total: int | None = None) -> LedgerLine:
    """A complete line (ending in a newline) as its type; LineError says what is wrong.
    `total`: the step's mini-batches, which `mb` must be one of."""
    from pydantic import ValidationError

    if not raw.lstrip()[:1] == b"{":
        raise NotALine(_NOT_A_LINE)
    try:
        line: LedgerLine = adapter(LedgerLine).validate_json(raw, strict=True)  # built on first use
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(error["type"] == "json_invalid" for error in errors):
            raise NotALine(_NOT_A_LINE) from exc
        if any(error["type"] == "extra_forbidden" for error in errors):
            # Keys this runner does not know (a later runner's, a note added by hand) are
            # left aside, as before; a NamedTuple's validator cannot be told to ignore them.
            known = {key: value for key, value in json.loads(raw).items() if key in LedgerLine._fields}
            return decode(json.dumps(known).encode() + b"\n", total)
        raise LineError(_problem(errors, total)) from exc
    if total is not None and line.mb >= total:
        raise LineError(_wrong("mb", line.mb, total))
    return line


_NOT_A_LINE = "it is not a ledger line (not a JSON object)"
_NOT = {"status": 'not "ok" or "failed"', "secs": "not a number", "error": "not text",
        "failed_files": "not a list of paths", "items_unknown": "not true or false"}


def _problem(errors: list[ErrorDetails], total: int | None) -> str:
    missing = [error["loc"][0] for error in errors if error["type"] == "missing"]
    if missing:
        return f"it has no {', '.join(repr(key) for key in missing)}"
    first = errors[0]
    return _wrong(str(first["loc"][0]), first["input"], total)


def _wrong(key: str, value: Any, total: int | None) -> str:
    shown = json.dumps(value)
    if key == "mb":
        return f'"mb" is {shown}, not a mini-batch of this step' + (f" (0 to {total - 1})" if total else "")
    return f'"{key}" is {shown}, {_NOT.get(key, "not a count")}'


def read_lines(path: str | Path) -> Iterator[LedgerLine]:
    """The complete lines of a ledger (for reports and status). A torn last line, and
    anything from a damaged line on, is left out: resuming says what is wrong."""
    if not os.path.exists(path):
        return
    with open(path, "rb", opener=no_links) as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                return
            try:
                yield decode(raw)
            except LineError:
                return


def current_lines(path: str | Path, retried: bool = True) -> Iterator[LedgerLine]:
    """Each mini-batch's current line: a retry's line in place of the earlier failure it
    replaces (for reports and status). `retried`: whether the step was ever retried
    (step.json knows); if not, every line is current and the ledger is read once."""
    latest = _latest_attempts(path) if retried else {}
    for line in read_lines(path):
        if latest and latest.get(line.mb, 0) != line.gen:
            continue  # replaced by a later attempt's line
        yield line


def _latest_attempts(path: str | Path) -> dict[int, int]:
    """The latest attempt that wrote a line of each mini-batch a retry wrote a line of."""
    latest: dict[int, int] = {}
    if os.path.exists(path):
        with open(path, "rb", opener=no_links) as handle:
            for raw in handle:
                if b'"gen":' in raw and raw.endswith(b"\n"):  # a retry's line: few of them, decoded
                    try:
                        line = decode(raw)
                    except LineError:
                        break
                    latest[line.mb] = max(latest.get(line.mb, 0), line.gen)
    return latest


# A line exactly as encode_ok writes it, its groups the fields as written: mb, items, ok,
# rows, tries, worker, secs, at, t, out. A count has no leading zero and at most 18 digits
# (an int64, as decode reads it). `secs` is a decimal of at most 15 significant digits,
# no superfluous zero, from 0.0001 up (or 0.0): then it is its own float's repr (15
# digits always round-trip), so these bytes say what decode's LedgerLine would. Nothing
# can match two ways, so nothing backtracks.
_C = rb"(0|[1-9][0-9]{0,17})"
OK_SECS = rb"(?:0|[1-9][0-9]{0,10})\.(?:0|[0-9]{0,3}[1-9])"
OK_LINE = re.compile(rb'\{"mb":' + _C + rb',"status":"ok","items":' + _C + rb',"ok":' + _C + rb',"failed":0,"rows":'
                     + _C + rb',"tries":' + _C + rb',"worker":' + _C + rb',"secs":(' + OK_SECS + rb'),"at":' + _C
                     + rb',"t":' + _C + rb',"out":' + _C + rb'\}\n')
CHUNK = 1 << 16  # bytes of the ledger read at a time by current_runs (its matches: memory bounded)


def current_runs(path: str | Path, retried: bool = True,
                 chunk: int = CHUNK) -> Iterator[list[re.Match[bytes]] | LedgerLine]:
    """current_lines, for a reader that writes fields out as they are: each run of lines
    as encode_ok writes them (nearly every line) comes as their OK_LINE matches, found a
    chunk at a time with no LedgerLine made (decode's pydantic cost four times as much,
    once per mini-batch); any other line comes decoded."""
    latest = _latest_attempts(path) if retried else {}
    if not os.path.exists(path):
        return
    with open(path, "rb", opener=no_links) as handle:
        rest = b""  # a line begun in the chunk before; left over at the end: a torn last line, left out
        while read := handle.read(chunk):
            data = rest + read
            end = data.rfind(b"\n") + 1
            rest = data[end:]
            for entry in _runs(data, end):
                if entry is None:
                    return  # from a damaged line on, as read_lines
                if isinstance(entry, LedgerLine):
                    if latest and latest.get(entry.mb, 0) != entry.gen:
                        continue  # replaced by a later attempt's line
                elif latest:  # attempt-0 lines, some of which a later attempt's lines may replace
                    entry = [match for match in entry if not latest.get(int(match[1]), 0)]
                yield entry


def _runs(data: bytes, end: int) -> Iterator[list[re.Match[bytes]] | LedgerLine | None]:
    """The complete lines of data[:end] as current_runs gives them; None for a damaged
    line, which ends them."""
    pos, match_at = 0, OK_LINE.match  # anchored: a search would scan past other lines, again for each
    while pos < end:
        run = []
        while (match := match_at(data, pos, end)) is not None:
            run.append(match)
            pos = match.end()
        if run:
            yield run
        if pos < end:
            stop = data.index(b"\n", pos) + 1
            try:
                yield decode(data[pos:stop])
            except LineError:
                yield None
                return
            pos = stop


@dataclass
class Totals:
    """What a ledger's lines add up to, in the counts a ProgressRecord holds (carried
    across a resume, so thresholds continue)."""

    mini_batches: MiniBatchCounts = field(default_factory=MiniBatchCounts)
    items: ItemCounts = field(default_factory=ItemCounts)
    rows_written: int = 0
    retries: int = 0
    first_errors: list[str] = field(default_factory=list)
    first_error_mbs: list[int] = field(default_factory=list)  # whose errors first_errors holds

    @classmethod
    def of(cls, lines: Iterable[LedgerLine]) -> Totals:
        totals = cls()
        for line in lines:
            totals.add(line)
        return totals

    def add(self, line: LedgerLine) -> None:
        if line.status == "ok":
            self.mini_batches.succeeded += 1
        else:
            self.mini_batches.failed += 1
            if len(self.first_errors) < 3 and line.error:
                self.first_errors.append(line.error)
                self.first_error_mbs.append(line.mb)
        self.items.succeeded += line.ok
        self.items.failed += line.failed
        self.rows_written += line.rows
        self.retries += max(0, line.tries - 1)

    def remove(self, line: LedgerLine) -> None:
        """Take back a failed line that a retry runs again (it has no rows)."""
        self.mini_batches.failed -= 1
        self.items.succeeded -= line.ok
        self.items.failed -= line.failed
        self.retries -= max(0, line.tries - 1)
        if line.mb in self.first_error_mbs:
            index = self.first_error_mbs.index(line.mb)
            del self.first_errors[index], self.first_error_mbs[index]
