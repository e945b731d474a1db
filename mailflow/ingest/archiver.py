"""Archive first: raw bytes to disk and an inbound row committed before anything reads them.

The order of one pass over a folder closes each crash window:
  1. rows committed earlier but not yet marked on the server are marked now
     (a crash after a commit and before the move leaves exactly these);
  2. new mail is fetched in batches; each batch's bytes are written (fsync) and its rows
     committed together, then the batch is moved or flagged on the server;
  3. a crash before the commit loses nothing: the mail is still on the server, unmarked,
     and its UID is above the last one recorded, so the next pass fetches it again.
A UIDVALIDITY change renumbers a folder; every message is then matched against the store
by Message-ID and content hash, and what is already there is not processed again.

A folder restored from a backup may come back under a UIDVALIDITY it had before, its UIDs given
out again from 1 to other mail. A row whose UID now holds other mail is *retired*: its
uidvalidity becomes minus its own id, a value no server gives (RFC 3501: non-zero, unsigned)
and no other row can hold, so nothing marks that UID or refuses new mail there on its account,
while its content still matches later copies. A message found at a UID a row already holds is
matched like any other: a copy of stored mail is not stored again; new mail takes the UID.
Whatever the resync, a copy of mail the safe first run skipped stays skipped, and is never moved.

A Message-ID alone does not make a copy: some mailers write the same one on every message
(`0@localhost`). A message whose Message-ID is known is a copy only when its bytes are the
same, or its sender, Date and subject are (a server may re-write the headers of a copy).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any

from sqlalchemy import Table, insert, or_, update
from sqlmodel import Session, col, select

from mailflow.clock import Clock
from mailflow.ingest.source import Fetched, MailSource, MessageMeta
from mailflow.reasons import Reason
from mailflow.store import BlobStore, FolderState, InboundMessage, InboundState, Store

log = logging.getLogger("mailflow.ingest")
INBOUND: Table = InboundMessage.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StartPolicy:
    """Which mail counts as new on the first start: 'first_start', 'all', or a date."""

    mode: str = "first_start"
    since: datetime | None = None  # for mode "date": aware, start of that day in the chamber's zone


@dataclass
class PassReport:
    archived: int = 0
    skipped: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    store_fault: str | None = None  # the database or the data folder failed; the mail stays on the server

    def add(self, other: PassReport) -> None:
        self.archived += other.archived
        self.skipped += other.skipped
        self.duplicates += other.duplicates
        self.store_fault = self.store_fault or other.store_fault


class Archiver:
    def __init__(
        self,
        store: Store,
        raw: BlobStore,
        clock: Clock,
        *,
        start: StartPolicy,
        max_fetch_bytes: int,
        batch_size: int = 100,
    ) -> None:
        self.store = store
        self.raw = raw
        self.clock = clock
        self.start = start
        self.max_fetch_bytes = max_fetch_bytes
        self.batch_size = batch_size

    def poll(self, source: MailSource, on_batch: Callable[[], None] = lambda: None) -> PassReport:
        """One pass over every watched folder of `source`; `on_batch` runs after each batch commits."""
        report = PassReport()
        for folder in source.folders:
            report.add(self._folder(source, folder, on_batch))
        return report

    def _folder(self, source: MailSource, folder: str, on_batch: Callable[[], None]) -> PassReport:
        report = PassReport()
        info = source.select(folder)
        state = self._folder_state(source, folder, info.uidvalidity, info.uidnext)
        self._finish_marks(source, folder, state.uidvalidity)
        candidates = source.pending(folder, state.last_seen_uid if source.uses_uid_order else 0)
        if not source.uses_uid_order:
            candidates = self._unknown(source.name, folder, state.uidvalidity, candidates)
        for start in range(0, len(candidates), self.batch_size):
            metas = source.meta(folder, candidates[start : start + self.batch_size])
            self._batch(source, folder, state, metas, report)
            on_batch()
        with self.store.session() as session:
            row = session.get(FolderState, state.id)
            if row is not None:
                row.last_poll_at = self.clock.now()
                row.last_error = None
        return report

    # -- folder state -------------------------------------------------------------------

    def _folder_state(self, source: MailSource, folder: str, uidvalidity: int, uidnext: int) -> FolderState:
        now = self.clock.now()
        with self.store.session() as session:
            state = session.exec(
                select(FolderState).where(FolderState.source == source.name, FolderState.folder == folder)
            ).first()
            if state is None or state.first_seen_at is None:
                # First sight of the folder (a row without first_seen_at only held an error
                # from before the mailbox could ever be reached).
                first = self.start.mode == "first_start"
                state = state or FolderState(source=source.name, folder=folder)
                state.uidvalidity = uidvalidity
                state.baseline_uid = max(uidnext - 1, 0) if first and source.uses_uid_order else 0
                state.first_seen_at = now
                session.add(state)
                log.info("watching new folder", extra={"source": source.name, "folder": folder})
            elif state.uidvalidity != uidvalidity:
                log.warning(
                    "UIDVALIDITY changed; resyncing by Message-ID and content hash",
                    extra={"source": source.name, "folder": folder, "old": state.uidvalidity, "new": uidvalidity},
                )
                # The old UIDs mean nothing now. Mail we already hold is recognised by
                # content, and mail from before the first start stays skipped the same way.
                state.uidvalidity = uidvalidity
                state.last_seen_uid = 0
                state.baseline_uid = 0
                self._retire_owed_marks(session, source.name, folder, uidvalidity)
            session.flush()
            session.refresh(state)
            return state

    @staticmethod
    def _retire_owed_marks(session: Session, source: str, folder: str, uidvalidity: int) -> None:
        """Retire the rows still owed a mark under a UIDVALIDITY the folder comes back to.

        They are from an earlier life of the folder (a crash between their commit and their
        move, then a rebuild): _finish_marks would move whatever holds their UIDs now, mail
        never archived among it. Their messages, if still there, are matched by content.
        """
        session.execute(
            update(INBOUND)
            .where(
                INBOUND.c.source == source,
                INBOUND.c.folder == folder,
                INBOUND.c.uidvalidity == uidvalidity,
                INBOUND.c.server_marked.is_(False),
                INBOUND.c.state != InboundState.SKIPPED,  # never owed a mark: kept at their UIDs
            )
            .values(uidvalidity=-INBOUND.c.id)
        )

    def _finish_marks(self, source: MailSource, folder: str, uidvalidity: int) -> None:
        with self.store.session() as session:
            uids = session.exec(
                select(InboundMessage.uid).where(
                    InboundMessage.source == source.name,
                    InboundMessage.folder == folder,
                    InboundMessage.uidvalidity == uidvalidity,
                    col(InboundMessage.server_marked).is_(False),
                    InboundMessage.state != InboundState.SKIPPED,
                )
            ).all()
        if uids:
            log.info("marking mail committed before a stop", extra={"source": source.name, "count": len(uids)})
            self._mark(source, folder, uidvalidity, list(uids))

    def _unknown(self, source: str, folder: str, uidvalidity: int, uids: list[str]) -> list[str]:
        """Keep the keys not yet stored (sources without UID order list all they hold)."""
        if not uids:
            return []
        known: set[str] = set()
        with self.store.session() as session:
            for start in range(0, len(uids), 500):  # ask only about these keys, not the history
                known.update(
                    session.exec(
                        select(InboundMessage.uid).where(
                            InboundMessage.source == source,
                            InboundMessage.folder == folder,
                            InboundMessage.uidvalidity == uidvalidity,
                            col(InboundMessage.uid).in_(uids[start : start + 500]),
                        )
                    ).all()
                )
        return [u for u in uids if u not in known]

    # -- one batch ----------------------------------------------------------------------

    def _batch(
        self, source: MailSource, folder: str, state: FolderState, metas: Sequence[MessageMeta], report: PassReport
    ) -> None:
        skipped = {m.uid for m in metas if self._before_start(state, m)}
        fetched = self._fetch(source, folder, metas, skipped)
        by_uid = {m.uid: m for m in metas}
        # Bytes first, durable, then the rows: a row never points at a file that is not there.
        digests = dict(zip(fetched, self.raw.put_many([f.raw for f in fetched.values()]), strict=True))
        to_mark: list[str] = []
        ids = {uid: header_message_id(f.raw) for uid, f in fetched.items()}
        with self.store.session() as session:
            originals = Originals(*self._known(session, ids.values(), digests.values()), self._stored_head)
            taken = self._taken(session, source.name, folder, state.uidvalidity, list(fetched))
            values: list[dict[str, Any]] = []
            for uid in (m.uid for m in metas if m.uid in fetched):
                raw, digest, message_id = fetched[uid].raw, digests[uid], ids[uid]
                row = self._row(state, source.name, folder, fetched[uid], by_uid[uid], digest, message_id)
                original = originals.stored(digest, message_id, raw)
                twin = originals.in_batch(digest, message_id, raw) if original is None else None
                if originals.was_skipped(original) or (twin is not None and twin in skipped):
                    # Mail the safe first run skipped, back after a rebuild (dated anew, so no
                    # longer before the start by its date): it stays skipped, and is never moved.
                    skipped.add(uid)
                if uid in taken:
                    if original is not None or twin is not None:
                        # Stored mail back at a UID (its own, or another's): nothing new to store.
                        report.duplicates += 1
                        if uid not in skipped:
                            to_mark.append(uid)
                        continue
                    self._retire(session, taken[uid])  # before the insert that takes its UID
                if twin is not None:
                    # Two copies in one batch (rare): the first is the original; insert it now.
                    self._insert(session, values)
                    values = []
                    original = self._id_at(session, source.name, folder, state.uidvalidity, twin)
                if original is not None:
                    row["duplicate_of"] = original
                    row["state"] = InboundState.IGNORED
                    row["reasons"] = [Reason("duplicate", {"original": original}).to_json()]
                else:
                    if originals.seen(message_id):
                        _log_reused_id(message_id, originals, source.name, folder, uid)
                    originals.add(uid, digest, message_id, raw)
                if uid in skipped:
                    row["state"] = InboundState.SKIPPED
                    row["reasons"] = [Reason("skipped_first_run").to_json()]
                    report.skipped += 1
                elif original is not None:
                    report.duplicates += 1
                else:
                    report.archived += 1
                if row["state"] != InboundState.SKIPPED:
                    to_mark.append(uid)
                values.append(row)
            self._insert(session, values)
            if source.uses_uid_order and fetched:
                folder_row = session.get(FolderState, state.id)
                assert folder_row is not None
                top = max(int(u) for u in fetched)
                folder_row.last_seen_uid = max(folder_row.last_seen_uid, top)
                state.last_seen_uid = folder_row.last_seen_uid
        self._mark(source, folder, state.uidvalidity, to_mark)

    def _fetch(
        self, source: MailSource, folder: str, metas: Sequence[MessageMeta], skipped: set[str]
    ) -> dict[str, Fetched]:
        """Each message whole, or its header alone if it came before the start or is too large."""
        big = {m.uid for m in metas if m.size > self.max_fetch_bytes and m.uid not in skipped}
        whole = [m.uid for m in metas if m.uid not in skipped and m.uid not in big]
        heads = [m.uid for m in metas if m.uid in skipped or m.uid in big]
        fetched = {f.uid: f for f in source.fetch(folder, whole)}
        fetched.update({f.uid: f for f in source.fetch(folder, heads, headers_only=True)})
        return fetched

    def _row(
        self,
        state: FolderState,
        source: str,
        folder: str,
        fetched: Fetched,
        meta: MessageMeta,
        digest: str,
        message_id: str | None,
    ) -> dict[str, Any]:
        return {
            "source": source,
            "folder": folder,
            "uidvalidity": state.uidvalidity,
            "uid": fetched.uid,
            "sha256": digest,
            "size": meta.size or len(fetched.raw),
            "headers_only": fetched.headers_only,
            "message_id": message_id,
            "received_at": meta.received_at,
            "archived_at": self.clock.now(),
            "state": InboundState.ARCHIVED,
            "reasons": [],
            "attempts": 0,
            "server_marked": False,
            "duplicate_of": None,
        }

    @staticmethod
    def _insert(session: Session, values: list[dict[str, Any]]) -> None:
        # One executemany through Core: building ORM objects costs more than the insert.
        if values:
            session.execute(insert(INBOUND), values)

    @staticmethod
    def _taken(session: Session, source: str, folder: str, uidvalidity: int, uids: list[str]) -> dict[str, int]:
        """Rows already stored at these UIDs (only a folder restored under an old UIDVALIDITY has any)."""
        if not uids:
            return {}
        query = select(INBOUND.c.uid, INBOUND.c.id).where(
            INBOUND.c.source == source,
            INBOUND.c.folder == folder,
            INBOUND.c.uidvalidity == uidvalidity,
            INBOUND.c.uid.in_(uids),
        )
        return {row.uid: row.id for row in session.execute(query)}

    @staticmethod
    def _retire(session: Session, row_id: int) -> None:
        """The row's UID holds other mail now: give it a location of its own that no server has."""
        log.warning("a UID given again to other mail; the earlier message's row is retired", extra={"id": row_id})
        session.execute(update(INBOUND).where(INBOUND.c.id == row_id).values(uidvalidity=-row_id))

    @staticmethod
    def _id_at(session: Session, source: str, folder: str, uidvalidity: int, uid: str) -> int | None:
        return session.execute(
            select(INBOUND.c.id).where(
                INBOUND.c.source == source,
                INBOUND.c.folder == folder,
                INBOUND.c.uidvalidity == uidvalidity,
                INBOUND.c.uid == uid,
            )
        ).scalar()

    @staticmethod
    def _known(
        session: Session, message_ids: Iterable[str | None], digests: Iterable[str]
    ) -> tuple[dict[str, int], dict[str, list[tuple[int, str]]], set[int]]:
        """Messages already stored (and not copies themselves) with one of these hashes or Message-IDs:
        the original id by sha256, every (id, sha256) under each Message-ID, oldest first, and
        the ids of those that the safe first run skipped."""
        ids = {m for m in message_ids if m}
        hashes = sorted(set(digests))
        by_digest: dict[str, int] = {}
        by_message_id: dict[str, list[tuple[int, str]]] = {}
        skipped: set[int] = set()
        query = select(InboundMessage.id, InboundMessage.sha256, InboundMessage.message_id, InboundMessage.state).where(
            col(InboundMessage.duplicate_of).is_(None),
            or_(col(InboundMessage.sha256).in_(hashes), col(InboundMessage.message_id).in_(sorted(ids))),
        )
        for row_id, digest, message_id, state in session.exec(query.order_by(col(InboundMessage.id))).all():
            by_digest.setdefault(digest, row_id or 0)  # ascending: the oldest row wins
            if message_id in ids:
                by_message_id.setdefault(message_id, []).append((row_id or 0, digest))
            if state == InboundState.SKIPPED:
                skipped.add(row_id or 0)
        return by_digest, by_message_id, skipped

    def _stored_head(self, digest: str) -> bytes:
        """The start of a stored message, enough for its header block (the body is never needed)."""
        try:
            with open(self.raw.path(digest), "rb") as fh:
                return fh.read(_HEAD_BYTES)
        except OSError:
            return b""  # a missing file matches nothing: the message is then taken as new

    def _before_start(self, state: FolderState, meta: MessageMeta) -> bool:
        if self.start.mode == "all":
            return False
        if self.start.mode == "first_start":
            if state.baseline_uid and meta.uid.isdigit():
                return int(meta.uid) <= state.baseline_uid
            cutoff = state.first_seen_at
        else:
            cutoff = self.start.since
        return bool(cutoff and meta.received_at and meta.received_at < cutoff)

    def _mark(self, source: MailSource, folder: str, uidvalidity: int, uids: list[str]) -> None:
        if not uids:
            return
        source.mark(folder, uids)
        with self.store.session() as session:
            session.execute(
                update(INBOUND)
                .where(
                    INBOUND.c.source == source.name,
                    INBOUND.c.folder == folder,
                    INBOUND.c.uidvalidity == uidvalidity,
                    INBOUND.c.uid.in_(uids),
                )
                .values(server_marked=True)
            )


