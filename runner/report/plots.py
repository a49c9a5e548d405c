"""The report's figures, drawn by matplotlib as inline SVG (no script, no network: the
page opens offline and in a PR's artifact viewer).

A figure's size must not grow with the run: throughput and markers are binned over time,
and a timeline with more bars than MAX_BARS is drawn as each worker's busy share per time
bin (an image inside the SVG) with failures marked per bin, which the page says.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runner.local.output.ledger_line import LedgerLine
from runner.report.data import StepData, ended
from runner.runs.errors import RunError

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_BARS = 4000  # bars drawn one by one; above, the timeline is binned
TIME_BINS = 120  # throughput bins
TIMELINE_BINS = 400  # a binned timeline's columns
OK, FAILED, TIMEOUT, RETRY, RESTART = "#4c78a8", "#d62728", "#9467bd", "#ff7f0e", "#222222"


class MissingLibrary(RunError):
    """matplotlib is not installed (the `report` extra): exit 2, a setup to complete."""


def check_library() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise MissingLibrary("runner report draws its figures with matplotlib, which is not installed: "
                             "pip install 'runner[report]' (or `pip install matplotlib`)") from exc


@dataclass(frozen=True)
class Figures:
    throughput: str  # each an <svg> element, or "" where the step has nothing to draw
    timeline: str
    timeline_binned: bool
    durations: str


def figures(step: StepData) -> Figures:
    timed = [line for line in step.lines if line.t is not None]
    if not timed:
        return Figures("", "", False, _durations(step.lines) if step.lines else "")
    start = min(span[0] for span in map(step.span, timed) if span is not None)
    start = min(start, step.record.started or start)
    binned = len(timed) > MAX_BARS
    return Figures(_throughput(step, timed, start), _timeline(step, timed, start, binned), binned,
                   _durations(step.lines))


def _figure(height: float) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, height), layout="constrained")
    return fig, fig.add_subplot()


def _svg(fig: Figure) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "runner"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # inline: no XML declaration or DOCTYPE


def _throughput(step: StepData, timed: list[LedgerLine], start: float) -> str:
    import numpy as np

    end = max(ended(line) for line in timed)
    edges = np.linspace(0.0, max(end - start, 1e-3), TIME_BINS + 1)
    ends = np.array([ended(line) - start for line in timed])
    items, _ = np.histogram(ends, edges, weights=np.array([line.ok for line in timed], dtype=float))
    width = float(edges[1] - edges[0])
    fig, ax = _figure(3.2)
    ax.stairs(items / width, edges, fill=True, color=OK, alpha=0.6, label="items/s")
    top = max(float((items / width).max()), 1.0)
    failed = ends[[line.status == "failed" for line in timed]]
    _marks(ax, failed, edges, top * 1.04, FAILED, "x", "mini-batch failed")
    retried = ends[[line.tries > 1 for line in timed]]
    _marks(ax, retried, edges, top * 1.1, RETRY, "v", "committed after a retry")
    restarts = [event.t - start for event in step.events if event.kind == "restart"]
    _marks(ax, np.array(restarts), edges, top * 1.16, RESTART, "|", "worker restarted")
    ax.set_xlabel("seconds since the step started")
    ax.set_ylabel("items/s")
    ax.set_ylim(0, top * 1.25)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1), fontsize="small", ncols=4, frameon=False)
    return _svg(fig)


def _marks(ax: Axes, when: object, edges: object, height: float, color: str, marker: str, label: str) -> None:
    """A marker per time bin holding any (never one per event: the SVG stays small)."""
    import numpy as np

    counts, _ = np.histogram(np.asarray(when, dtype=float), np.asarray(edges))
    centers = (np.asarray(edges)[:-1] + np.asarray(edges)[1:]) / 2
    hit = counts > 0
    if hit.any():
        ax.scatter(centers[hit], np.full(int(hit.sum()), height), c=color, marker=marker, s=30, label=label)


def _timeline(step: StepData, timed: list[LedgerLine], start: float, binned: bool) -> str:
    workers = sorted({line.worker for line in timed if line.worker is not None} |
                     {event.worker for event in step.events if event.worker is not None})
    if not workers:
        return ""
    row = {worker: index for index, worker in enumerate(workers)}
    fig, ax = _figure(1.2 + 0.35 * len(workers))
    handles = [] if binned else _bars(ax, step, timed, start, row, max(ended(line) for line in timed) - start)
    if binned:
        _busy_image(ax, step, timed, start, row)
    length = max(ended(line) for line in timed) - start
    for kinds, color, marker, label in ((("retry",), FAILED, "x", "a try failed (retried)"),
                                        (("restart", "start_failed", "retired"), RESTART, "|", "worker restarted")):
        at = [(event.t - start, row[event.worker]) for event in step.events
              if event.kind in kinds and event.worker in row]
        _worker_marks(ax, at, length, color, marker, label)
    ax.set_yticks(range(len(workers)), [step.worker_label(worker) for worker in workers])
    ax.set_ylim(len(workers) - 0.5, -0.5)
    ax.set_xlabel("seconds since the step started")
    # Above the rows, not over them.
    ax.legend(handles=[*handles, *ax.get_legend_handles_labels()[0]], loc="lower left", bbox_to_anchor=(0, 1),
              fontsize="small", ncols=6, frameon=False)
    return _svg(fig)


def _worker_marks(ax: Axes, at: list[tuple[float, int]], length: float, color: str, marker: str,
                  label: str) -> None:
    """Events on the workers' rows, one marker per worker and time bin holding any."""
    width = max(length, 1e-3) / TIMELINE_BINS
    cells = {(min(int(x / width), TIMELINE_BINS - 1), y) for x, y in at}
    if cells:
        ax.scatter([(column + 0.5) * width for column, _ in cells], [y for _, y in cells], c=color, marker=marker,
                   s=200 if marker == "|" else 40, linewidths=2, label=label, zorder=3)


