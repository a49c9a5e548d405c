"""`runner report`: a real run with failures, a retry and a timeout, its report written as
the run ends and opened in a real browser (Debian's chromium, headless; the Makefile
installs it); a 100,000-mini-batch report's size; what happens without matplotlib."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from runner.local.output.ledger_line import LedgerLine, encode
from tests.local.helpers import cli, make_files, run_folder, write_spec

SCRIPTS = Path(__file__).parent / "scripts"
ON = {"RUNNER_REPORT": "1"}  # tests/conftest.py turns the end-of-run report off for the rest
SECTIONS = ("throughput", "timeline", "durations", "failures", "reuse")
PLOTTED = ("throughput", "timeline", "durations")


def _mixed_run(tmp_path: Path, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], Path]:
    make_files(tmp_path / "data", 16)
    write_spec(tmp_path, script="mixed.py", mini_batch_size=1, run_invocation_timeout=1, run_max_try=2,
               error_threshold=-1, env={"MIXED_FAIL": "f0003.txt", "MIXED_ONCE": "f0005.txt",
                                        "MIXED_HANG": "f0007.txt", "MIXED_SLOW": "f0009.txt"})
    shutil.copy(SCRIPTS / "mixed.py", tmp_path / "code" / "mixed.py")
    done = cli("apply", "spec.yaml", cwd=tmp_path, env={**ON, **(env or {})})
    run_id = done.stdout.strip().splitlines()[-1]
    return done, run_folder(tmp_path, run_id)


def _wait_for(path: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was not written within {timeout:g} s"
        time.sleep(0.1)


def chromium(page: Path, tmp_path: Path, screenshot: Path | None = None) -> tuple[str, list[str]]:
    """The DOM of `page` as headless Chromium built it, and the console messages it logged
    (with --enable-logging=stderr: `INFO:CONSOLE:<line>] "<message>", source: ...`)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "chromium is missing: `make test` installs it (apt-get install chromium)"
    base = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
            f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1400,3000"]
    done = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    if screenshot is not None:
        shot = subprocess.run([*base, f"--screenshot={screenshot}", page.as_uri()], capture_output=True, text=True,
                              timeout=120)
        assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    console = [line for line in (done.stderr.splitlines()) if ":CONSOLE" in line]
    return done.stdout, console


def test_the_console_check_catches_a_page_that_logs_errors(tmp_path: Path) -> None:
    """The check the report passes can fail: a script error and console.error are caught."""
    broken = tmp_path / "broken.html"
    broken.write_text('<!DOCTYPE html><html><body><p>x</p><script>console.error("boom"); nothing();</script>'
                      "</body></html>")
    dom, console = chromium(broken, tmp_path)
    assert "<p>x</p>" in dom
    assert any('"boom"' in line for line in console) and any("nothing is not defined" in line for line in console)


def test_a_run_with_failures_a_retry_and_a_timeout_has_a_report_that_opens_in_a_browser(tmp_path: Path) -> None:
    done, folder = _mixed_run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{folder / 'report.html'}" in done.stderr  # the end-of-run message says where
    _wait_for(folder / "report.html")
    assert not (folder / "report.html.part").exists()
    status = cli("status", "latest", cwd=tmp_path)
    assert f"report: {folder / 'report.html'}" in status.stdout
    html = (folder / "report.html").read_text()
    # Self-contained: nothing fetched, no script; user text escaped.
    assert "<script" not in html and " src=" not in html and 'href="http' not in html and "<link" not in html
    assert "cannot score &lt;f0003.txt&gt;" in html and "<f0003.txt>" not in html

    shot = tmp_path / "report.png"
    dom, console = chromium(folder / "report.html", tmp_path, screenshot=shot)
    assert console == []
    assert 'id="header"' in dom and 'id="memory"' in dom
    for section in SECTIONS:
        start = dom.index(f'<section class="{section}"')
        body = dom[start:dom.index("</section>", start)]
        if section in PLOTTED:
            assert "<svg" in body, section
    failures = dom[dom.index('<section class="failures"'):]
    assert "ValueError: cannot score" in failures and "(timed out)" in failures
    assert "f0003.txt" in failures and "file://" in failures  # its items and its worker's log
    slowest = dom[dom.index('<table class="slowest"'):]
    assert slowest.index("f0009.txt") < slowest.index("</tr>", slowest.index("f0009.txt"))
    assert "committed after a retry" in dom and "worker restarted" in dom and "timed out" in dom
    events = [json.loads(line) for line in (folder / "score" / "events.jsonl").read_text().splitlines()]
    assert {"retry", "restart", "peak_memory"} <= {event["kind"] for event in events}
    memory = dom[dom.index('id="memory"'):dom.index("</section>", dom.index('id="memory"'))]
    # A worker restarted by the last timeout may have no process yet to read: one at least has.
    assert "The driver's peak memory: " in memory and "<th>node0/process00" in memory and " MB</td>" in memory


