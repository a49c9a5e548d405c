"""The run's report (`runner report`), written as a run ends by a process of its own.

Importing a plotting library and drawing costs a second or more: a run of one file must
not wait for it, so the driver starts `python -m runner.report <run folder>` detached (a
session of its own: Ctrl-C in the terminal does not reach it) and returns. The writer's
output goes to the run's report.log; a writer that fails never changes the run: the
driver log says so, and `runner report RUN` writes it again.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from runner.runs.folder import RunFolder, StepFolder, no_links
from runner.runs.records import RecordError

# RUNNER_REPORT=0 writes no report at run end (the test suite's runs, which do not read it).
ENV = "RUNNER_REPORT"


def start(run: RunFolder, log_to: StepFolder | None) -> None:
    """Start the report's writer for `run`; report.html.part, made here, says it is being
    written until the writer renames it (so the end-of-run message can say so at once)."""
    if os.environ.get(ENV, "1") == "0":
        return
    try:
        os.close(no_links(run.report_partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
        with open(run.report_log, "ab", opener=no_links) as log:
            subprocess.Popen([sys.executable, "-m", "runner.report", "--write", str(run.path)],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                             env=_env(), close_fds=True)
    except (OSError, subprocess.SubprocessError, RecordError) as exc:  # RecordError: a link planted there
        with contextlib.suppress(OSError):
            run.report_partial.unlink(missing_ok=True)
        if log_to is not None:
            with contextlib.suppress(OSError):
                log_to.log_driver([f"the run's report could not be started: {exc}"])


def _env() -> dict[str, str]:
    """The driver's environment, with this runner first on the path: the writer is the
    same code as the driver, wherever it was imported from."""
    root = str(Path(__file__).resolve().parents[3])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}
