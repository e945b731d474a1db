"""Where time comes from: the system in production, a clock the tests move by hand."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


def nap(seconds: float, should_stop: Callable[[], bool], sleep: Callable[[float], None] = time.sleep) -> None:
    """Sleep `seconds` in half-second slices, returning early once `should_stop()` is true.

    Counts the slices rather than reading a clock, so a test's fake `sleep` advances it.
    """
    left = seconds
    while left > 0 and not should_stop():
        step = min(0.5, left)
        sleep(step)
        left -= step


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)
