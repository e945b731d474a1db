"""When the database or the data folder fails, not the message: recognise it, and wait it out.

A locked SQLite file, a full disk, a read-only data folder or a PostgreSQL restart says
nothing about the mail in hand. Such a failure must not be counted against a message, must
not turn into a traceback a second, and must end by itself: the daemon waits with backoff
and says once that it waits and once that it resumed (`Outage`).
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import exc as sa_exc

from mailflow.errors import StoreError

log = logging.getLogger("mailflow.store")

# What an operating system says when the disk, not the data, is the problem.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})


class StoreUnavailable(StoreError):
    """The database or the data folder cannot be used now; nothing is wrong with the mail."""


def fault_of(error: BaseException) -> str | None:
    """A one-line description when `error` (or what caused it) is the store's, not the mail's."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        detail = _describe(current)
        if detail is not None:
            return detail
        current = current.__cause__ or current.__context__
    return None


def _describe(error: BaseException) -> str | None:
    if isinstance(error, StoreUnavailable):
        return str(error)
    if isinstance(error, sa_exc.DBAPIError) and (
        error.connection_invalidated or isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
    ):
        return _first_line(error.orig) if error.orig is not None else _first_line(error)
    if isinstance(error, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return _first_line(error)
    if isinstance(error, sqlite3.OperationalError):
        return _first_line(error)
    if isinstance(error, OSError) and error.errno in _DISK_ERRNOS:
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror or error}{where}"
    return None


def data_probe(folder: Path, *, min_free_bytes: int = 1 << 20) -> str | None:
    """Why the data folder cannot take new mail now (read-only, full), or None.

    A folder not made yet is judged by the nearest one that exists: the first write makes it.
    """
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    try:
        if not os.access(folder, os.W_OK):  # EROFS even for root on a read-only mount
            return f"{folder} is not writable (read-only file system or permissions)"
        stats = os.statvfs(folder)
    except OSError as exc:
        return f"{folder}: {exc.strerror or exc}"
    if stats.f_bavail * stats.f_frsize < min_free_bytes:
        return f"no space left on the device of {folder}"
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


class Outage:
    """Whether the store works, with one log line at each change and a backoff while it does not."""

    def __init__(self, max_seconds: float, *, who: str = "", monotonic: Callable[[], float] = time.monotonic) -> None:
        self.max_seconds = max_seconds
        self.who = who  # whose log lines these are, when not the daemon's (the sender's)
        self.detail: str | None = None
        self.failures = 0
        self._since = 0.0
        self._monotonic = monotonic

    @property
    def active(self) -> bool:
        return self.detail is not None

    def failed(self, detail: str) -> float:
        """Record a failure; returns how long to wait before the next try (1, 2, 4 … s, up to the max)."""
        if self.detail is None:
            self._since = self._monotonic()
            log.error("%sdatabase or data folder unavailable, waiting to retry: %s", self._who(), detail)
        elif detail != self.detail:
            log.error("%sdatabase or data folder still unavailable, now: %s", self._who(), detail)
        self.detail = detail
        self.failures += 1
        return float(min(2 ** (self.failures - 1), self.max_seconds))

    def recovered(self) -> None:
        if self.detail is not None:
            waited = self._monotonic() - self._since
            log.warning(
                "%sdatabase and data folder available again after %.0f s (was: %s)", self._who(), waited, self.detail
            )
        self.detail, self.failures = None, 0

    def _who(self) -> str:
        return f"{self.who}: " if self.who else ""
