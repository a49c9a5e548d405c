"""A run's folder: everything a run writes, and the names the commands read.

    .runner/runs/<run id>/          (.runner: the project's, found by runner.runs.home)
      run.json                      status, times, driver pid, per-step summary (RunRecord)
      cancel.json                   `runner cancel` asked this driver pid to stop
      job.json                      what runs (JobRecord; mode 0600: it may hold secrets)
      plan.txt, plan.json           the resolved plan, as `runner plan` shows it
      report.html                   `runner report`'s page, written as a local run ends
      report.html.part              ... while it is being written (renamed when whole)
      report.log                    what the report's writer said, when it failed
      .lock                         held by the run's driver while it runs (local)
      workspace.json, error.log     an Azure run's workspace (0600) and a submit's traceback
      pipeline.yaml | job.yaml      an Azure run's compiled pipeline (v1) or job (v2)
      code/<n>/                     an Azure run's code, as uploaded (runner.inputs.snapshot)
      download/<step>/              an Azure step's output, as downloaded
      <step>/
        step.json                   status, partitioning totals, fingerprint, reuse (StepRecord)
        snapshot/                   the step's code as the run started: workers run from it
        snapshots/<n>/              the code `runner retry --update-code` n took
        minibatches.jsonl           one descriptor per mini-batch
        ledger.jsonl                one line per finished mini-batch (exactly-once)
        progress.json               the numbers `runner status` shows (ProgressRecord)
        events.jsonl                rare events of the driver: a try retried, a worker restarted
        failed_items.jsonl          what failed, re-runnable (dataset `manifest: true`)
        outputs/<output>/<append_row_file_name>
        staging/<output>/           Parquet frames staged before they join the output
        azureml-models/<name>/1/    links to the step's models, as Model.get_model_path reads
        work/node<i>/process<j>/    each worker's scratch folder
        logs/user/stdout/node<i>/process<j>.stdout.txt   (and stderr/, entry_script_log/)
        logs/sys/driver.log
        logs/sys/report/processed_mini_batches.csv
        logs/job_progress_overview.txt
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.plan.plan import StepPlan
from runner.runs.errors import BackendError, RunError
from runner.runs.records import (DamagedFolder, JobRecord, RecordError, RunRecord, StepRecord, read_record,
                                 write_record)

# What `runner status latest` and the other commands take for the newest run.
LATEST = ("latest", "last")
RUN_ID = re.compile(r"^[a-z0-9][-a-z0-9]{0,80}$")
RUN_FILE, JOB_FILE, STEP_FILE = "run.json", "job.json", "step.json"
# Written by `runner cancel` before it signals the driver: the driver that finds its own
# pid here records `canceled` rather than `interrupted` (a Ctrl-C).
CANCEL_FILE = "cancel.json"
# The user log files of a worker, as Azure names them under logs/user/<stream>/.
USER_LOG_SUFFIX = {"stdout": "stdout.txt", "stderr": "stderr.txt", "entry_script_log": "log.txt"}


@dataclass
class RunFolder:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def run_json(self) -> Path:
        return self.path / RUN_FILE

    @property
    def lock(self) -> Path:
        return self.path / ".lock"

    @property
    def plan_text(self) -> Path:
        return self.path / "plan.txt"

    @property
    def plan_json(self) -> Path:
        return self.path / "plan.json"

    @property
    def report_html(self) -> Path:
        return self.path / "report.html"

    @property
    def report_partial(self) -> Path:
        """The report while it is written: renamed to report_html when whole."""
        return self.path / "report.html.part"

    @property
    def report_log(self) -> Path:
        """What the report's writer said (its errors), when it ran at the run's end."""
        return self.path / "report.log"

    @property
    def error_log(self) -> Path:
        return self.path / "error.log"

    @property
    def workspace(self) -> Path:
        return self.path / "workspace.json"

    @property
    def pipeline_yaml(self) -> Path:
        return self.path / "pipeline.yaml"

    @property
    def job_yaml(self) -> Path:
        return self.path / "job.yaml"

    @property
    def code(self) -> Path:
        """An Azure run's code copies, one folder per source_directory."""
        return self.path / "code"

    @property
    def download(self) -> Path:
        """Where an Azure run's outputs are downloaded, a folder per step."""
        return self.path / "download"

    def code_copy(self, index: int) -> Path:
        """An Azure run's copy of one source_directory (steps that share one share it)."""
        return self.code / str(index)

    def step(self, step: str) -> StepFolder:
        return StepFolder(self.path / step)

    def output_dir(self, step: str, output: str) -> Path:
        """Where a step's output folder is (the append_row file and summary_only files)."""
        return self.step(step).outputs / output

    def output_file(self, step: StepPlan) -> Path | None:
        """Where a step's append_row file is kept, whatever the target (None: summary_only)."""
        if step.output is None or step.append_row_file is None:
            return None
        return self.output_dir(step.name, step.output) / step.append_row_file

    def read(self) -> RunRecord:
        return read_record(self.path / RUN_FILE, RunRecord)

    def write(self, record: RunRecord) -> None:
        write_record(self.path / RUN_FILE, record)

    def update(self, **fields: Any) -> RunRecord:
        """Change some fields of run.json (a name that is not a field is a TypeError)."""
        record = dataclasses.replace(self.read(), **fields)
        self.write(record)
        return record

    def job(self) -> JobRecord:
        return read_record(self.path / JOB_FILE, JobRecord)

    def request_cancel(self, driver_pid: int) -> bool:
        """Note that `runner cancel` stops the driver `driver_pid`; False if it was
        already asked (a second signal would cut its clean stop short, as Ctrl-C twice)."""
        if self.cancel_requested(driver_pid, consume=False):
            return False
        with open(self.path / CANCEL_FILE, "w", encoding="utf-8", opener=no_links) as handle:
            handle.write(json.dumps({"driver_pid": driver_pid, "requested": time.time()}))
        return True

    def cancel_requested(self, driver_pid: int, consume: bool = True) -> bool:
        """Whether `runner cancel` asked the driver `driver_pid` to stop (a note for an
        earlier driver of this run, before a resume, does not count); `consume` removes it."""
        path = self.path / CANCEL_FILE
        try:
            asked = json.loads(path.read_text(encoding="utf-8")).get("driver_pid") == driver_pid
        except (OSError, ValueError, AttributeError):
            return False
        if consume:
            path.unlink(missing_ok=True)
        return bool(asked)

    def write_job(self, job: JobRecord) -> None:
        write_record(self.path / JOB_FILE, job, private=True)


