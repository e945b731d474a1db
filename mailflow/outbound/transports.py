"""Transports: one verb, `send_many(letters)` -> one result per letter. File and memory here; SMTP beside them.

A letter that was not delivered gets a TransientDelivery, PermanentDelivery or
AmbiguousDelivery in its place in the results; the dispatcher decides what that means for
the outbox row. `batch` is how many letters the dispatcher hands over at once: the letters a
transport has in flight together. `idempotent` says whether handing a letter over twice
does no harm (a file written again under the same name): then a letter a killed process
was handing over is simply sent again, instead of being held as ambiguous.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mailflow.errors import DeliveryError, TransientDelivery


@dataclass(frozen=True)
class Letter:
    sender: str
    recipients: tuple[str, ...]
    message: bytes
    message_id: str


class Transport(Protocol):
    name: str
    batch: int
    idempotent: bool

    def send_many(self, letters: Sequence[Letter]) -> list[DeliveryError | None]: ...

    def close(self) -> None: ...


class FileTransport:
    """Writes each message as `<message-id>.eml` into a folder: the embedded default and dry runs."""

    name = "file"
    batch = 100
    idempotent = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send_many(self, letters: Sequence[Letter]) -> list[DeliveryError | None]:
        return [self._write(letter) for letter in letters]

    def _write(self, letter: Letter) -> DeliveryError | None:
        target = self.folder / f"{letter.message_id.replace('/', '_')}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(letter.message)
            os.replace(tmp, target)  # a reader never sees half a file
        except OSError as exc:
            return TransientDelivery(f"cannot write {target}: {exc}")
        return None

    def close(self) -> None:
        pass


@dataclass
class MemoryTransport:
    """Keeps what it was given, for tests."""

    name: str = "memory"
    batch: int = 1
    idempotent: bool = False
    outbox: list[Letter] = field(default_factory=list)

    def send_many(self, letters: Sequence[Letter]) -> list[DeliveryError | None]:
        self.outbox.extend(letters)
        return [None] * len(letters)

    def close(self) -> None:
        pass
