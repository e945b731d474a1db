"""The outbox: every outgoing email is a row, queued in the caller's transaction under a dedupe key.

Queueing twice under one key returns the row already there, so a workflow that runs again
(a reprocess, a restart, a second daemon) never sends the same letter twice. A letter's parts
(files, inline images, an invitation) are stored first, once, with `attach`, and linked to its
row in the same transaction (see outbound.parts); the letter is built when it goes (outbound.mime).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from mailflow.outbound.mime import OutgoingPart as OutgoingPart
from mailflow.outbound.mime import Sendable as Sendable
from mailflow.outbound.mime import build_message as build_message
from mailflow.outbound.mime import wire_address as wire_address
from mailflow.outbound.parts import PARTS_TABLE, part_values
from mailflow.outbound.parts import attach as attach
from mailflow.outbound.render import Rendered, one_line
from mailflow.store import Outbox, OutboxBody, OutboxPart, OutboxState
from mailflow.store.db import find_one

OUTBOX_TABLE = Outbox.metadata.tables["outbox"]
BODY_TABLE = Outbox.metadata.tables["outbox_body"]
_INSERT_BODY = insert(BODY_TABLE).returning(BODY_TABLE.c.id)
# The new rows' ids, named by their keys: a batch's rows come back in no set order, and asking for
# the drafts' order (sort_by_parameter_order) makes SQLAlchemy insert them one at a time on SQLite,
# which has no sentinel for it. By key, the rows go in batches of a thousand in one statement each.
_INSERT_RETURNING_ID = insert(OUTBOX_TABLE).returning(OUTBOX_TABLE.c.id, OUTBOX_TABLE.c.dedupe_key)


def new_message_id(domain: str, now: datetime) -> str:
    return new_message_ids(domain, now, 1)[0]


def new_message_ids(domain: str, now: datetime, count: int) -> list[str]:
    """`count` Message-IDs, each with 64 random bits of its own (drawn in one call: a letter to
    thousands asked the system for randomness thousands of times)."""
    stamp = now.strftime("%Y%m%d%H%M%S")
    random = secrets.token_hex(8 * count)
    return [f"{stamp}.{random[i : i + 16]}@{domain}" for i in range(0, 16 * count, 16)]


@dataclass(frozen=True)
class Draft:
    """A letter to queue: its dedupe key, what it is, to whom, its rendered parts and threading."""

    key: str
    kind: str
    recipients: Sequence[str]
    rendered: Rendered
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    auto_submitted: str = "auto-generated"
    inbound_id: int | None = None
    reference: str | None = None  # the record it belongs to, e.g. BS-2026-0042
    not_before: datetime | None = None  # held back until then (the hourly cap); None: due now
    notice: str | None = None  # why it waits, shown with the letter until it goes
    attachments: Sequence[OutgoingPart] = ()  # in order; made with `attach`, shared by every draft that carries them


def queue(session: Session, draft: Draft, *, now: datetime, message_id_domain: str) -> Outbox:
    """Add a letter to the outbox unless one with its key is there already; return the row."""
    existing = find_one(session, Outbox, "dedupe_key", draft.key)
    if existing is not None:
        return existing
    row = Outbox(**_values(draft, now, new_message_id(message_id_domain, now)))
    session.add(row)
    if draft.attachments:
        session.flush()  # the row's id, for its parts; a letter without parts waits for the caller's flush
        assert row.id is not None
        session.add_all([OutboxPart(**values) for values in part_values(row.id, draft.attachments)])
    return row


def queue_once(session: Session, *drafts: Draft, now: datetime, message_id_domain: str) -> None:
    """Add letters whose keys the caller knows to be new (each names something that happens once,
    now): no lookup, and the rows are inserted at once in one statement, without ORM objects (a
    third of the cost of `queue` for one letter, less still for many). The unique constraint still
    refuses a second row. When some carry parts, the rows' ids come back from the same statement
    (one per thousand rows, the driver's page) and the parts of all of them go in one more."""
    ids = new_message_ids(message_id_domain, now, len(drafts))
    rows = [_values(draft, now, message_id) for draft, message_id in zip(drafts, ids, strict=True)]
    _insert(session, rows, {draft.key: draft.attachments for draft in drafts if draft.attachments})


def queue_to_each(
    session: Session, draft: Draft, to: Mapping[str, str], *, now: datetime, message_id_domain: str
) -> int:
    """The letter `draft` to each address of `to`, which maps each letter's dedupe key to its
    address, as `queue_once` (keys new, one statement): a circular to thousands is one dictionary
    copied, not thousands of drafts, and its text and HTML are stored once (OutboxBody), which the
    rows name: 5,000 copies of them made the queueing commit, and every take of the sender, write
    ten megabytes more. `draft.key` and `draft.recipients` are not used."""
    if not to:
        return 0
    base = _values(draft, now, "")
    body = {"text": base["text"], "html": base["html"]}
    base |= {"text": "", "html": "", "body_id": session.connection().execute(_INSERT_BODY, body).scalar_one()}
    ids = new_message_ids(message_id_domain, now, len(to))
    rows = [
        base | {"dedupe_key": key, "recipients": [one_line(address)], "message_id": message_id}
        for (key, address), message_id in zip(to.items(), ids, strict=True)
    ]
    _insert(session, rows, dict.fromkeys(to, draft.attachments) if draft.attachments else {})
    return len(rows)


def _insert(session: Session, rows: list[dict[str, Any]], attachments: Mapping[str, Sequence[OutgoingPart]]) -> None:
    """The rows in one statement (a thousand to a page); the parts of those that carry some in one more."""
    if not rows:
        return
    if not attachments:
        session.connection().execute(insert(OUTBOX_TABLE), rows)
        return
    ids = {key: id_ for id_, key in session.connection().execute(_INSERT_RETURNING_ID, rows)}
    links = [values for key, parts in attachments.items() for values in part_values(ids[key], parts)]
    session.connection().execute(insert(PARTS_TABLE), links)


def _values(draft: Draft, now: datetime, message_id: str) -> dict[str, Any]:
    in_reply_to, references = draft.in_reply_to, list(draft.references)
    if in_reply_to and in_reply_to not in references:
        references = [*references, in_reply_to]
    return {
        "dedupe_key": draft.key,
        "kind": draft.kind,
        "recipients": [one_line(r) for r in draft.recipients],
        "subject": one_line(draft.rendered.subject),
        "text": draft.rendered.text,
        "html": draft.rendered.html,
        "body_id": None,
        "message_id": message_id,
        "in_reply_to": in_reply_to,
        "references": " ".join(references) or None,
        "auto_submitted": draft.auto_submitted,
        "state": OutboxState.QUEUED,
        "attempts": 0,
        "next_attempt_at": draft.not_before or now,
        "last_error": draft.notice,
        "created_at": now,
        "inbound_id": draft.inbound_id,
        "reference": draft.reference,
    }


def letter_body(session: Session, row: Outbox) -> tuple[str, str]:
    """A queued letter's text and HTML, its own or the one it shares."""
    if row.body_id is None:
        return row.text, row.html
    body = session.get(OutboxBody, row.body_id)
    return (body.text, body.html) if body is not None else ("", "")


def verp_address(base: str, row: Sendable) -> str:
    """The envelope sender that names the letter (VERP): mishuchu+123.9f2c41d0@chamber.example.org.

    A bounce is sent to it, so the bounce names the outbox row even when it quotes nothing of
    the letter. The eight hex digits come from the letter's random Message-ID part, so that a
    forged bounce cannot mark another letter bounced by guessing its number.
    """
    local, _, domain = base.rpartition("@")
    return f"{local}+{row.id}.{_verp_token(row.message_id)}@{domain}"


def read_verp(address: str, base: str) -> tuple[int, str] | None:
    """(row id, token) from an address `verp_address` made with `base`, else None."""
    local, _, domain = base.lower().rpartition("@")
    match = re.fullmatch(rf"{re.escape(local)}\+(\d+)\.([0-9a-f]{{8}})@{re.escape(domain)}", address.strip().lower())
    return (int(match.group(1)), match.group(2)) if match else None


def verp_matches(row: Sendable, token: str) -> bool:
    return _verp_token(row.message_id) == token


def _verp_token(message_id: str) -> str:
    return message_id.split("@", 1)[0].rsplit(".", 1)[-1][:8].lower()
