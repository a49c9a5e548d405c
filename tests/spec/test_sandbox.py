"""The template budget: hostile templates are refused before they do the work, the
deadline stops what still runs long, and ordinary templates are untouched."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from runner.spec import sandbox
from runner.spec.diagnostics import SpecError
from runner.spec.load import load_spec
from tests.conftest import BASE

HOSTILE = [
    "{{ lipsum(200000)|length }}",
    "{{ (['x'*65536]*16384)|join|length }}",
    "{{ ('a'*65536).replace('a','b'*65536) }}",
    "{{ 'a'*65536|replace('a','b'*65536) }}",
    "{{ ((((9**64)**64)**64)**64) % 7 }}",
    "{{ ([[0]*65536]*65536)|sum(start=[]) }}",
    "{{ [[1], [2]]|sum(start=[]) }}",
    "{{ ('x'*200000 + 'y'*200000)|length }}",
    "{{ (10**20000 * 10**20000) % 7 }}",
    "{{ ','.join(['x'*60000]*5) }}",
    "{{ [1]|batch(1000000000, 'x')|list|length }}",
    "{{ range(5)|slice(1000000000)|list|length }}",
    "{{ 'x'|tojson(indent=1000000000) }}",
    "{{ lipsum(1, max=10000000) }}",
    "{{ ('a'*60000).translate({97: 'b'*60000}) }}",
    "{{ 'x'|truncate(5, leeway=1000000000) }}",
    "{{ lipsum(5, n=101) }}",
    "{{ 2**70000 % 7 }}",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_templates_are_refused_at_their_position(write, template: str) -> None:
    spec = write("s.yaml", BASE + f'description: "{template}"\n')
    started = time.monotonic()
    with pytest.raises(SpecError) as info:
        load_spec(spec, environ={})
    elapsed = time.monotonic() - started
    [diag] = info.value.diagnostics
    assert diag.path == ("description",) and diag.mark.line == 19
    assert diag.message.startswith(("template blocked by the sandbox", "template error")), diag.message
    # Refused by a size check before the work, not by running into the deadline.
    assert "ran longer" not in diag.message, elapsed


def test_the_deadline_stops_templates_that_stay_within_every_size(write, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each of these is small, together they are slow: the shared deadline ends them.
    monkeypatch.setattr(sandbox, "SECONDS", 0.05)
    slow = "{{ (range(10000)|map('string')|join)|length }}"
    text = BASE.replace("error_threshold: 5", "error_threshold: 5\n      environment_variables:\n"
                        + "".join(f'        V{i}: "{slow}"\n' for i in range(400)))
    spec = write("s.yaml", text)
    with pytest.raises(SpecError) as info:
        load_spec(spec, environ={})
    assert any("ran longer than 0.05 s" in d.message for d in info.value.diagnostics)


def test_slice_is_refused_by_its_count_before_it_slices(write) -> None:
    # Jinja passes slice an evaluation context first (an async variant): the count is
    # its third argument. Refused by the count, not after yielding 262,144 slices.
    for template in ("{{ range(5)|slice(1000000000)|list }}", "{{ range(5)|slice(slices=1000000000)|list }}"):
        spec = write("s.yaml", BASE + f'description: "{template}"\n')
        with pytest.raises(SpecError) as info:
            load_spec(spec, environ={})
        assert [d.message for d in info.value.diagnostics] == ["template blocked by the sandbox: slices too large"]


class _BusyBeside(dict[str, str]):
    """An environment whose every read makes another thread burn CPU while this one
    waits: the other thread's work must not count against the templates' budget."""

    def __getitem__(self, name: str) -> str:
        def burn() -> None:
            started = time.thread_time()
            while time.thread_time() - started < 0.25:
                pass
        worker = threading.Thread(target=burn)
        worker.start()
        worker.join()
        return "x"


def test_other_threads_work_does_not_spend_the_templates_budget(write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "SECONDS", 0.1)
    spec = write("s.yaml", BASE + 'description: "{{ env.A }}{{ env.B }}"\n')
    loaded = load_spec(spec, environ=_BusyBeside())
    assert loaded.spec.description == "xx"


def test_the_timer_stops_a_step_that_never_returns_to_the_sandbox() -> None:
    env = sandbox.make_environment()
    with pytest.raises(sandbox.Exhausted, match="ran longer"):
        with sandbox.budget(env, seconds=0.05):
            while True:  # stands for a long step inside one call
                pass


# Python prints a stop dropped in a gc callback as "unraisable": here that is the point.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("thread_clock", [True, False])
def test_a_stop_lost_in_a_gc_callback_comes_again(monkeypatch: pytest.MonkeyPatch, thread_clock: bool) -> None:
    """Python drops (prints as unraisable) what a signal handler raises while a gc
    callback or a __del__ runs: the watchdog signals again until the budget closes."""
    if not thread_clock:
        monkeypatch.delattr(time, "pthread_getcpuclockid")
    env = sandbox.make_environment()
    armed: list[int] = []  # only the collection below waits (not one the watchdog's start sets off)
    swallowed: list[int] = []

    def swallow(phase: str, info: dict) -> None:  # stands for hypothesis's gc callback
        try:
            while phase == "start" and armed and not swallowed:
                pass  # the first signal arrives here, and its exception goes no further
        except sandbox.Exhausted:
            swallowed.append(1)

    import gc

    gc.callbacks.append(swallow)
    try:
        with pytest.raises(sandbox.Exhausted, match="ran longer"):
            with sandbox.budget(env, seconds=0.05):
                armed.append(1)
                gc.collect()
                while True:
                    pass
    finally:
        gc.callbacks.remove(swallow)
    assert swallowed == [1]


def test_without_a_thread_clock_the_process_timer_stops_a_step(monkeypatch: pytest.MonkeyPatch) -> None:
    # macOS has no pthread_getcpuclockid: the process's CPU timer stands in.
    monkeypatch.delattr(time, "pthread_getcpuclockid")
    env = sandbox.make_environment()
    with pytest.raises(sandbox.Exhausted, match="ran longer"):
        with sandbox.budget(env, seconds=0.05):
            while True:
                pass
    assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)


def test_the_budget_is_restored_after_rendering() -> None:
    import signal

    env = sandbox.make_environment()
    before = signal.getsignal(signal.SIGVTALRM)
    with sandbox.budget(env, seconds=5):
        pass
    assert signal.getsignal(signal.SIGVTALRM) is before
    assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)
    assert env.deadline == float("inf")


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ 'x' * 10 }}", "xxxxxxxxxx"),
    ("{{ [1, 2, 3]|join(',') }}", "1,2,3"),
    ("{{ 'a-b'.replace('-', '_') }}", "a_b"),
    ("{{ 'a-b'|replace('-', '_') }}", "a_b"),
    ("{{ range(3)|list|length }}", "3"),
    ("{{ 2**10 }}", "1024"),
    ("{{ [1, 2]|sum }}", "3"),
    ("{{ ['b', 'a']|sort|first }}", "a"),
    ("{{ env.NOPE|default('dev')|upper }}", "DEV"),
    ("{{ '-'.join(['a', 'b']) }}", "a-b"),
    ("{{ ('x' * 3) + 'y' }}", "xxxy"),
    ("{{ 2**60000 % 7 }}", "1"),  # 60,001 bits: within the 65,536 allowed
])
def test_ordinary_templates_still_work(write, template: str, expected: str) -> None:
    spec = write("s.yaml", BASE + f'description: "{template}"\n')
    assert load_spec(spec, environ={}).spec.description == expected


def test_weight_counts_shared_items_each_time_and_stops_at_the_cap() -> None:
    big = ["x" * 1000] * 1_000_000  # a million references to one string
    assert sandbox.weight(big, cap=10_000) <= 10_000 + 1000 + 1
    assert sandbox.weight({"a": [1, "bc"]}) == 1 + 1 + 1 + 1 + 2
