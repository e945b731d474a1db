"""Where time comes from: the system in production, a clock the tests move by hand."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

FAKE_NOW = "MAILFLOW_NOW"  # the environment variable a rehearsal sets: the instant mailflow starts at


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


class ShiftedClock:
    """The wall clock moved to start at `start`: from there it runs at the real pace.

    What `MAILFLOW_NOW` gives a command: a rehearsal of a deadline sees its own instant, and what
    runs for a while (retries, a daemon under `--allow-fake-time`) still sees time pass.
    """

    def __init__(self, start: datetime, monotonic: Callable[[], float] = time.monotonic) -> None:
        if start.tzinfo is None:
            raise ValueError("ShiftedClock needs an aware datetime")
        self.start = start.astimezone(UTC)
        self._monotonic = monotonic
        self._origin = monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self._monotonic() - self._origin)


def parse_instant(text: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 instant as people write it: with an offset, or naive in `zone`, or a date alone
    (its midnight in `zone`). Raises ValueError saying what is wrong."""
    value = text.strip()
    if not value:
        raise ValueError("empty; write an ISO 8601 instant such as 2026-12-15T09:00+08:00")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 instant; write one such as 2026-12-15T09:00+08:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.astimezone(UTC)
