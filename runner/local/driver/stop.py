"""Ctrl-C and SIGTERM while a run's steps run: a flag the engine's loop reads."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any


class Stop:
    """Ctrl-C and SIGTERM set a flag the loop reads, so no write is cut in half."""

    def __init__(self, canceled: Callable[[], bool]) -> None:
        self.requested = False
        self.canceled = canceled  # whether the signal was `runner cancel`'s, not a Ctrl-C
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Stop:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop waiting
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
