"""`python -m runner.report --write RUN_FOLDER`: the report a local run's driver starts as
the run ends (runner/local/driver/report_writer.py). It changes nothing of the run: a
failure is said in the last step's driver log, and in report.log, and the report is
not written (`runner report RUN` tries again)."""

from __future__ import annotations

import contextlib
import sys
import traceback
from pathlib import Path

from runner.report import write_report
from runner.runs.folder import RunFolder


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "--write":
        print("usage: python -m runner.report --write RUN_FOLDER", file=sys.stderr)
        return 2
    folder = RunFolder(Path(argv[1]))
    try:
        write_report(folder)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the run stays as it is
        traceback.print_exc()
        with contextlib.suppress(Exception):
            folder.report_partial.unlink(missing_ok=True)
            steps = list(folder.read().steps) or [step.name for step in folder.job().steps]
            folder.step(steps[-1]).log_driver([f"the run's report was not written: {type(exc).__name__}: {exc} "
                                               f"(`runner report {folder.id}` tries again)"])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
