"""A step's output rows in input order (`runner results --sorted`).

Rows are appended as mini-batches finish, so the output is in completion order. What
says where rows came from is the ledger: one line per finished mini-batch, naming it
(`mb`) and where its rows lie in the output (`at` to `out`; for Parquet, how many rows
it gave, in commit order). Mini-batch ids follow the inputs: a file dataset's files as
listed, a table's files as listed and each file's rows in order. So sorting the lines
by mini-batch, and keeping each one's rows in the order run() returned them, is input
order, whatever the rows hold. Only the rows shown are read (a head).

The ledger is the local engine's file, so this lives here: `runs/inspect.results` is
handed this module (its InputOrder) by the local backend, and never reads a ledger."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, NamedTuple

from runner.local.output.ledger_line import read_lines
from runner.runs.errors import RunError


class Chunk(NamedTuple):
    mb: int
    at: int  # where its rows start in a text or CSV output (a CSV header it wrote included)
    out: int
    rows: int


def chunks(ledger: str | Path) -> list[Chunk]:
    """The ledger's complete lines in commit order (a torn or damaged line ends them, as
    for reports: rows past it were not committed)."""
    found: list[Chunk] = []
    if not os.path.exists(ledger):
        raise RunError(f"rows cannot be put in input order: {ledger} is missing (only local runs keep "
                       "a ledger; Azure ML writes rows as mini-batches finish)")
    end = 0
    for line in read_lines(ledger):
        at = end if line.at is None else line.at  # lines written before `at` existed chain on `out`
        found.append(Chunk(line.mb, at, line.out, line.rows))
        end = line.out
    return found


def _by_input(found: list[Chunk]) -> list[Chunk]:
    return [chunk for _, chunk in sorted(enumerate(found), key=lambda pair: (pair[1].mb, pair[0]))]


def text_head(path: Path, ledger: str | Path, head: int, is_csv: bool) -> list[str]:
    """The first `head` rows by input (a CSV's header line first)."""
    first: list[str] = []
    if is_csv:
        with open(path, encoding="utf-8", errors="replace", newline="") as reader:
            header = next(csv.reader(reader), None)
        if header is not None:
            first.append(_csv_line(header))
    wanted = head + len(first)
    with open(path, "rb") as handle:
        for chunk in _by_input(chunks(ledger)):
            if len(first) >= wanted:
                break
            handle.seek(chunk.at)
            text = handle.read(max(0, chunk.out - chunk.at)).decode("utf-8", errors="replace")
            if is_csv:  # the first mini-batch committed wrote the header before its rows
                records = list(csv.reader(io.StringIO(text, newline="")))
                first += [_csv_line(r) for r in records[1 if chunk.at == 0 else 0:]]
            else:
                first += text.splitlines()
    return first[:wanted]


def _csv_line(record: list[str]) -> str:
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(record)
    return line.getvalue()


def parquet_rows(frame: Any, ledger: str | Path, head: int) -> Any:
    """The first `head` rows of a Parquet output's frame by input: the file holds each
    committed mini-batch's rows in commit order, as many as its ledger line says."""
    found, start, where = chunks(ledger), 0, []
    for chunk in found:
        where.append(start)
        start += chunk.rows
    if start != len(frame):
        raise RunError(f"rows cannot be put in input order: the ledger names {start} rows and the output "
                       f"holds {len(frame)}")
    positions: list[int] = []
    for index in sorted(range(len(found)), key=lambda i: (found[i].mb, i)):
        positions += range(where[index], where[index] + found[index].rows)
        if len(positions) >= head:
            break
    return frame.iloc[positions[:head]]
