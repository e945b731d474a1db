"""Transports: `await send(slot, letter)` delivers one letter on one of `slots` parallel lanes.

A letter that was not delivered raises TransientDelivery, PermanentDelivery or
AmbiguousDelivery; the dispatcher decides what that means for the outbox row. `slots` is how
many letters a transport carries at once (SMTP: its connections). `idempotent` says whether
handing a letter over twice does no harm (a file written again under the same name): then a
letter a killed process was handing over is simply sent again, instead of being held as
ambiguous. Transports run on the dispatcher's event loop; `close_idle` ends the connections
that have carried nothing for a while (the dispatcher calls it whenever it looks for letters),
`aclose` all of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mailflow.errors import TransientDelivery


@dataclass(frozen=True)
class Letter:
    sender: str
    recipients: tuple[str, ...]
    message: bytes
    message_id: str


class Transport(Protocol):
    name: str
    slots: int
    idempotent: bool

    async def send(self, slot: int, letter: Letter) -> None: ...

    async def close_idle(self) -> None: ...

    async def aclose(self) -> None: ...


class FileTransport:
    """Writes each message as `<message-id>.eml` into a folder: the embedded default and dry runs."""

    name = "file"
    slots = 1
    idempotent = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, slot: int, letter: Letter) -> None:
        target = self.folder / f"{letter.message_id.replace('/', '_')}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(letter.message)
            os.replace(tmp, target)  # a reader never sees half a file
        except OSError as exc:
            raise TransientDelivery(f"cannot write {target}: {exc}") from exc

    async def close_idle(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


@dataclass
class MemoryTransport:
    """Keeps what it was given, for tests."""

    name: str = "memory"
    slots: int = 1
    idempotent: bool = False
    outbox: list[Letter] = field(default_factory=list)

    async def send(self, slot: int, letter: Letter) -> None:
        self.outbox.append(letter)

    async def close_idle(self) -> None:
        pass

    async def aclose(self) -> None:
        pass
