"""The Jinja sandbox spec templates render in: immutable, strict about undefined names,
and bounded, so a spec from a stranger cannot run away with time or memory.

Jinja's own sandbox stops attribute tricks, not work: `lipsum(200000)`, a list of 16384
64 KiB strings joined, `'a'*65536` with every `a` replaced by 65536 `b`s, a power tower
of nines, or `sum` over lists each take seconds to minutes or gigabytes. So every
operator, call and filter goes through a budget: the size a result would have is
checked before the work is done (caps below), every step checks a deadline, and a
timer stops what still runs past it. Imported only when a spec has a template.
"""

from __future__ import annotations

import functools
import math
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from collections.abc import Mapping as AbcMapping
from contextlib import contextmanager
from typing import Any

from jinja2 import StrictUndefined, TemplateError, UndefinedError, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from runner.spec.diagnostics import did_you_mean
from runner.spec.limits import MAX_BITS, MAX_COUNT, MAX_INDENT, MAX_WEIGHT, Exhausted, weight
from runner.spec.limits import check_weight as _check_weight
from runner.spec.templating import _MAX_OUTPUT, bindings
from runner.spec.textbounds import (
    BoundedCodeGenerator,
    bounded_format,
    bounded_output,
    concat,
    do_join,
    join_items,
)

# A spec value is an expression, perhaps with a condition: loops, macros and assignments
# could run unbounded, and nothing in a spec needs them.
_STATEMENTS = (nodes.For, nodes.Macro, nodes.CallBlock, nodes.Assign, nodes.AssignBlock,
               nodes.FilterBlock, nodes.With, nodes.Import, nodes.FromImport, nodes.Include,
               nodes.Extends, nodes.Block)
# Calls whose size argument could allocate gigabytes before any result check.
_PADDING_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs", "format", "format_map", "translate"}
_PADDING_FILTERS = ("center", "format", "indent", "wordwrap", "filesizeformat")
SECONDS = 1.0  # CPU seconds, all of one spec's templates together (sizes: limits.py)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, bounded in time and size."""

    intercepted_binops = frozenset(["*", "**", "%", "+", "//"])
    code_generator_class = BoundedCodeGenerator  # `~` evaluated operand by operand

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.deadline = float("inf")
        self.seconds = SECONDS
        for name in _PADDING_FILTERS:
            self.filters.pop(name, None)
        self.filters["join"] = do_join
        for name, func in list(self.filters.items()):
            self.filters[name] = self._bounded_filter(name, func)
        self.globals["range"] = self._range
        self.globals["lipsum"] = self._lipsum(self.globals["lipsum"])  # type: ignore[arg-type]

    def tick(self) -> None:
        if time.thread_time() > self.deadline:
            raise Exhausted(f"the spec's templates ran longer than {self.seconds:g} s")

    def _range(self, *args: int) -> range:
        span = range(*args)
        if len(span) > MAX_COUNT:
            raise Exhausted(f"range larger than {MAX_COUNT}")
        return span

    def _lipsum(self, lipsum: Callable[..., str]) -> Callable[..., str]:
        def bounded(*args: Any, **kwargs: Any) -> str:  # lipsum(n=5, html=True, min=20, max=100)
            if any(isinstance(v, int) and v > 100 for v in (*args, *kwargs.values())):
                raise Exhausted("lipsum takes at most 100 paragraphs of at most 100 words")
            return lipsum(*args, **kwargs)
        return bounded

    def _bounded_filter(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        check = _FILTER_CHECKS.get(name)

        @functools.wraps(func)  # keeps Jinja's pass_context / pass_environment marks
        def bounded(*args: Any, **kwargs: Any) -> Any:
            self.tick()
            for arg in (*args, *kwargs.values()):
                _check_weight(arg, f"the input of filter '{name}'")
            if check is not None:
                check(args, kwargs)
            return self._bounded_result(func(*args, **kwargs), f"filter '{name}'")
        return bounded

    def _bounded_result(self, result: Any, what: str) -> Any:
        if isinstance(result, Iterator):
            return self._bounded_iter(result, what)
        return _check_weight(result, f"the result of {what}")

    def _bounded_iter(self, items: Iterator[Any], what: str) -> Iterator[Any]:
        # Whatever consumes it (a list, a sort) holds what it yields: count that, not items only.
        total = 0
        for count, item in enumerate(items):
            self.tick()
            total += weight(item)
            if count > MAX_WEIGHT or total > MAX_WEIGHT:
                raise Exhausted(f"{what} would yield more than {MAX_WEIGHT} characters or items")
            yield item

    def bounded_concat(self, *operands: Callable[[], Any]) -> str:
        self.tick()
        return concat(*operands)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is not None:  # str.format or format_map of a str
            return bounded_format(self, value.__self__, value.__name__ == "format_map")
        return None

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, (str, bytes)) and attr in _PADDING_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.tick()
        return super().getitem(obj, argument)

    def call_unop(self, context: Context, operator: str, arg: Any) -> Any:
        self.tick()
        return super().call_unop(context, operator, arg)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        _check_binop(operator, left, right)
        return _check_weight(super().call_binop(context, operator, left, right), f"the result of '{operator}'")

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        __self.tick()
        for arg in (*args, *kwargs.values()):
            _check_weight(arg, "an argument")
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and getattr(__obj, "__name__", "") == "join" and len(args) == 1 and not kwargs:
            return join_items(__self._bounded_iter(iter(args[0]), "join()"), owner, "a join() result")
        if isinstance(owner, (str, bytes)):
            _check_method(owner, getattr(__obj, "__name__", ""), args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        return __self._bounded_result(result, "a call")


def _bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "%" and isinstance(left, (str, bytes)):
        raise SecurityError("%-formatting of strings is not allowed in templates")
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        if right * math.log2(abs(left)) > MAX_BITS:  # the result's bits, within one
            raise Exhausted(f"a power larger than {MAX_BITS} bits")
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int):
                if weight(seq) * max(times, 0) > MAX_WEIGHT:
                    raise Exhausted(f"a repetition larger than {MAX_WEIGHT} characters or items")
        if isinstance(left, int) and isinstance(right, int) and _bits(left) + _bits(right) > MAX_BITS:
            raise Exhausted(f"a product larger than {MAX_BITS} bits")
    if operator == "+" and weight(left) + weight(right) > MAX_WEIGHT:
        raise Exhausted(f"a value larger than {MAX_WEIGHT} characters or items")


