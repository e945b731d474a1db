"""The contract every mailbox meets: list what is new, fetch raw bytes, mark what is done."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class FolderInfo:
    uidvalidity: int
    uidnext: int  # 0 where the source has no UIDs (Maildir)


@dataclass(frozen=True)
class MessageMeta:
    uid: str
    size: int
    received_at: datetime | None  # IMAP INTERNALDATE, or the Maildir file's delivery time


@dataclass(frozen=True)
class Fetched:
    uid: str
    raw: bytes
    headers_only: bool = False


class MailSource(Protocol):
    """A mailbox. Calls may raise SourceError; SourceDropped means: reconnect and start over."""

    name: str
    folders: tuple[str, ...]
    uses_uid_order: bool  # True: new mail has UIDs above the last one seen (IMAP)

    def open(self) -> None: ...

    def close(self) -> None: ...

    def detach(self) -> None:
        """Forget the connection without a word to the server (after a fork it is the parent's)."""
        ...

    def select(self, folder: str) -> FolderInfo: ...

    def pending(self, folder: str, after_uid: int) -> list[str]:
        """UIDs (keys) of messages still in the folder that may be new, oldest first."""
        ...

    def meta(self, folder: str, uids: Sequence[str]) -> list[MessageMeta]: ...

    def fetch(self, folder: str, uids: Sequence[str], *, headers_only: bool = False) -> list[Fetched]:
        """Raw bytes, read without setting \\Seen (a person may use the mailbox too)."""
        ...

    def mark(self, folder: str, uids: Sequence[str]) -> None:
        """Move or flag messages that are committed locally; marking twice is harmless."""
        ...

    def wait(self, timeout: float, should_stop: StopCheck) -> None:
        """Return when new mail may have arrived, after `timeout` seconds, or when asked to stop."""
        ...

    def describe(self) -> str: ...


class StopCheck(Protocol):
    def __call__(self) -> bool: ...