@dataclass
class StepFolder:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def minibatches(self) -> Path:
        return self.path / "minibatches.jsonl"

    @property
    def ledger(self) -> Path:
        return self.path / "ledger.jsonl"

    @property
    def step_json(self) -> Path:
        return self.path / STEP_FILE

    @property
    def progress(self) -> Path:
        return self.path / "progress.json"

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    def log_event(self, event: dict[str, Any]) -> None:
        """Append one of the driver's rare events (a try retried, a worker restarted or
        retired), stamped with the time, for `runner report`: opened per event, as the
        driver log is, since there are few."""
        line = json.dumps({"t": round(time.time(), 3), **event}, separators=(",", ":")) + "\n"
        with open(self.events, "a", encoding="utf-8", errors="surrogateescape", opener=no_links) as handle:
            handle.write(line)

    @property
    def failed_items(self) -> Path:
        return self.path / "failed_items.jsonl"

    @property
    def outputs(self) -> Path:
        """The step's output folders (outputs/<output>/), linked whole when reused."""
        return self.path / "outputs"

    @property
    def staging(self) -> Path:
        return self.path / "staging"

    def snapshot(self, code: int = 0) -> Path:
        """Code version `code`'s folder: 0 the run's own, n the one retry n took."""
        return self.path / "snapshot" if not code else self.path / "snapshots" / str(code)

    @property
    def models(self) -> Path:
        """Where a worker finds the step's models as Azure's Model.get_model_path looks:
        AML_APP_ROOT (the step folder)/azureml-models/<name>/<version>/."""
        return self.path / "azureml-models"

    def staged(self, output: str, file: str) -> Path:
        """A Parquet output's staged Arrow frames, while the step runs and after (the
        ledger's offsets point into it)."""
        return self.staging / output / (file + ".arrows")

    def scratch(self, node: int, process: int) -> Path:
        """A worker's working folder (RUNNER's scratch, as Azure's per-process one)."""
        return self.path / "work" / f"node{node}" / f"process{process:03d}"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def user_logs(self) -> Path:
        return self.logs / "user"

    @property
    def sys_logs(self) -> Path:
        return self.logs / "sys"

    @property
    def driver_log(self) -> Path:
        return self.sys_logs / "driver.log"

    @property
    def report(self) -> Path:
        return self.sys_logs / "report" / "processed_mini_batches.csv"

    @property
    def overview(self) -> Path:
        return self.logs / "job_progress_overview.txt"

    def user_log(self, stream: str, node: int, process: int) -> Path:
        suffix = USER_LOG_SUFFIX[stream]
        return self.user_logs / stream / worker_name(node, process, f".{suffix}")

    def log_driver(self, lines: list[str]) -> None:
        """Append lines, each stamped with the time, to the driver log: the one writer of
        driver.log (the engine's messages and the snapshot's summary alike)."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self.driver_log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.driver_log, "a", encoding="utf-8", errors="surrogateescape", opener=no_links) as handle:
            handle.write("".join(f"{stamp} {line}\n" for line in lines))

    def read(self) -> StepRecord:
        """The step's record; a step not started yet has a pending one."""
        if not os.path.exists(self.step_json):
            return StepRecord(self.name)
        return read_record(Path(self.step_json), StepRecord)

    def update(self, **fields: Any) -> StepRecord:
        record = dataclasses.replace(self.read(), **fields)
        write_record(Path(self.step_json), record)
        return record


