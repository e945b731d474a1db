"""The one door from workflow code to the database: find, add, number, queue, audit.

It wraps the batch's session, so that a workflow never commits, flushes or rolls back (the
pipeline decides where the transaction ends, and a batch of a hundred messages commits once),
finds rows it added earlier in the same batch (no autoflush), and takes reference numbers that
are never handed out twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlmodel import Session, SQLModel

from mailflow.outbound.mime import OutgoingPart
from mailflow.outbound.outbox import Draft, queue, queue_to_each
from mailflow.outbound.parts import attach
from mailflow.outbound.render import Renderer, local_date
from mailflow.store import AuditEntry, BlobStore, Outbox
from mailflow.store.db import find_one
from mailflow.workflows.contract import localized
from mailflow.workflows.references import next_reference

T = TypeVar("T", bound=SQLModel)


class Tx:
    def __init__(
        self,
        session: Session,
        *,
        now: datetime,
        zone: ZoneInfo,
        message_id_domain: str,
        renderer: Renderer | None = None,
        parts: BlobStore | None = None,
    ) -> None:
        self.session = session  # for the queries a workflow's own tables need; never commit on it
        self.now = now
        self.zone = zone
        self.message_id_domain = message_id_domain
        self.renderer = renderer
        self.parts = parts  # where the files letters carry are kept (data/outgoing)

    def find(self, model: type[T], field: str, value: Any) -> T | None:
        """The row whose `field` equals `value`, including one added earlier in this transaction."""
        return find_one(self.session, model, field, value)

    def get(self, model: type[T], key: Any) -> T | None:
        return self.session.get(model, key)

    def add(self, row: T) -> T:
        self.session.add(row)
        return row

    def reference(self, prefix: str) -> str:
        """The next number for `prefix` this year in the chamber's zone: BS-2026-0042."""
        return next_reference(self.session, prefix, self.now, self.zone)

    def queue(self, draft: Draft) -> Outbox:
        """Queue a letter under its dedupe key (a second call with that key returns the first row)."""
        return queue(self.session, draft, now=self.now, message_id_domain=self.message_id_domain)

    def audit(
        self,
        *,
        actor: str,
        role: str,
        via: str,
        command: str,
        line: str,
        ok: bool,
        result: str,
        record: str | None = None,
        inbound_id: int | None = None,
    ) -> AuditEntry:
        """Write down a command: who, from which message, what, on which record, with what result."""
        return self.add(
            AuditEntry(
                at=self.now, actor=actor[:320], role=role, via=via, inbound_id=inbound_id, command=command[:40],
                line=line[:1000], record=record[:100] if record else None, ok=ok, result=result,
            )
        )  # fmt: skip

    def attach(self, data: bytes, filename: str, content_type: str | None = None) -> OutgoingPart:
        """Keep a file for letters to carry (once by content, synced before the letter commits)."""
        if self.parts is None:
            raise RuntimeError("this transaction cannot attach files (no store for outgoing parts given)")
        return attach(self.parts, data, filename, content_type)

    def letter(
        self,
        kind: str,
        to: str,
        values: dict[str, Any],
        *,
        key: str,
        reference: str | None = None,
        attachments: Sequence[OutgoingPart] = (),
    ) -> Outbox:
        """Render a letter of `kind` in the chamber's locale and queue it under `key` (once, ever)."""
        if self.renderer is None:
            raise RuntimeError("this transaction cannot write letters (no templates given)")
        when = local_date(self.now, self.zone, self.renderer.locale)
        rendered = self.renderer.render(kind, localized(values, self.renderer.locale), sent_on=when)
        draft = Draft(
            key=key, kind=kind, recipients=[to], rendered=rendered, reference=reference, attachments=attachments
        )
        return self.queue(draft)

    def letters(
        self,
        kind: str,
        to: Mapping[str, str],
        values: dict[str, Any],
        *,
        reference: str | None = None,
        attachments: Sequence[OutgoingPart] = (),
    ) -> int:
        """The same letter of `kind` to many: `to` maps each letter's dedupe key to its address.

        The keys must name something that happens once, now (under a reference just taken): the
        letter is rendered once, and the rows go into the outbox with no look-up, a thousand to a
        statement (the driver's page), and one more statement for the parts they share: the SQL does
        not grow with the recipients below a thousand, and by one statement per thousand beyond. A
        key queued before is refused by the database, failing the transaction.
        """
        if self.renderer is None:
            raise RuntimeError("this transaction cannot write letters (no templates given)")
        locale = self.renderer.locale
        rendered = self.renderer.render(
            kind, localized(values, locale), sent_on=local_date(self.now, self.zone, locale)
        )
        draft = Draft(key="", kind=kind, recipients=(), rendered=rendered, reference=reference, attachments=attachments)
        return queue_to_each(self.session, draft, to, now=self.now, message_id_domain=self.message_id_domain)

    def local(self, when: datetime | None = None) -> datetime:
        return (when or self.now).astimezone(self.zone)
