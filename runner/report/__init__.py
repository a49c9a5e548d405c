"""`runner report`: a run as one self-contained HTML page (runner/report/page.py), read
from its run folder (data.py), its figures drawn by matplotlib (plots.py, the `report`
extra)."""

from __future__ import annotations

import os
from pathlib import Path

from runner.runs.folder import RunFolder, no_links


def write_report(folder: RunFolder, target: Path | None = None) -> Path:
    """Write the report of the run in `folder` to `target` (default: the run folder's
    report.html), whole or not at all: drawn into a file beside it, then renamed.
    MissingLibrary where matplotlib is not installed and there is something to draw."""
    from runner.report.data import read_run
    from runner.report.page import render
    from runner.report.plots import check_library

    data = read_run(folder)
    if data.local:  # an Azure run's report draws nothing
        check_library()
    target = target or folder.report_html
    partial = folder.report_partial if target == folder.report_html else target.with_name(target.name + ".part")
    try:
        text = render(data)
        with open(partial, "w", encoding="utf-8", opener=no_links) as handle:
            handle.write(text)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
