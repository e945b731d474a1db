"""A local Maildir as a mail source: the embedded default, and where an MTA can deliver.

The stdlib `mailbox` module creates folders and reads messages; moving a processed message
is a rename inside one file system, so a crash leaves it in one place or the other.
"""

from __future__ import annotations

import mailbox
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from mailflow.errors import SourceError
from mailflow.ingest.source import Fetched, FolderInfo, MessageMeta, StopCheck

INBOX = "INBOX"


class MaildirSource:
    uses_uid_order = False

    def __init__(self, name: str, path: Path, *, action: str = "move", target: str = "Processed") -> None:
        self.name = name
        self.folders: tuple[str, ...] = (INBOX,)
        self.path = path
        self.action = action  # move | flag | none
        self.target = target  # folder name for move, flag letter for flag
        self._box: mailbox.Maildir | None = None

    def describe(self) -> str:
        return f"maildir {self.path}"

    def open(self) -> None:
        try:
            # mailbox.Maildir(create=True) leaves an existing but empty folder without
            # its tmp/new/cur; an MTA may not have delivered yet, so make them here.
            for sub in ("tmp", "new", "cur"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            self._box = mailbox.Maildir(self.path, factory=None, create=True)
            if self.action == "move" and self.target not in self._box.list_folders():
                self._box.add_folder(self.target)
        except OSError as exc:
            raise SourceError(f"cannot open Maildir {self.path}: {exc}") from exc

    def close(self) -> None:
        self._box = None

    def detach(self) -> None:
        self._box = None

    @property
    def box(self) -> mailbox.Maildir:
        if self._box is None:
            self.open()
        assert self._box is not None
        return self._box

    def select(self, folder: str) -> FolderInfo:
        return FolderInfo(uidvalidity=1, uidnext=0)

    def pending(self, folder: str, after_uid: int) -> list[str]:
        found = []
        for key, path in self._files():
            if self.action == "flag" and self.target in _flags(path):
                continue
            found.append((path.stat().st_mtime, key))
        return [key for _mtime, key in sorted(found)]

    def meta(self, folder: str, uids: Sequence[str]) -> list[MessageMeta]:
        metas = []
        for uid in uids:
            path = self._path(uid)
            if path is None:
                continue
            st = path.stat()
            metas.append(MessageMeta(uid, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)))
        return metas

    def fetch(self, folder: str, uids: Sequence[str], *, headers_only: bool = False) -> list[Fetched]:
        out = []
        for uid in uids:
            path = self._path(uid)
            if path is None:
                continue
            raw = path.read_bytes()
            if headers_only:
                raw = _header_block(raw)
            out.append(Fetched(uid, raw, headers_only))
        return out

    def mark(self, folder: str, uids: Sequence[str]) -> None:
        for uid in uids:
            path = self._path(uid)
            if path is None:  # already moved: marking twice is harmless
                continue
            if self.action == "move":
                dest = self.path / f".{self.target}" / "cur" / f"{uid}:2,S"
                os.replace(path, dest)
            elif self.action == "flag":
                flags = "".join(sorted(set(_flags(path)) | {self.target}))
                os.replace(path, self.path / "cur" / f"{uid}:2,{flags}")

    def wait(self, timeout: float, should_stop: StopCheck) -> None:
        # A local folder has no push; look again every second so that delivery is quick.
        deadline = time.monotonic() + timeout
        seen = self._signature()
        while time.monotonic() < deadline and not should_stop():
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            if self._signature() != seen:
                return

    def _signature(self) -> tuple[int, int]:
        new = self.path / "new"
        try:
            st = new.stat()
            return st.st_mtime_ns, len(os.listdir(new))
        except OSError:
            return 0, 0

    def _files(self) -> list[tuple[str, Path]]:
        _ = self.box  # opening creates the folders on first use
        files = []
        for sub in ("new", "cur"):
            try:
                entries = os.scandir(self.path / sub)
            except OSError as exc:
                raise SourceError(f"cannot list {self.path / sub}: {exc}") from exc
            with entries:
                for entry in entries:
                    if not entry.name.startswith(".") and entry.is_file():
                        files.append((entry.name.split(":", 1)[0], Path(entry.path)))
        return files

    def _path(self, key: str) -> Path | None:
        new = self.path / "new" / key
        if new.exists():
            return new
        for path in (self.path / "cur").glob(f"{key}:*"):
            return path
        cur = self.path / "cur" / key
        return cur if cur.exists() else None


def _flags(path: Path) -> str:
    _, _, info = path.name.partition(":2,")
    return info


def _header_block(raw: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(sep)
        if end >= 0:
            return raw[: end + len(sep)]
    return raw
