"""Builders for the requests' tests: units with liaisons, the secretariat's #征集 mail, and what came of it."""

from __future__ import annotations

import os
from datetime import datetime

from builders import PASSED, SECRETARIAT, deliver, make_mail
from sqlmodel import col, select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.outbound.outbox import letter_body
from mailflow.store import InboundMessage, InfoRequest, Liaison, Outbox, RequestRecipient, Unit

SECURITY = {"trusted_authserv_ids": ["mx.chamber.example.org"]}
TITLE = "2026年度会员企业经营情况调查"
SUBJECT = f"#征集 {TITLE} 截止 2026-12-15 全体联络员"
BODY = "各会员单位联络员：\n\n请报送贵单位2026年1-11月主要经济指标及发展中遇到的困难。\n\n商会秘书处"


def add_units(app: App, count: int, *, without: int = 0) -> None:
    """Units U001 … with a leader and an active liaison each; then `without` units with no liaison."""
    with app.store.session() as session:
        units = [
            Unit(
                name=f"第{n}机械有限公司",
                code=f"U{n:03d}",
                leader_name=f"负责人{n}",
                leader_email=f"boss{n}@unit{n}.cn",
            )
            for n in range(1, count + without + 1)
        ]
        session.add_all(units)
        session.flush()
        session.add_all(
            [Liaison(unit_id=u.id or 0, name=f"联络员{n}", email=f"liaison{n}@unit{n}.cn") for n, u in enumerate(units[:count], 1)]
        )  # fmt: skip


def secretariat(
    app: App, *, subject: str = SUBJECT, body: str = BODY, proven: bool = True, mid: str = "<zj-1@chamber.example.org>"
) -> None:
    headers = {"Authentication-Results": PASSED} if proven else {}
    raw = make_mail(
        sender=SECRETARIAT, sender_name="秘书处", subject=subject, body=body, headers=headers, message_id=mid
    )
    deliver_now(app, raw)
    Daemon(app).run_once()


def rows(app: App, kind: str) -> list[Outbox]:
    with app.store.session() as session:
        return list(session.exec(select(Outbox).where(Outbox.kind == kind).order_by(col(Outbox.id))).all())


def requests(app: App) -> list[InfoRequest]:
    with app.store.session() as session:
        return list(session.exec(select(InfoRequest).order_by(col(InfoRequest.id))).all())


def recipients(app: App) -> list[RequestRecipient]:
    with app.store.session() as session:
        return list(session.exec(select(RequestRecipient).order_by(col(RequestRecipient.unit_id))).all())


def last_message(app: App) -> InboundMessage:
    with app.store.session() as session:
        return session.exec(select(InboundMessage).order_by(col(InboundMessage.id).desc())).first()  # type: ignore[return-value]


def liaison_mail(
    app: App,
    n: int,
    *,
    subject: str,
    body: str,
    replying: Outbox | None = None,
    sender: str | None = None,
    attachments: list[tuple[str, bytes, str]] | None = None,
    at: datetime | None = None,
) -> InboundMessage:
    """Liaison n's (or `sender`'s) mail, a reply to `replying` when given; one pass; the message as it ended."""
    headers = {"In-Reply-To": f"<{replying.message_id}>"} if replying is not None else {}
    raw = make_mail(
        sender=sender or f"liaison{n}@unit{n}.cn", sender_name=f"联络员{n}", subject=subject, body=body,
        headers=headers, attachments=attachments, date=at,
    )  # fmt: skip
    deliver_now(app, raw)
    Daemon(app).run_once()
    return last_message(app)


def deliver_now(app: App, raw: bytes) -> None:
    """Into the Maildir, delivered now by the test's clock (the file's time is the delivery time)."""
    maildir = app.settings.data_dir.parent / "Maildir"
    key = deliver(maildir, raw)
    stamp = app.clock.now().timestamp()
    os.utime(maildir / "new" / key, (stamp, stamp))


def text_of(app: App, letter: Outbox) -> str:
    """A letter's text, stored once for all its copies when it went to many."""
    with app.store.session() as session:
        return letter_body(session, letter)[0]
