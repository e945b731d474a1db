"""Content-addressed files on disk: raw mail and attachments, named by their sha256."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from mailflow.errors import StoreError

_T = TypeVar("_T")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """Writes each distinct content once, atomically: a crash leaves the old file or none."""

    def __init__(self, root: Path, *, suffix: str = "", fsync: bool = True) -> None:
        self.root = root
        self.suffix = suffix
        self.fsync = fsync
        self._made: set[Path] = set()  # fan-out folders known to exist: no mkdir per write

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / f"{digest}{self.suffix}"

    def put(self, data: bytes) -> str:
        """Store `data` (once) and return its sha256; durable on return when fsync is on."""
        return self.put_many([data])[0]

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Store each of `blobs` (once) and return their sha256s; all durable on return.

        A batch costs far less than one `put` each: the files are written and synced side by side,
        then their folders, so the file system commits waiting syncs together instead of one
        journal commit per file.
        """
        digests = [sha256_hex(data) for data in blobs]
        paths = {digest: self.path(digest) for digest in digests}
        new = {digest: data for digest, data in zip(digests, blobs, strict=True) if not paths[digest].exists()}
        targets = [paths[digest] for digest in new]
        for folder in {target.parent for target in targets} - self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(folder)
        temporaries = [target.with_name(f".{target.name}.{os.getpid()}.tmp") for target in targets]
        try:
            self._each(self._write, list(zip(temporaries, new.values(), strict=True)))
            for tmp, target in zip(temporaries, targets, strict=True):
                os.replace(tmp, target)
            if self.fsync:
                self._each(_fsync, list({target.parent for target in targets}))
        except OSError as exc:
            # A full disk leaves partial files behind: take them away, or they fill what space comes back.
            for tmp in temporaries:
                tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write to {self.root}: {exc}") from exc
        return digests

    def _write(self, item: tuple[Path, bytes]) -> None:
        tmp, data = item
        with open(tmp, "wb") as fh:
            fh.write(data)
            if self.fsync:
                fh.flush()
                os.fsync(fh.fileno())

    def _each(self, work: Callable[[_T], None], items: Sequence[_T]) -> None:
        """work(item) for each item; with fsync, several at once, so that the file system commits
        the waiting syncs together (without, threads would only add their cost)."""
        if len(items) <= 1 or not self.fsync:
            for item in items:
                work(item)
            return
        # A pool per batch, not one kept: this process may fork, and threads do not survive that.
        with ThreadPoolExecutor(max_workers=min(16, len(items)), thread_name_prefix="blobs") as pool:
            for _ in pool.map(work, items):
                pass

    def sweep(self) -> int:
        """Remove what writers that died left half-written (`.<name>.<pid>.tmp` of a pid now gone)."""
        removed = 0
        for tmp in self.root.glob("*/.*.tmp"):
            pid = tmp.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not alive(int(pid)):
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed

    def get(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except OSError as exc:
            raise StoreError(f"archived blob {digest} is missing: {exc}") from exc


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)  # a folder opens read-only; fsync needs no write access
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def alive(pid: int) -> bool:
    """Whether a process of that id runs (here: whether a temporary file's writer may still write)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
