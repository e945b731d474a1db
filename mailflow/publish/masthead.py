"""What a build is told from outside: the chamber's name, zone and mail domain, and where photos are stored."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from mailflow.publish import images
from mailflow.store import BlobStore


@dataclass(frozen=True)
class Masthead:
    chamber: str  # settings.chamber.name
    zone: ZoneInfo  # the chamber's time zone: dates and the journal's months
    domain: str  # settings.chamber.message_id_domain: the authority of the feed's tag: ids


@dataclass(frozen=True)
class Photos:
    """The attachment store (data/attachments), read by sha256: the layout BlobStore writes."""

    root: Path

    def read(self, sha256: str) -> bytes:
        return BlobStore(self.root).path(sha256).read_bytes()

    def render(self, sha256: str, variant: images.Variant) -> bytes:
        """The photo `sha256` as `variant` publishes it."""
        return images.render(self.read(sha256), variant)