class Originals:
    """What the messages of one batch may be copies of: mail already stored, and earlier mail of the batch.

    A copy has the same sha256, or the same Message-ID and the same content key (sender, Date,
    subject); the Message-ID alone is not enough, as some mailers reuse one for every message.
    """

    def __init__(
        self,
        stored_by_digest: dict[str, int],
        stored_by_id: dict[str, list[tuple[int, str]]],
        stored_skipped: set[int],
        stored_head: Callable[[str], bytes],
    ) -> None:
        self.stored_by_digest = stored_by_digest
        self.stored_by_id = stored_by_id
        self.stored_skipped = stored_skipped  # ids of stored mail the safe first run skipped
        self._stored_head = stored_head
        self._batch_by_digest: dict[str, str] = {}  # sha256 -> uid
        self._batch_by_id: dict[str, list[tuple[str, str, bytes]]] = {}  # Message-ID -> (uid, sha256, raw)
        self._keys: dict[str, tuple[str, str, str] | None] = {}  # content keys by sha256, each read once

    def stored(self, digest: str, message_id: str | None, raw: bytes) -> int | None:
        """The id of the stored message this one copies, if any."""
        if digest in self.stored_by_digest:
            return self.stored_by_digest[digest]
        rows = self.stored_by_id.get(message_id or "", [])
        key = self._key(digest, raw) if rows else None
        if key is None:
            return None
        return next((row_id for row_id, other in rows if self._key(other) == key), None)

    def was_skipped(self, original: int | None) -> bool:
        """Whether that stored message is one the safe first run skipped."""
        return original is not None and original in self.stored_skipped

    def in_batch(self, digest: str, message_id: str | None, raw: bytes) -> str | None:
        """The uid of an earlier message of this batch that this one copies, if any."""
        if digest in self._batch_by_digest:
            return self._batch_by_digest[digest]
        entries = self._batch_by_id.get(message_id or "", [])
        key = self._key(digest, raw) if entries else None
        if key is None:
            return None
        return next((uid for uid, other, other_raw in entries if self._key(other, other_raw) == key), None)

    def seen(self, message_id: str | None) -> bool:
        """Whether other mail, stored or in this batch, already carries this Message-ID."""
        key = message_id or ""
        return bool(key) and (key in self.stored_by_id or key in self._batch_by_id)

    def add(self, uid: str, digest: str, message_id: str | None, raw: bytes) -> None:
        """Take a message of this batch as an original for the messages after it."""
        self._batch_by_digest.setdefault(digest, uid)
        if message_id:
            self._batch_by_id.setdefault(message_id, []).append((uid, digest, raw))

    def _key(self, digest: str, raw: bytes | None = None) -> tuple[str, str, str] | None:
        if digest not in self._keys:
            self._keys[digest] = content_key(raw if raw is not None else self._stored_head(digest))
        return self._keys[digest]