def _replaced_size(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    if not isinstance(text, (str, bytes)) or not isinstance(old, type(text)) or not isinstance(new, type(text)):
        return 0
    hits = len(text) + 1 if not old else text.count(old)  # type: ignore[arg-type]
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * len(new)


def _check_method(owner: str | bytes, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if name == "replace" and _replaced_size(owner, *args, **kwargs) > MAX_WEIGHT:
        raise Exhausted(f"a replace() result larger than {MAX_WEIGHT} characters")


def _check_replace(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    # replace(eval_ctx, s, old, new, count=None)
    count = args[4] if len(args) > 4 else kwargs.get("count")
    size = _replaced_size(args[1], args[2], args[3], -1 if count is None else count) if len(args) >= 4 else 0
    if size > MAX_WEIGHT:
        raise Exhausted(f"a replace result larger than {MAX_WEIGHT} characters")


def _check_sum(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    # sum(env, iterable, attribute=None, start=0): adding lists or strings is quadratic.
    start = args[3] if len(args) > 3 else kwargs.get("start", 0)
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        raise SecurityError("sum adds numbers only in templates (start must be a number)")


def _check_counts(*positions: tuple[int, str]) -> Callable[[tuple[Any, ...], dict[str, Any]], None]:
    def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        for index, name in positions:
            value = args[index] if len(args) > index else kwargs.get(name)
            if isinstance(value, int) and abs(value) > (MAX_INDENT if name == "indent" else MAX_COUNT):
                raise Exhausted(f"{name} too large")
    return check


_FILTER_CHECKS: dict[str, Callable[[tuple[Any, ...], dict[str, Any]], None]] = {
    "replace": _check_replace,
    "sum": _check_sum,
    "batch": _check_counts((1, "linecount")),
    # slice is an async variant: Jinja passes it an evaluation context before its value.
    "slice": _check_counts((2, "slices")),
    "tojson": _check_counts((2, "indent")),
    "truncate": _check_counts((5, "leeway")),
}


def make_environment() -> _Sandbox:
    return _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@contextmanager
def budget(sandbox: _Sandbox, seconds: float | None = None) -> Iterator[None]:
    """Every template of one spec shares `seconds` (SECONDS) of CPU time: a machine busy
    with other work must not fail a spec that renders in milliseconds. The clock is the
    rendering thread's own: process time would count other threads' work (a test run's
    helpers, a server embedding the loader) against the spec. Each sandbox step checks
    the deadline; a watchdog (main thread only: signals go there) stops a step that runs
    on past it."""
    seconds = SECONDS if seconds is None else seconds
    sandbox.seconds = seconds
    sandbox.deadline = time.thread_time() + seconds
    watchdog: _Watchdog | None = None
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        def expire(signum: int, frame: Any) -> None:
            # A signal sent just before the budget closed may run its handler after (in
            # stop(), or between two specs): only an open budget is exhausted by it.
            if sandbox.deadline != float("inf"):
                raise Exhausted(f"the spec's templates ran longer than {seconds:g} s")
        previous = signal.signal(signal.SIGVTALRM, expire)
        watchdog = _Watchdog(seconds + 0.25)
    try:
        yield
    finally:
        sandbox.deadline = float("inf")
        if watchdog is not None:
            try:
                watchdog.stop()
            finally:  # None: the handler was not set from Python (the default's stands)
                signal.signal(signal.SIGVTALRM, signal.SIG_DFL if previous is None else previous)


class _Watchdog:
    """Signals the thread that made it once that thread has used `seconds` of its own CPU
    time, and again every AGAIN seconds of it until stopped: an exception the handler
    raises while Python runs a gc callback or a __del__ is printed and dropped, not raised
    in the template. A process-wide timer (ITIMER_VIRTUAL) would fire early while other
    threads work."""

    AGAIN = 0.25

    def __init__(self, seconds: float) -> None:
        self._target = threading.get_ident()
        self._armed = True
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        if not hasattr(time, "pthread_getcpuclockid"):  # macOS: no other thread's clock to read
            signal.setitimer(signal.ITIMER_VIRTUAL, seconds, self.AGAIN)  # the process's: other threads count
            return
        self._clock = time.pthread_getcpuclockid(self._target)
        self._limit = time.clock_gettime(self._clock) + seconds
        self._thread = threading.Thread(target=self._watch, name="template-watchdog", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        # A thread's CPU time grows no faster than the wall clock, so waiting for the
        # time left is never late and wakes rarely.
        while not self._stopped.wait(max(self._limit - time.clock_gettime(self._clock), 0.005)):
            if time.clock_gettime(self._clock) >= self._limit:
                with self._lock:
                    if self._armed:
                        signal.pthread_kill(self._target, signal.SIGVTALRM)
                self._limit = time.clock_gettime(self._clock) + self.AGAIN

    def stop(self) -> None:
        # Disarmed under the lock, so no signal is sent once the handler is put back.
        with self._lock:
            self._armed = False
        self._stopped.set()
        if self._thread is None:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        else:
            self._thread.join()


def render_one(sandbox: _Sandbox, text: str, env: AbcMapping[str, str]) -> str:
    # Set the bindings aside so Jinja never sees their `{{ }}`.
    found = [text[start:end] for start, end in bindings(text)]
    masked = text
    for index, binding in enumerate(found):
        masked = masked.replace(binding, f"\x00{index}\x00", 1)
    tree = sandbox.parse(masked)
    if any(True for _ in tree.find_all(_STATEMENTS)):
        raise SecurityError("loops, macros, blocks and assignments are not allowed in spec templates; "
                            "use an expression, optionally with {% if %}")
    pieces = sandbox.from_string(tree).generate(env=env)
    rendered = bounded_output(pieces, _MAX_OUTPUT, "the template's output")
    for index, binding in enumerate(found):
        rendered = rendered.replace(f"\x00{index}\x00", binding)
    return rendered


def _unknown_name_hint(message: str, sandbox: _Sandbox | None) -> str:
    """"; did you mean 'lower'?" for Jinja's "No filter named 'lowr'." (or test)."""
    for kind, known in (("filter", sandbox.filters if sandbox else {}), ("test", sandbox.tests if sandbox else {})):
        prefix = f"No {kind} named '"
        if message.startswith(prefix) and message.endswith("'."):
            return did_you_mean(message[len(prefix):-2], known)
    return ""


def explain(exc: BaseException, sandbox: _Sandbox | None = None) -> str:
    if isinstance(exc, SecurityError):
        return f"template blocked by the sandbox: {exc}"
    if isinstance(exc, UndefinedError):
        missing = re.search(r"_Env object' has no attribute '([^']+)'", str(exc))
        what = f"environment variable '{missing.group(1)}' is not set" if missing else str(exc)
        return f"template error: {what} (use `| default(...)` for optional values)"
    if isinstance(exc, TemplateSyntaxError):
        hint = _unknown_name_hint(exc.message or "", sandbox)
        return f"template syntax error: {(exc.message or '').removesuffix('.') if hint else exc.message}{hint}"
    if isinstance(exc, RecursionError):
        return "template error: nested too deeply"
    if isinstance(exc, MemoryError):
        return "template blocked by the sandbox: out of memory"
    if isinstance(exc, TemplateError):
        return f"template error: {exc}"
    return f"template error: {type(exc).__name__}: {exc}" if str(exc) else f"template error: {type(exc).__name__}"
