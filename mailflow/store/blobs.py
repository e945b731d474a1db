"""Content-addressed files on disk: raw mail and attachments, named by their sha256."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mailflow.errors import StoreError


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
        digest = sha256_hex(data)
        target = self.path(digest)
        if target.exists():
            return digest
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            if target.parent not in self._made:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._made.add(target.parent)
            with open(tmp, "wb") as fh:
                fh.write(data)
                if self.fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, target)
            if self.fsync:
                self._sync_dir(target.parent)
        except OSError as exc:
            # A full disk leaves a partial file behind: take it away, or it fills what space comes back.
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write {target}: {exc}") from exc
        return digest

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

    @staticmethod
    def _sync_dir(folder: Path) -> None:
        # The rename is only durable once the directory entry is on disk.
        fd = os.open(folder, os.O_RDONLY)
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
