"""Forked helper processes (the ingest of a backlog, the sender) die with the daemon that forked them.

A child left behind by a `kill -9` would go on fetching or sending on its own, beside the
next daemon: two senders could then hand the same letters over. PR_SET_PDEATHSIG makes the
kernel kill the child when its parent dies.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import NoReturn

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a freshly forked child: be SIGKILLed when the parent dies (Linux; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the parent's exit ends the pass anyway
        pass
    if os.getppid() == 1:  # the parent died before the line above
        os._exit(1)


def live_and_leave(body: Callable[[], None], log: logging.Logger, pipe: Connection) -> NoReturn:
    """The whole life of a forked child: die with the parent, run `body`, log what it raised,
    close `pipe` (the parent's EOF), and leave with os._exit, so that no finaliser of the
    parent's objects that came with the fork (a database connection, an IMAP session) runs
    twice."""
    code = 0
    try:
        die_with_parent()
        body()
    except BaseException:  # noqa: BLE001 - report, then leave without running finalisers
        log.exception("%s failed", multiprocessing.current_process().name)
        code = 1
    finally:
        pipe.close()
        os._exit(code)