def test_a_report_of_100000_mini_batches_stays_small(tmp_path: Path) -> None:
    """A real run's folder, its ledger replaced by 100,000 lines written by the real encoder
    (8 workers, a failure in every 997): the timeline is binned, the page a few MB."""
    make_files(tmp_path / "data", 4)
    write_spec(tmp_path, mini_batch_size=1)
    done = cli("apply", "spec.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folder = run_folder(tmp_path, done.stdout.strip().splitlines()[-1])
    start, lines = time.time() - 1000, []
    for mb in range(100_000):
        failed = mb % 997 == 0
        lines.append(encode(LedgerLine(
            mb, "failed" if failed else "ok", 1, 0 if failed else 1, 1 if failed else 0, 2 if failed else 1, mb,
            rows=0 if failed else 1, worker=mb % 8, secs=0 if failed else 0.08 + (mb % 13) / 100,
            error=f"ValueError: bad item {mb % 3}" if failed else None, at=mb, t=int((start + mb / 100) * 1000))))
    (folder / "score" / "ledger.jsonl").write_bytes(b"".join(lines))
    (folder / "report.html.part").touch()  # as the driver leaves it for its writer
    assert f"report (being written): {folder / 'report.html'}" in cli("status", folder.name, cwd=tmp_path).stdout
    out = tmp_path / "big.html"
    made = cli("report", folder.name, "-o", str(out), cwd=tmp_path, timeout=300)
    assert made.returncode == 0, made.stderr
    html = out.read_text()
    assert out.stat().st_size < 5_000_000
    assert "Too many mini-batches to draw one bar each" in html
    assert "3 × ValueError: bad item" not in html and "ValueError: bad item 0" in html


def _without_matplotlib(tmp_path: Path) -> str:
    """A PYTHONPATH on which `import matplotlib` fails, as where the extra is not installed."""
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    return f"{Path(__file__).parents[2]}{os.pathsep}{blocker.parent}"


def test_without_matplotlib_report_says_which_extra_to_install_and_the_run_is_unchanged(tmp_path: Path) -> None:
    """A matplotlib that cannot be imported: `runner report` exits 2 naming the extra; the
    writer started at the run's end fails, and the run does not (the driver log says so)."""
    path = _without_matplotlib(tmp_path)
    done, folder = _mixed_run(tmp_path, env={"PYTHONPATH": path})
    assert done.returncode == 0, done.stderr
    log = folder / "score" / "logs" / "sys" / "driver.log"
    deadline = time.monotonic() + 180
    while "report was not written" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    assert "runner[report]" in log.read_text()
    assert not (folder / "report.html").exists() and not (folder / "report.html.part").exists()
    made = cli("report", "latest", cwd=tmp_path, env={"PYTHONPATH": path})
    assert made.returncode == 2 and "runner[report]" in made.stderr and "Traceback" not in made.stderr
    assert json.loads((folder / "run.json").read_text())["status"] == "succeeded"


@pytest.mark.parametrize("where", ["missing/folder/r.html"])
def test_report_into_a_folder_that_does_not_exist_is_a_usage_error(tmp_path: Path, where: str) -> None:
    make_files(tmp_path / "data", 2)
    write_spec(tmp_path)
    assert cli("apply", "spec.yaml", cwd=tmp_path).returncode == 0
    made = cli("report", "latest", "-o", str(tmp_path / where), cwd=tmp_path)
    assert made.returncode == 2 and "no folder" in made.stderr


def test_an_azure_runs_report_shows_what_its_folder_records_and_points_to_the_studio(tmp_path: Path) -> None:
    from runner.runs.folder import RunFolder
    from runner.runs.records import JobRecord, RunRecord, StepSummary
    from runner.runs.status import Status

    folder = tmp_path / ".runner" / "runs" / "job-20260101-000000"
    folder.mkdir(parents=True)
    run = RunFolder(folder)
    run.write(RunRecord(id=run.id, name="job", spec="spec.yaml", target="azureml-v2", status=Status.FAILED,
                        started=1.0, finished=2.0, azure_run_id="job_abc", portal_url="https://ml.azure.com/runs/abc",
                        parameters={"batch": "<4>"}, steps={"score": StepSummary(Status.FAILED)}))
    run.write_job(JobRecord("azureml-v2", []))
    made = cli("report", run.id, cwd=tmp_path, env={"PYTHONPATH": _without_matplotlib(tmp_path)})
    assert made.returncode == 0, made.stderr  # nothing to draw: no matplotlib needed (.venv-azure has none)
    html = (folder / "report.html").read_text()
    assert 'id="header"' in html and "azureml-v2" in html and "&lt;4&gt;" in html
    assert 'href="https://ml.azure.com/runs/abc"' in html and "Azure ML studio" in html
    assert '<section class="throughput"' not in html
    dom, console = chromium(folder / "report.html", tmp_path)
    assert console == [] and 'id="azure"' in dom
