"""How big, deep and slow a message may be, checked by a cheap byte scan before the real parse."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from mailflow.errors import ParseError, ParseTimeout
from mailflow.reasons import Reason

_MB = 1024 * 1024
_KB = 1024


@dataclass(frozen=True)
class ParseLimits:
    """Upper bounds for one message; anything beyond them is refused with a ParseError."""

    max_message_bytes: int = 30 * _MB
    max_header_bytes: int = 256 * _KB
    max_parts: int = 500
    max_depth: int = 20  # nested multiparts
    timeout_seconds: float = 10.0


# Searched in a lower-cased copy, so plain bytes.find does the scanning; base64 never holds ":" or "--".
_CONTENT_TYPE_LINE = b"\ncontent-type:"
_BOUNDARY_VALUE = re.compile(rb'[ \t]*=[ \t]*(?:"([^"\r\n]*)"|([^\s;"]+))')


def precheck(raw: bytes, limits: ParseLimits) -> None:
    """Refuse a message that is over a limit, judged from its bytes alone, before any parsing."""
    if len(raw) > limits.max_message_bytes:
        raise ParseError(Reason("too_large", {"size_mb": _mb(len(raw)), "limit_mb": _mb(limits.max_message_bytes)}))
    if b"\n" not in raw:
        raw = raw.replace(b"\r", b"\n")  # classic Mac line endings: the scans below look for LF
    header = header_size(raw, limits.max_header_bytes)
    if header > limits.max_header_bytes:
        params = {"size_kb": _kb(header), "limit_kb": _kb(limits.max_header_bytes)}
        raise ParseError(Reason("header_too_large", params))
    lowered = raw.lower()
    parts = lowered.count(_CONTENT_TYPE_LINE) + lowered.startswith(_CONTENT_TYPE_LINE[1:])
    if parts > limits.max_parts:
        raise ParseError(Reason("too_many_parts", {"parts": parts, "limit": limits.max_parts}))
    boundaries = _boundaries(raw, lowered)
    # Nesting never goes deeper than the boundaries declared: most mail needs no delimiter scan.
    depth = _depth(raw, boundaries) if len(boundaries) > limits.max_depth else 0
    if depth > limits.max_depth:
        raise ParseError(Reason("too_deep", {"depth": depth, "limit": limits.max_depth}))


def header_size(raw: bytes, limit: int) -> int:
    """Bytes before the first blank line; the search stops just past `limit`, so a result > limit means 'too big'."""
    window = limit + 4
    lf = raw.find(b"\n\n", 0, window)
    crlf = raw.find(b"\n\r\n", 0, lf if lf >= 0 else window)  # only an earlier one matters
    ends = [end for end in (lf, crlf) if end >= 0]
    if ends:
        return min(ends) + 1
    return min(len(raw), window)


def multipart_depth(raw: bytes) -> int:
    """How deeply multiparts nest, following the declared boundaries through the delimiter lines.

    Counting Content-Type lines would overstate a flat message with many parts; following which
    boundary opens inside which gives the nesting the parser will really build.
    """
    return _depth(raw, _boundaries(raw, raw.lower()))


def _depth(raw: bytes, boundaries: set[bytes]) -> int:
    if not boundaries:
        return 0
    open_boundaries: list[bytes] = []
    deepest = 0
    for line in _delimiter_lines(raw):
        if line in boundaries:
            if line in open_boundaries:
                del open_boundaries[open_boundaries.index(line) + 1 :]  # a sibling part: inner ones ended
            else:
                open_boundaries.append(line)
                deepest = max(deepest, len(open_boundaries))
        elif line.endswith(b"--") and line[:-2] in open_boundaries:
            del open_boundaries[open_boundaries.index(line[:-2]) :]
    return deepest


def _boundaries(raw: bytes, lowered: bytes) -> set[bytes]:
    found = set()
    at = lowered.find(b"boundary")
    while at >= 0:
        match = _BOUNDARY_VALUE.match(raw, at + 8)  # lower() keeps offsets; the value keeps its case
        if match:
            found.add(match.group(1) if match.group(1) is not None else match.group(2))
        at = lowered.find(b"boundary", at + 8)
    return found


def _delimiter_lines(raw: bytes) -> Iterator[bytes]:
    """What follows "--" on each line that starts with it, trailing whitespace removed."""
    at = raw.find(b"\n--")
    while at >= 0:
        end = raw.find(b"\n", at + 1)
        yield raw[at + 3 : end if end >= 0 else len(raw)].rstrip()
        at = end if end >= 0 and raw.startswith(b"--", end + 1) else raw.find(b"\n--", at + 1)


def _mb(size: int) -> float:
    return round(size / _MB, 1)


def _kb(size: int) -> int:
    return -(-size // _KB)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise ParseTimeout inside the block once it has run for `seconds`.

    Uses SIGALRM with ITIMER_REAL, so it only works in the main thread: Python lets no other thread
    install signal handlers. Off the main thread (and where setitimer is missing) it does nothing;
    callers that parse in worker threads rely on the byte limits alone. A timer already running
    (an outer deadline) is paused, honoured if it is due first, and re-armed with its remaining time.
    """
    if seconds <= 0 or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return
    alarm = _Alarm(seconds)
    try:
        alarm.arm()  # inside the try: an alarm due at once must still end in restore()
        try:
            yield
        finally:
            alarm.disarm()
    finally:
        alarm.restore()


RETRY_SECONDS = 0.05


class _Alarm:
    """One armed deadline, and the handler and timer it displaced so they can be put back."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends_at = time.monotonic() + seconds
        self.disarmed = False
        self.outer_first = False
        self.outer_fired = False
        self.outer_delay, self.outer_interval = signal.getitimer(signal.ITIMER_REAL)
        self.outer_ends_at = time.monotonic() + self.outer_delay
        self.previous = signal.getsignal(signal.SIGALRM)

    def arm(self) -> None:
        signal.signal(signal.SIGALRM, self.on_alarm)
        self.outer_first = 0 < self.outer_delay < self.seconds
        signal.setitimer(signal.ITIMER_REAL, self.outer_delay if self.outer_first else self.seconds)

    def on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self.disarmed:
            return  # fired as the block finished; raising now would interrupt the restore
        if self.outer_first and not self.outer_fired:  # the timer was armed for the outer deadline
            self.outer_fired = True
            if callable(self.previous):
                self.previous(signum, frame)  # the outer deadline came due first: it may raise
            remaining = self.ends_at - time.monotonic()
            if remaining > 0:
                signal.setitimer(signal.ITIMER_REAL, remaining)
                return
        # A handler runs wherever the interpreter happens to be; inside a finaliser (a
        # weakref callback, a __del__) its exception is printed and dropped. Fire again
        # shortly until the block ends, so that the deadline holds all the same.
        signal.setitimer(signal.ITIMER_REAL, RETRY_SECONDS)
        raise ParseTimeout(Reason("parse_timeout", {"seconds": self.seconds}))

    def disarm(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        self.disarmed = True

    def restore(self) -> None:
        self.disarm()
        signal.signal(signal.SIGALRM, self.previous if self.previous is not None else signal.SIG_DFL)
        if self.outer_fired:
            if self.outer_interval > 0:
                signal.setitimer(signal.ITIMER_REAL, self.outer_interval, self.outer_interval)
        elif self.outer_delay > 0:
            remaining = self.outer_ends_at - time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-6), self.outer_interval)
