"""Forked helper processes (the ingest of a backlog, the sender) die with the daemon that forked them.

A child left behind by a `kill -9` would go on fetching or sending on its own, beside the
next daemon: two senders could then hand the same letters over. PR_SET_PDEATHSIG makes the
kernel kill the child when its parent dies.
"""

from __future__ import annotations

import ctypes
import os
import signal

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
