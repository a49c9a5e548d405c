"""The progress bar as a person sees it: `runner apply` in a real terminal (tmux) at 80
and 120 columns, held partway by the entry script, then let finish. Each screen is
kept as golden text under tests/cli/golden/ with what changes from run to run (rates,
times, the run id, the project's path) replaced by placeholders; the bar, the counts
and what is dropped at 80 columns are compared as they are.

tmux is required: `make test` installs it where it is missing. Only RUNNER_SKIP_TMUX=1
(set by hand, never in CI) skips these tests. Regenerate the golden text with
RUNNER_UPDATE_GOLDEN=1, then read the diff."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.local.helpers import make_files, write_spec

ROOT = Path(__file__).parents[2]
GOLDEN = Path(__file__).parent / "golden"
RED = "\x1b[31m"

if shutil.which("tmux") is None and not os.environ.get("RUNNER_SKIP_TMUX"):
    raise RuntimeError("tmux is not installed: `make test` installs it (apt-get install tmux); "
                       "RUNNER_SKIP_TMUX=1 skips these tests on a machine without it")
pytestmark = pytest.mark.skipif(bool(os.environ.get("RUNNER_SKIP_TMUX")), reason="RUNNER_SKIP_TMUX is set")


class Pane:
    """One tmux session, on a server of its own (nothing shared with a user's tmux)."""

    def __init__(self, command: str, width: int, cwd: Path) -> None:
        self.socket = f"runner-test-{uuid.uuid4().hex[:12]}"
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX", "NO_COLOR")}
        # UTF-8 whatever the machine's locale (the bar's characters), and a server of its own
        env.update(PYTHONPATH=str(ROOT), TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        self._tmux("new-session", "-d", "-x", str(width), "-y", "24", "-c", str(cwd), command, env=env)
        self.path = self._tmux("display-message", "-p", "#{socket_path}").strip()

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(["tmux", "-u", "-L", self.socket, *args], capture_output=True, text=True, timeout=30,
                              env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def capture(self, escapes: bool = False) -> str:
        return self._tmux("capture-pane", "-p", *(["-e"] if escapes else []))

    def wait_for(self, shown: Callable[[str], bool], what: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.capture()
            if shown(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"the pane never showed {what}; it shows:\n{self.capture()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)
        Path(self.path).unlink(missing_ok=True)  # tmux leaves its socket file behind


@pytest.fixture
def pane() -> Iterator[Callable[[str, int, Path], Pane]]:
    opened: list[Pane] = []

    def open_pane(command: str, width: int, cwd: Path) -> Pane:
        opened.append(Pane(command, width, cwd))
        return opened[-1]

    yield open_pane
    for each in opened:
        each.close()


def normalise(screen: str, project: Path) -> str:
    """The screen with what differs between runs replaced; lines keep their ends."""
    text = screen.replace(str(project), "<project>")
    text = re.sub(r"job-\d{8}-\d{6}", "job-YYYYMMDD-HHMMSS", text)  # as long as the id: lines wrap alike
    text = re.sub(r"\d+(\.\d+)? (items|mini-batches)/s", r"<rate> \2/s", text)
    text = re.sub(r"ETA (\d+:)?\d+:\d\d|ETA --:--", "ETA <eta>", text)
    text = re.sub(r"elapsed (\d+:)?\d+:\d\d", "elapsed <time>", text)
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines()) + "\n"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("RUNNER_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), \
        f"{path} differs (RUNNER_UPDATE_GOLDEN=1 regenerates it); the screen:\n{text}"


def _project(root: Path, **env: str) -> None:
    make_files(root / "data", 42)
    write_spec(root, script="gated.py", mini_batch_size=3, env={"GATE": "30", **env}, run_max_try=1)


def _apply_command() -> str:
    return f"{sys.executable} -m runner apply spec.yaml; echo \"[exit $?]\"; sleep 600"


@pytest.mark.parametrize("width", [80, 120])
def test_progress_while_running_and_when_done(tmp_path: Path, pane: Callable[[str, int, Path], Pane],
                                              width: int) -> None:
    _project(tmp_path)
    terminal = pane(_apply_command(), width, tmp_path)
    # Files 0-29 (mini-batches 0-9) finish; the rest wait for `release`.
    running = terminal.wait_for(lambda s: "10/14 mini-batches" in s and "30/42 items" in s, "10 of 14 done")
    lines = running.splitlines()
    assert all(len(line) <= width for line in lines)
    bar = next(line for line in lines if line.startswith("score "))  # under the run's name and commands
    assert bar.count("━") + bar.count("─") + bar.count("╸") >= width // 2  # a real bar
    assert "items/s" in running and "mini-batches/s" in running and "ETA" in running
    check_golden(f"progress_{width}_running.txt", normalise(running, tmp_path))
    assert RED not in terminal.capture(escapes=True)  # nothing failed: no red
    (tmp_path / "markers" / "release").touch()
    done = terminal.wait_for(lambda s: "[exit " in s, "the end of the run")
    check_golden(f"progress_{width}_done.txt", normalise(done, tmp_path))
    assert RED not in terminal.capture(escapes=True)


def test_the_bar_turns_red_when_an_item_fails(pane: Callable[[str, int, Path], Pane]) -> None:
    # A short project path: the outcome names failed_items.jsonl in the run folder on a
    # line of its own, which fits 80 columns (and is normalised) only so.
    with tempfile.TemporaryDirectory(prefix="r", dir="/tmp") as short:
        project = Path(short)
        _project(project, FAULT_ON="f0004.txt", GATE="1000")  # within the thresholds: the run succeeds
        terminal = pane(_apply_command(), 80, project)
        done = terminal.wait_for(lambda s: "[exit " in s, "the end of the run")
        check_golden("progress_80_failed.txt", normalise(done, project))
    bar_line = next(line for line in terminal.capture(escapes=True).splitlines() if "━" in line)
    assert RED in bar_line.split("━")[0], repr(bar_line)  # the fill is red