def _log_reused_id(message_id: str | None, originals: Originals, source: str, folder: str, uid: str) -> None:
    earlier = [row_id for row_id, _ in originals.stored_by_id.get(message_id or "", [])]
    log.info(
        "Message-ID <%s> reused by a message with other content; archived as new mail",
        message_id,
        extra={"source": source, "folder": folder, "uid": uid, "earlier": earlier},
    )


_HEADERS = BytesHeaderParser(policy=compat32)
_HEAD_BYTES = 262144  # a header block longer than this is cut: the fields we read come early


def _header_block(raw: bytes) -> Message | None:
    """The header fields alone, parsed without decoding anything (cheap); None if they are broken."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    head = raw if end < 0 else raw[: end + 2]
    try:
        return _HEADERS.parsebytes(head[:_HEAD_BYTES])
    except Exception:  # noqa: BLE001 - a broken header block just has nothing usable
        return None


def header_message_id(raw: bytes) -> str | None:
    """The Message-ID without brackets, read from the header block alone (cheap)."""
    headers = _header_block(raw)
    value = headers.get("Message-ID") if headers is not None else None
    if not value:
        return None
    text = str(value).strip().strip("<>").strip()
    return text[:998] or None


def content_key(raw: bytes) -> tuple[str, str, str] | None:
    """Sender, Date and subject, which a server re-writing a copy's headers leaves as they were.

    None without a sender or a Date: other mail under the same Message-ID could then match.
    """
    headers = _header_block(raw)
    if headers is None:
        return None
    sender = parseaddr(_text(headers.get("From")))[1].lower()
    date = _text(headers.get("Date"))
    if not sender or not date:
        return None
    try:
        when = parsedate_to_datetime(date)
        date = (when if when.tzinfo is None else when.astimezone(UTC)).isoformat()  # one instant, one text
    except (TypeError, ValueError):
        pass
    subject = _text(headers.get("Subject"))
    try:
        subject = " ".join(str(make_header(decode_header(subject))).split())  # folded elsewhere, same text
    except Exception:  # noqa: BLE001 - a broken encoded word is compared as written
        pass
    return sender, date, subject


def _text(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def start_of(day: date, zone: tzinfo) -> datetime:
    """Midnight of a calendar day in the chamber's zone, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=zone)