def _bars(ax: Axes, step: StepData, timed: list[LedgerLine], start: float, row: dict[int, int],
          length: float) -> list[Artist]:
    from matplotlib.patches import Patch

    by_row: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for line in timed:
        span = step.span(line)
        if span is None or line.worker not in row:
            continue
        color = TIMEOUT if step.is_timeout(line) else FAILED if line.status == "failed" else OK
        # A failure of unknown length still shows: a sliver, not nothing.
        by_row.setdefault((row[line.worker], color), []).append(
            (span[0] - start, max(span[1] - span[0], length / 500)))
    for (y, color), spans in by_row.items():
        ax.broken_barh(spans, (y - 0.35, 0.7), facecolors=color)
    return [Patch(color=OK, label="succeeded"), Patch(color=FAILED, label="failed"),
            Patch(color=TIMEOUT, label="timed out")]


def _busy_image(ax: Axes, step: StepData, timed: list[LedgerLine], start: float, row: dict[int, int]) -> None:
    import numpy as np

    end = max(ended(line) for line in timed) - start
    width = max(end, 1e-3) / TIMELINE_BINS
    busy = np.zeros((len(row), TIMELINE_BINS))
    failed_at: set[tuple[int, int]] = set()
    for line in timed:
        if line.worker not in row:
            continue
        column = min(int((ended(line) - start) / width), TIMELINE_BINS - 1)
        busy[row[line.worker], column] += float(line.secs or 0.0)
        if line.status == "failed":
            failed_at.add((row[line.worker], column))
    image = ax.imshow(np.clip(busy / width, 0, 1), aspect="auto", cmap="Blues", vmin=0, vmax=1,
                      extent=(0, TIMELINE_BINS * width, len(row) - 0.5, -0.5), interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="share of time in run()")
    if failed_at:
        ax.scatter([(column + 0.5) * width for _, column in failed_at], [y for y, _ in failed_at], c=FAILED,
                   marker="x", s=20, label="failed mini-batch")


def _durations(lines: list[LedgerLine]) -> str:
    import numpy as np

    secs = np.array([float(line.secs) for line in lines if line.status == "ok" and line.secs is not None])
    if not secs.size:
        return ""
    fig, ax = _figure(3.0)
    ax.hist(secs, bins=min(60, max(5, secs.size // 4)), color=OK)
    for name, value, style in zip(("p50", "p95", "p99", "max"), quantiles(secs.tolist()), ("-", "--", "-.", ":")):
        ax.axvline(value, color=FAILED, linestyle=style, label=f"{name} {value:.3g} s")
    ax.set_xlabel("seconds in run() per mini-batch (succeeded)")
    ax.set_ylabel("mini-batches")
    ax.legend(fontsize="small")
    return _svg(fig)


def quantiles(secs: list[float]) -> tuple[float, float, float, float]:
    """p50, p95, p99 and the max (nearest rank: a value that occurred)."""
    ordered = sorted(secs)
    if not ordered:
        return 0.0, 0.0, 0.0, 0.0

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]
    return rank(0.50), rank(0.95), rank(0.99), ordered[-1]
