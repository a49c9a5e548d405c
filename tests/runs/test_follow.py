"""Following files as they grow (runner/runs/follow.py): the test acts between passes
through the `sleep` seam, so every case is one exact order of events, not a race."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runner.runs.follow import tail


def _steps(*actions: Callable[[], None]) -> tuple[Callable[[float], None], Callable[[], bool]]:
    """A `sleep` that runs the next action each pass, and an `ended` true once all ran."""
    left = list(actions)

    def sleep(_: float) -> None:
        left.pop(0)()

    return sleep, lambda: not left


def _append(path: Path, text: str) -> Callable[[], None]:
    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)

    return write


def test_files_that_appear_later_and_half_lines_are_shown_whole(tmp_path: Path) -> None:
    driver, worker = tmp_path / "driver.log", tmp_path / "user" / "w0.txt"
    driver.write_text("started\n")
    sleep, ended = _steps(_append(worker, "half a li"), _append(worker, "ne\nnext\n"),
                          _append(driver, "step succeeded\nno newline yet"))
    got = list(tail(lambda: sorted(tmp_path.rglob("*.*")), ended, sleep=sleep))
    assert got == [(str(driver), "started\n"), (str(worker), "half a line\nnext\n"),
                   (str(driver), "step succeeded\nno newline yet")]  # the end reads to the end of each file


def test_a_run_that_already_ended_shows_everything_once(tmp_path: Path) -> None:
    log = tmp_path / "driver.log"
    log.write_text("a\nb")
    assert list(tail(lambda: [log], lambda: True, sleep=lambda _: None)) == [(str(log), "a\nb")]


def _replace(path: Path, text: str) -> None:
    path.write_text(text)


def test_a_file_cut_back_is_shown_again_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "driver.log"
    log.write_text("first version, long\n")
    sleep, ended = _steps(lambda: _replace(log, "new\n"))
    assert [text for _, text in tail(lambda: [log], ended, sleep=sleep)] == ["first version, long\n", "new\n"]


def test_a_file_listed_then_gone_is_skipped(tmp_path: Path) -> None:
    log = tmp_path / "driver.log"
    log.write_text("x\n")
    sleep, ended = _steps(log.unlink)
    assert list(tail(lambda: [log], ended, sleep=sleep)) == [(str(log), "x\n")]


def test_bytes_of_a_character_split_across_passes_decode_whole(tmp_path: Path) -> None:
    log = tmp_path / "driver.log"
    encoded = "naïve\n".encode()
    log.write_bytes(encoded[:3])  # cut inside the two bytes of 'ï'

    def rest() -> None:
        with open(log, "ab") as handle:
            handle.write(encoded[3:])

    sleep, ended = _steps(rest)
    assert "".join(text for _, text in tail(lambda: [log], ended, sleep=sleep)) == "naïve\n"
