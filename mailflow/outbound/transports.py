"""Transports: one verb, `send(sender, recipients, message)`. File and memory here; SMTP beside them.

A transport raises TransientDelivery, PermanentDelivery or AmbiguousDelivery when it does not
deliver; the dispatcher decides what that means for the outbox row.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mailflow.errors import TransientDelivery


class Transport(Protocol):
    name: str

    def send(self, sender: str, recipients: Sequence[str], message: bytes, *, message_id: str) -> None: ...

    def close(self) -> None: ...


class FileTransport:
    """Writes each message as `<message-id>.eml` into a folder: the embedded default and dry runs."""

    name = "file"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, sender: str, recipients: Sequence[str], message: bytes, *, message_id: str) -> None:
        target = self.folder / f"{message_id.replace('/', '_')}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(message)
            os.replace(tmp, target)  # a reader never sees half a file
        except OSError as exc:
            raise TransientDelivery(f"cannot write {target}: {exc}") from exc

    def close(self) -> None:
        pass


@dataclass
class Sent:
    sender: str
    recipients: tuple[str, ...]
    message: bytes


@dataclass
class MemoryTransport:
    """Keeps what it was given, for tests and `--dry-run` style checks."""

    name: str = "memory"
    outbox: list[Sent] = field(default_factory=list)

    def send(self, sender: str, recipients: Sequence[str], message: bytes, *, message_id: str) -> None:
        self.outbox.append(Sent(sender, tuple(recipients), message))

    def close(self) -> None:
        pass
