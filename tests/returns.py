"""A call that must return: the test fails, instead of hanging, when it does not."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def returns_within(seconds: float, call: Callable[[], T]) -> T:
    """`call()`'s result; fails the test when it has not returned within `seconds` (the call goes on
    in a daemon thread, which the end of the test run takes with it)."""
    result: list[T] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"still running after {seconds:g} s"
    return result[0]
