"""Which letters' final dot may have left: a small journal that outlives a killed sender.

After a crash the outbox knows only that some letters were being sent. Before, every one of them
became `ambiguous`, and most had never reached the server: their liaisons got no answer until a
person resent them. The SMTP transport now notes a letter's Message-ID here just before it writes
the final dot, so that after `kill -9` only the letters noted may have arrived; the rest never
reached the server (which drops a transaction whose dot never came) and are simply sent again.

A plain append without fsync is enough against a killed process: what it wrote is in the
kernel's page cache and survives it. It is not enough against a power cut, which may lose the
last lines; so the journal opens with the id of the boot that wrote it, and after a reboot it
tells nothing, and every letter that was being sent is held as ambiguous, as before.
"""

from __future__ import annotations

import os
from pathlib import Path

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
HANDOVER_JOURNAL = "outbox-handover.journal"  # in the data folder


def boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""  # no way to tell a reboot: the journal is never believed


class HandoverJournal:
    """One line per letter whose final dot may have left, since the last `clear`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0

    def note(self, message_id: str) -> None:
        """Called just before the final dot; raises OSError when the journal cannot be written
        (then the dot is not sent, and the letter is tried again later)."""
        if self._fd is None or self._pid != os.getpid():  # a forked sender opens its own
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._pid = os.getpid()
            if os.fstat(self._fd).st_size == 0:
                os.write(self._fd, f"boot {boot_id()}\n".encode())
        os.write(self._fd, message_id.encode("utf-8", "replace") + b"\n")

    def handed(self) -> set[str] | None:
        """The Message-IDs noted, or None when the journal cannot tell (missing, or from another boot)."""
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            lines = []
        except OSError:
            return None
        current = boot_id()
        if not lines:
            return set() if self.path.exists() and current else None
        if not current or lines[0] != f"boot {current}":
            return None
        return set(lines[1:])

    def clear(self) -> None:
        """Forget every letter noted: all of them have been recorded (sent, failed or ambiguous)."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(f"boot {boot_id()}\n", encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            # A full or read-only data folder: the old lines stay, and name only letters already
            # recorded; `note` appends to them, or fails and the letter waits for a retry.
            tmp.unlink(missing_ok=True)

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0
