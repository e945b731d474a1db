"""Helpers for the submission tests: run a pass over real mail, read what was stored and sent."""

from __future__ import annotations

from typing import Any

from builders import deliver
from sqlmodel import col, select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.store import InboundMessage, Outbox, Submission, SubmissionVersion

REVIEWED = "本稿已经单位负责人审核。"


def one_pass(app: App, raw: bytes) -> InboundMessage:
    deliver(app.settings.data_dir.parent / "Maildir", raw)
    assert not Daemon(app).run_once().errors
    with app.store.session() as session:
        return session.exec(select(InboundMessage).order_by(col(InboundMessage.id).desc())).first()  # type: ignore[return-value]


def letters(app: App, to: str) -> list[Outbox]:
    with app.store.session() as session:
        rows = session.exec(select(Outbox).where(Outbox.kind != "digest").order_by(col(Outbox.id))).all()
    return [row for row in rows if to in row.recipients]


def submissions(app: App) -> list[Submission]:
    with app.store.session() as session:
        return list(session.exec(select(Submission).order_by(col(Submission.id))).all())


def versions(app: App, reference: str) -> list[SubmissionVersion]:
    with app.store.session() as session:
        sub = session.exec(select(Submission).where(Submission.reference == reference)).one()
        query = select(SubmissionVersion).where(SubmissionVersion.submission_id == sub.id)
        return list(session.exec(query.order_by(col(SubmissionVersion.version))).all())


def reply_to(letter: Outbox, **fields: Any) -> dict[str, Any]:
    """make_mail keywords for a reply to `letter`, as a mail client writes one."""
    return {
        "subject": "回复：" + letter.subject,
        "headers": {"In-Reply-To": f"<{letter.message_id}>", "References": f"<{letter.message_id}>"},
        **fields,
    }
