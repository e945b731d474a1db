"""The outbox: every outgoing email is a row, queued in the caller's transaction under a dedupe key.

Queueing twice under one key returns the row already there, so a workflow that runs again
(a reprocess, a restart, a second daemon) never sends the same letter twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr

from sqlmodel import Session

from mailflow.outbound.render import Rendered, one_line
from mailflow.store import Outbox, OutboxState
from mailflow.store.db import find_one

_WIRE = compat32.clone(linesep="\r\n")


def new_message_id(domain: str, now: datetime) -> str:
    return f"{now.strftime('%Y%m%d%H%M%S')}.{secrets.token_hex(8)}@{domain}"


def queue(
    session: Session,
    *,
    key: str,
    kind: str,
    recipients: Sequence[str],
    rendered: Rendered,
    now: datetime,
    message_id_domain: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    auto_submitted: str = "auto-generated",
    inbound_id: int | None = None,
    reference: str | None = None,
) -> Outbox:
    """Add a message to the outbox unless one with `key` is there already; return the row."""
    existing = find_one(session, Outbox, "dedupe_key", key)
    if existing is not None:
        return existing
    row = Outbox(
        dedupe_key=key,
        kind=kind,
        recipients=[one_line(r) for r in recipients],
        subject=one_line(rendered.subject),
        text=rendered.text,
        html=rendered.html,
        message_id=new_message_id(message_id_domain, now),
        in_reply_to=in_reply_to,
        references=" ".join([*references, in_reply_to] if in_reply_to and in_reply_to not in references else references)
        or None,
        auto_submitted=auto_submitted,
        state=OutboxState.QUEUED,
        next_attempt_at=now,
        created_at=now,
        inbound_id=inbound_id,
        reference=reference,
    )
    session.add(row)
    return row


def build_message(row: Outbox, *, sender: str, sender_name: str) -> bytes:
    """The bytes on the wire: multipart/alternative, UTF-8, our Message-ID, threading, Auto-Submitted.

    Built with the email package's compat32 classes, which write the same message three
    times faster than the default policy's EmailMessage; lines end in CRLF, as SMTP wants.
    """
    msg = MIMEMultipart("alternative")
    msg["From"] = formataddr((str(Header(one_line(sender_name), "utf-8")), sender)) if sender_name else sender
    msg["To"] = ", ".join(row.recipients)
    msg["Subject"] = Header(row.subject, "utf-8", header_name="Subject")  # type: ignore[assignment]
    msg["Date"] = format_datetime(row.created_at or datetime.now(UTC))
    msg["Message-ID"] = f"<{row.message_id}>"
    if row.in_reply_to:
        msg["In-Reply-To"] = f"<{row.in_reply_to}>"
    if row.references:
        msg["References"] = " ".join(f"<{r}>" for r in row.references.split())
    # RFC 3834: say that a program wrote this, so that well-behaved systems do not answer it;
    # the second header asks Exchange not to send its out-of-office replies either.
    msg["Auto-Submitted"] = row.auto_submitted
    msg["X-Auto-Response-Suppress"] = "All"
    msg.attach(MIMEText(row.text, "plain", "utf-8"))
    msg.attach(MIMEText(row.html, "html", "utf-8"))
    return msg.as_bytes(policy=_WIRE)
