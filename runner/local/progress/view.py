"""How a step's progress reads: the live bar's two lines, laid out for the terminal's
width, and the plain line for logs and the overview file.

    score ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╸─────────────────  64%  64/100 mini-batches
      192/300 items, 0 failed  42.1 items/s  14.0 mini-batches/s  ETA 0:03

The bar takes what the first line leaves; the second line drops what does not fit, the
least needed first (elapsed time, then retries, the rates, the time left), so 80 columns
keep a real bar and every number that is shown is whole. The bar's filled part is red
only when something failed. Characters differ between the filled part (━) and the rest
(─), so the bar reads without colour too."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runner.runs.display import clock, items_total, rate
from runner.runs.records import ProgressRecord
from runner.runs.status import Status

Part = tuple[str, str]  # (text, rich style; "" for none)
MIN_BAR = 10
GAP = "  "


def bar_lines(snap: ProgressRecord, width: int) -> list[list[Part]]:
    """The two lines of the bar for a terminal `width` columns wide."""
    return [_bar_line(snap, width), _numbers_line(snap, width)]


def _fill_style(snap: ProgressRecord) -> str:
    if snap.mini_batches.failed or snap.items.failed:
        return "red"
    if snap.status in (Status.SUCCEEDED, Status.REUSED):
        return "green"
    return "cyan" if snap.status == Status.RUNNING else "yellow"  # stopped: interrupted, canceled


def _bar_line(snap: ProgressRecord, width: int) -> list[Part]:
    mb = snap.mini_batches
    done = mb.succeeded + mb.failed
    fraction = min(1.0, done / mb.total) if mb.total else 1.0
    name = snap.step if len(snap.step) <= max(10, width // 4) else snap.step[:max(10, width // 4) - 1] + "…"
    percent = f"{int(fraction * 100):>3}%"
    failed = f", {mb.failed:,} failed" if mb.failed else ""
    # The counts, shorter as the terminal narrows; never the bar below MIN_BAR.
    counts = [f"{done:,}/{mb.total:,} mini-batches{failed}", f"{done:,}/{mb.total:,}{failed}", ""]
    right = next((c for c in counts if width - len(name) - len(percent) - 2 - len(GAP + c) * bool(c) >= MIN_BAR),
                 "")
    size = max(MIN_BAR, width - len(name) - len(percent) - 2 - (len(GAP + right) if right else 0))
    cells = size * fraction
    full = int(cells)
    half = "╸" if cells - full >= 0.5 and full < size else ""
    parts: list[Part] = [(name, "bold"), (" ", ""), ("━" * full + half, _fill_style(snap)),
                         ("─" * (size - full - len(half)), "bright_black"), (" " + percent, "")]
    if right:
        parts.append((GAP + right, "red" if mb.failed and right.endswith("failed") else ""))
    return _crop(parts, width)


def _numbers_line(snap: ProgressRecord, width: int) -> list[Part]:
    items = snap.items
    total = items_total(items.total, items.estimate)
    done = items.succeeded + items.failed
    counted = f"{done:,} items" if total == "?" else f"{done:,}/{total} items"
    items_rate, mb_rate = rate(snap.items_per_second), rate(snap.mini_batches_per_second)
    eta = clock(snap.eta_seconds) if snap.eta_seconds is not None else "--:--"
    elapsed = clock(snap.elapsed_seconds)
    # (priority: kept first, room, parts) in the order shown. What fits is decided on each
    # number's usual room (a rate 4 characters, a time 5), not on its length now, so the
    # line does not gain and lose a part as a rate goes from 9.9 to 10.
    segments: list[tuple[int, int, list[Part]]] = [
        (0, 0, [(counted + ", ", ""), (f"{items.failed:,} failed", "red" if items.failed else "")]),
        (2, _room(items_rate, 4), [(f"{items_rate} items/s", "")]),
        (3, _room(mb_rate, 4), [(f"{mb_rate} mini-batches/s", "")]),
        *([(1, _room(eta, 5), [(f"ETA {eta}", "bold")])] if snap.status == Status.RUNNING else []),
        (6, _room(elapsed, 5), [(f"elapsed {elapsed}", "")]),
        *([(4, 0, [(f"{snap.retries:,} retries", "yellow")])] if snap.retries else []),
        *([(5, 0, [(f"{snap.worker_restarts:,} worker restarts", "yellow")])] if snap.worker_restarts else []),
    ]
    kept = sorted(segments, key=lambda s: s[0])
    while len(kept) > 1 and sum(len(GAP) + room + _length(parts) for _, room, parts in kept) > width:
        kept.pop()
    parts: list[Part] = []
    for segment in segments:
        if segment in kept:
            parts += [(GAP, ""), *segment[2]]
    return _crop(parts, width)


def _room(number: str, usual: int) -> int:
    """What a number may take beyond its length now."""
    return max(0, usual - len(number))


def _length(parts: list[Part]) -> int:
    return sum(len(text) for text, _ in parts)


def _crop(parts: list[Part], width: int) -> list[Part]:
    """Cut at `width` (only a terminal narrower than the parts that are never dropped)."""
    out: list[Part] = []
    left = width
    for text, style in parts:
        if left <= 0:
            break
        out.append((text[:left], style))
        left -= len(text)
    return out


def plain(line: list[Part]) -> str:
    return "".join(text for text, _ in line)


def plain_line(snap: ProgressRecord) -> str:
    """One line for a log or the overview file (no terminal: no bar)."""
    mb, items = snap.mini_batches, snap.items
    total = items_total(items.total, items.estimate)
    eta = f"; ETA {clock(snap.eta_seconds)}" if snap.eta_seconds is not None else ""
    return (f"{snap.step}: {snap.status}; mini-batches {mb.succeeded + mb.failed:,}/{mb.total:,} "
            f"({mb.failed:,} failed); items {items.succeeded + items.failed:,}/{total} ({items.failed:,} failed); "
            f"{rate(snap.items_per_second)} items/s, {rate(snap.mini_batches_per_second)} mini-batches/s{eta}")


class BarView:
    """The bar as a rich renderable: drawn again for the console's width at each refresh,
    so a resized terminal gets a bar that fits."""

    def __init__(self) -> None:
        self.snap: ProgressRecord | None = None

    def __rich_console__(self, console: Any, options: Any) -> Iterable[Any]:
        from rich.text import Text

        if self.snap is None:
            return
        for line in bar_lines(self.snap, options.max_width):
            yield Text.assemble(*line, no_wrap=True, overflow="crop")
