"""The parts outgoing letters carry: their bytes in a blob store, named by sha256, linked to outbox rows in order.

A circular to 300 liaisons is 300 outbox rows and one file: every row that carries a part links
to the one blob (table outbox_part), and neither the row nor the link holds its bytes. The blob is
written, and synced, before the row that names it is committed (`attach`), so a committed letter
never names a file that a crash lost. The dispatcher reads the links of the letters it takes in
one query, and the bytes when it builds them (`PartReader`).
"""

from __future__ import annotations

import mimetypes
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select

from mailflow.errors import StoreError
from mailflow.outbound.mime import OutgoingPart, WirePart, wire_part
from mailflow.store import BlobStore, OutboxPart, sha256_hex

PARTS_TABLE = OutboxPart.metadata.tables["outbox_part"]
_P = PARTS_TABLE
_OF = (
    select(_P.c.outbox_id, _P.c.sha256, _P.c.filename, _P.c.content_type, _P.c.inline, _P.c.content_id)
    .where(_P.c.outbox_id.in_(bindparam("ids", expanding=True)))
    .order_by(_P.c.outbox_id, _P.c.position)
)


def attach(
    blobs: BlobStore,
    data: bytes,
    filename: str = "",
    content_type: str | None = None,
    *,
    inline: bool = False,
    content_id: str | None = None,
) -> OutgoingPart:
    """Store `data` in `blobs` (once, however often it is attached) and return the part that carries it.

    The media type is guessed from the file name when not given; an inline part without a
    Content-ID gets one made from its content, for the HTML to name as `part.cid`. Make the part
    once and give it to every draft that carries it.
    """
    digest = blobs.put(data)
    if content_type is None:
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if inline and content_id is None:
        content_id = f"{digest[:32]}@mailflow"
    return OutgoingPart(digest, filename, content_type, inline, content_id)


def part_values(outbox_id: int, parts: Sequence[OutgoingPart]) -> list[dict[str, Any]]:
    """The links of a row to its parts, as an insert's parameters (or an OutboxPart's fields)."""
    return [{"outbox_id": outbox_id, "position": n, **_fields(part)} for n, part in enumerate(parts)]


def _fields(part: OutgoingPart) -> dict[str, Any]:
    return {
        "sha256": part.sha256,
        "filename": part.filename,
        "content_type": part.content_type,
        "inline": part.inline,
        "content_id": part.content_id,
    }


def parts_of(conn: Connection, ids: Sequence[int]) -> dict[int, tuple[OutgoingPart, ...]]:
    """The parts of the rows `ids` that carry any, in order: one query for all of them."""
    found: dict[int, list[OutgoingPart]] = {}
    for r in conn.execute(_OF, {"ids": list(ids)}):
        found.setdefault(r.outbox_id, []).append(
            OutgoingPart(r.sha256, r.filename, r.content_type, r.inline, r.content_id)
        )
    return {outbox_id: tuple(parts) for outbox_id, parts in found.items()}


class PartReader:
    """Reads the parts' bytes from the blob store, checks them against their sha256, and encodes them.

    The encoded content of the latest parts is kept (up to `budget` characters), so that a
    circular's file is read and encoded once for its hundreds of letters, not once per letter.
    """

    def __init__(self, blobs: BlobStore | None, *, budget: int = 64 << 20) -> None:
        self.blobs = blobs
        self.budget = budget
        self._encoded: OrderedDict[str, str] = OrderedDict()  # sha256 -> base64 lines
        self._size = 0

    def wire(self, parts: Sequence[OutgoingPart]) -> list[WirePart]:
        return [WirePart(part, self._body(part)) for part in parts]

    def _body(self, part: OutgoingPart) -> str:
        body = self._encoded.get(part.sha256)
        if body is not None:
            self._encoded.move_to_end(part.sha256)
            return body
        body = wire_part(part, self._read(part)).body
        self._encoded[part.sha256] = body
        self._size += len(body)
        while self._size > self.budget and len(self._encoded) > 1:
            self._size -= len(self._encoded.popitem(last=False)[1])
        return body

    def _read(self, part: OutgoingPart) -> bytes:
        what = f"part {part.filename or part.content_type} (sha256 {part.sha256})"
        if self.blobs is None:
            raise StoreError(f"{what}: this sender was given no store to read the parts of letters from")
        path = self.blobs.path(part.sha256)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"{what} is missing from {self.blobs.root}: {exc.strerror or exc}") from exc
        if sha256_hex(data) != part.sha256:
            raise StoreError(f"{what} is damaged: {path} no longer has that content")
        return data