def no_links(path: str | Path, flags: int) -> int:
    """Opens a run folder's file (`open(path, mode, opener=no_links)`, or called with
    os.open's flags) as a file only: a link in its place is refused rather than followed
    (a planted link would have the run truncate and write a file outside it), and so is
    a folder or anything else that is not a regular file, each as DamagedFolder naming
    the path. One fstat more per file opened to read (a folder opens for reading)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DamagedFolder(path, f"is a link (to {_target(path)}), expected a file; nothing was written "
                                      "through it: remove the link (and restore the file)") from None
        if exc.errno == errno.EISDIR:
            raise DamagedFolder(path, "is a folder, expected a file: remove it (and restore the file)") from None
        raise
    if flags & os.O_ACCMODE == os.O_RDONLY:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise DamagedFolder(path, f"is {kind}, expected a file: remove it (and restore the file)")
    return fd


def _target(path: str | Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def worker_name(node: int, process: int, suffix: str = "") -> str:
    """node<i>/process<jjj><suffix>: a worker's place among the logs (Azure's names)."""
    return f"node{node}/process{process:03d}{suffix}"


def is_worker_log(path: Path, node: int, process: int) -> bool:
    """Whether a user log file under logs/user/<stream>/ is worker (node, process)'s."""
    return path.parent.name == f"node{node}" and path.name.startswith(f"process{process:03d}")


def new_run(root: Path, name: str) -> RunFolder:
    """A new, unique run folder: <spec name>-<UTC time>[-n]."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()  # workers run in source_directory: every path they get is absolute
    for n in range(1, 1000):
        run_id = f"{name}-{stamp}" + (f"-{n}" if n > 1 else "")
        try:
            (root / run_id).mkdir()
            return RunFolder(root / run_id)
        except FileExistsError:
            continue
    raise BackendError(f"cannot create a run folder under {root}: 999 runs of {name} started this second")


def list_runs(root: Path) -> list[RunFolder]:
    """Runs oldest first (by start time in run.json; folders without one are skipped)."""
    if not root.is_dir():
        return []
    root = root.resolve()
    found = []
    for path in root.iterdir():
        if (path / RUN_FILE).is_file():
            try:
                found.append((RunFolder(path).read().started, RunFolder(path)))
            except RecordError:
                found.append((0.0, RunFolder(path)))  # listed first; reading it says what is wrong
    return [run for _, run in sorted(found, key=lambda pair: (pair[0], pair[1].id))]


def find_run(root: Path, name: str) -> RunFolder | None:
    """A run by id, by a prefix only one run id starts with, or `latest`."""
    runs = list_runs(root)
    if name in LATEST:
        return runs[-1] if runs else None
    if not RUN_ID.match(name):
        return None  # never a path: run names become file names
    exact = [r for r in runs if r.id == name]
    if exact:
        return exact[0]
    prefixed = [r for r in runs if r.id.startswith(name)]
    if len(prefixed) > 1:
        raise Ambiguous([r.id for r in prefixed])
    return prefixed[0] if prefixed else None


class Ambiguous(RunError):
    """A prefix that more than one run id starts with (args[0]: those ids)."""


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
