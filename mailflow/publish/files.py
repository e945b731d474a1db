"""A folder a build owns: each file written only when its bytes change, stale files of the last build removed.

An unchanged build rewrites nothing (not a byte, not an mtime), so a web server's caches, rsync to the
host and the secretariat's backup see no change where there is none. The build's manifest
(`.mailflow-<build>.json` in the folder) lists what the last build wrote, with, for a derived file
(a resized photo, the PDF), the key of what it was made from and the size and mtime it was left
with: when all three still hold, the file is not made again at all, which is what keeps a second
build of 2,000 photos and a 400-page PDF cheap. Only files the manifest lists are ever removed:
pointing --out at a folder with other files in it deletes none of them.

Files are replaced atomically (a temporary file renamed over the old one): a reader, or a crash,
sees the old file or the new one, never half of one. Two builds into one folder at the same time
are not guarded against.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any


@dataclass
class Tally:
    """What a build did to its folder."""

    written: int = 0
    unchanged: int = 0
    removed: int = 0

    def text(self, locale: str) -> str:
        if locale.startswith("zh"):
            return f"文件：写入 {self.written} 个，未变 {self.unchanged} 个，删除 {self.removed} 个"
        return f"files: {self.written} written, {self.unchanged} unchanged, {self.removed} removed"


class Output:
    def __init__(self, root: Path, build: str) -> None:
        self.root = root
        self.manifest = root / f".mailflow-{build}.json"
        self.previous: dict[str, dict[str, Any]] = _load(self.manifest)
        self.current: dict[str, dict[str, Any]] = {}
        self.tally = Tally()

    def path(self, rel: str) -> Path:
        """The file `rel` (a relative POSIX path) inside the folder; anything reaching outside it is refused."""
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts or rel.startswith("."):
            raise ValueError(f"not a path inside the output folder: {rel!r}")
        return self.root.joinpath(*parts)

    def write(self, rel: str, data: bytes, *, key: str = "") -> None:
        """Write `rel` unless it already holds exactly `data`."""
        target = self.path(rel)
        try:
            same = target.stat().st_size == len(data) and target.read_bytes() == data
        except OSError:
            same = False
        if same:
            self.tally.unchanged += 1
        else:
            _replace(target, data)
            self.tally.written += 1
        self._record(rel, target, key)

    def derive(self, rel: str, key: str, make: Callable[[], bytes]) -> None:
        """`rel` made by `make()` from what `key` names: not made again while the last build's file stands."""
        entry, target = self.previous.get(rel), self.path(rel)
        if entry is not None and entry.get("key") == key and _stamp(target) == (entry["size"], entry["mtime_ns"]):
            self.current[rel] = entry
            self.tally.unchanged += 1
            return
        self.write(rel, make(), key=key)

    def finish(self) -> Tally:
        """Remove what the last build wrote and this one did not; keep the manifest for the next build."""
        for rel in sorted(set(self.previous) - set(self.current)):
            try:
                target = self.path(rel)
                target.unlink()
                self.tally.removed += 1
            except (ValueError, FileNotFoundError):
                continue
            _prune(target.parent, self.root)
        text = json.dumps(self.current, sort_keys=True, ensure_ascii=False, indent=0).encode()
        if not self.manifest.is_file() or self.manifest.read_bytes() != text:
            _replace(self.manifest, text)
        return self.tally

    def _record(self, rel: str, target: Path, key: str) -> None:
        size, mtime_ns = _stamp(target) or (0, 0)
        self.current[rel] = {"key": key, "size": size, "mtime_ns": mtime_ns}


def _load(manifest: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no build yet, or a damaged manifest: every file is compared by its bytes
    return data if isinstance(data, dict) else {}


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_size, found.st_mtime_ns


def _replace(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _prune(folder: Path, root: Path) -> None:
    """Remove folders the removal left empty, up to (not including) the root."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
