"""What became of the letters a dead sender held: a small journal that outlives it.

After a crash the outbox knows only that some letters were being sent: their outcomes are
recorded in batches, a commit every few dozen letters. The journal in the data folder tells
the next start which of them may be resent, which were sent, and which nobody can tell about:

    released <id> <id> …  the dispatcher hands these letters to the connections; written and
                          synced to disk before any of them may start
    <id>                  this letter's final dot is about to be written (the SMTP transport)
    sent <id>             the server accepted this letter

After `kill -9` the journal is read as written (the kernel's page cache survives a killed
process): a letter sent is recorded as sent, a letter whose final dot may have left and whose
answer never came is `ambiguous` (at most one per connection), and every other one never reached
the server (which drops a transaction whose dot never came) and is simply sent again.

A power cut may lose every line not yet synced. So the journal opens with the id of the boot
that wrote it, and after a reboot only what was synced counts: a letter never released was never
started and is sent again, a letter with its `sent` line was sent, and every other released one is
ambiguous. Each release syncs the lines written before it, so those are few (see `dispatch`).
A journal from before releases were written (its first line `boot …`) tells nothing after a
reboot, and one that is missing or cannot be read tells nothing at all: every letter in hand is
then ambiguous.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
HANDOVER_JOURNAL = "outbox-handover.journal"  # in the data folder
_HEADER = "handover 2 boot "  # this format; a journal whose first line is `boot …` is the one before


def boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""  # no way to tell a reboot: only the synced lines are ever believed


class Fate(StrEnum):
    """What the next start does with a letter a dead sender held."""

    SENT = "sent"  # the server accepted it
    AGAIN = "again"  # it never reached the server: send it again
    AMBIGUOUS = "ambiguous"  # it may have arrived: a person decides


@dataclass(frozen=True)
class Handover:
    """What a journal tells; `released` is None when it kept no releases (the old format)."""

    same_boot: bool
    released: frozenset[str] | None
    dotted: frozenset[str]
    sent: frozenset[str]

    def fate(self, message_id: str) -> Fate:
        message_id = _word(message_id)
        if message_id in self.sent:
            return Fate.SENT  # written only once the server said so
        if self.same_boot:
            return Fate.AMBIGUOUS if message_id in self.dotted else Fate.AGAIN
        if self.released is None or message_id in self.released:
            return Fate.AMBIGUOUS
        return Fate.AGAIN  # not released before the power went: it never started


class HandoverJournal:
    """Appends what happens to each letter handed over, since the last `clear`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0

    def release(self, message_ids: Iterable[str]) -> None:
        """Before these letters may start: written and synced (with every line before it).
        Raises OSError when the journal cannot be written; then the letters must not start."""
        fd = self._open()
        os.write(fd, ("released " + " ".join(_word(m) for m in message_ids) + "\n").encode())
        os.fsync(fd)

    def note(self, message_id: str) -> None:
        """Called just before the final dot; raises OSError when the journal cannot be written
        (then the dot is not sent, and the letter is tried again later)."""
        os.write(self._open(), (_word(message_id) + "\n").encode())

    def sent(self, message_id: str) -> None:
        """The server accepted the letter (synced by the next release). Never raises: the line
        only spares a person a question after a crash."""
        try:
            os.write(self._open(), f"sent {_word(message_id)}\n".encode())
        except OSError:
            pass

    def read(self) -> Handover | None:
        """What the journal tells, or None when it cannot tell anything (missing, unreadable, empty)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        # A line cut short by a power cut is no line: only whole lines count.
        lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
        if not lines:
            return None
        current = boot_id()
        if lines[0].startswith(_HEADER):
            same_boot = bool(current) and lines[0] == _HEADER + current
            released: set[str] | None = set()
        elif lines[0].startswith("boot "):
            same_boot, released = bool(current) and lines[0] == f"boot {current}", None
        else:
            return None
        dotted: set[str] = set()
        sent: set[str] = set()
        for line in lines[1:]:
            kind, _, rest = line.partition(" ")
            if kind == "released" and released is not None:
                released.update(rest.split())
            elif kind == "sent":
                sent.add(rest)
            elif not rest:
                dotted.add(kind)
        frozen = None if released is None else frozenset(released)
        return Handover(same_boot, frozen, frozenset(dotted), frozenset(sent))

    def clear(self) -> None:
        """Forget every letter: all of them have been recorded (sent, failed or ambiguous). The
        new journal is on disk, name and all, before anything is appended to it: an old one that
        came back after a power cut would tell of letters long recorded."""
        self._close()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, f"{_HEADER}{boot_id()}\n".encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            _sync_folder(self.path.parent)
        except OSError:
            # A full or read-only data folder: the old lines stay, and name only letters already
            # recorded; a release appends to them, or fails and the letters wait for a retry.
            tmp.unlink(missing_ok=True)

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def _open(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked sender opens its own
            self.path.parent.mkdir(parents=True, exist_ok=True)  # a data folder not made yet
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if os.fstat(fd).st_size == 0:
                os.write(fd, f"{_HEADER}{boot_id()}\n".encode())
                os.fsync(fd)
                _sync_folder(self.path.parent)
            self._fd, self._pid = fd, os.getpid()
        return self._fd

    def _close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


def _word(message_id: str) -> str:
    """A Message-ID as one word of a line (ours never hold a space or a line break)."""
    return "".join(message_id.split()) or "-"


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not on this platform
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
