"""Bounces of our mail are matched to the outbox row by our Message-ID: the row is marked bounced,
the address flagged; delays and bounces of mail that is not ours change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from builders import LIAISON, deliver, make_app, make_settings
from sqlmodel import select

from mailflow.app import App, build_app
from mailflow.daemon import Daemon
from mailflow.outbound.outbox import Draft, queue, verp_address
from mailflow.outbound.render import Rendered
from mailflow.outbound.transports import MemoryTransport
from mailflow.store import AddressFlag, InboundMessage, Outbox

DOMAIN = "mailflow.chamber.example.org"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = make_app(tmp_path)
    yield application
    application.close()


def sent_letter(app: App) -> Outbox:
    with app.store.session() as session:
        row = queue(
            session,
            Draft(
                key="ack:1",
                kind="ack_submission",
                recipients=[LIAISON],
                rendered=Rendered("【已收到】BS-2026-0001", "正文\n", "<p>正文</p>"),
            ),
            now=datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
            message_id_domain=DOMAIN,
        )
        row.state = "sent"
        session.flush()
        session.refresh(row)
        return row


def dsn(message_id: str, *, action: str = "failed", status: str = "5.1.1") -> bytes:
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.hongda-machinery.cn>
To: mishuchu@chamber.example.org
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{status}@mx.hongda-machinery.cn>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.hongda-machinery.cn

Final-Recipient: rfc822; {LIAISON}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} user unknown

--B
Content-Type: text/rfc822-headers

From: mishuchu@chamber.example.org
To: {LIAISON}
Subject: =?utf-8?b?44CQ5bey5pS25Yiw44CR?=
Message-ID: <{message_id}>

--B--
""".encode()


def run(app: App, tmp_path: Path, raw: bytes) -> None:
    deliver(tmp_path / "Maildir", raw)
    assert Daemon(app).run_once().errors == []


def state_of(app: App, row_id: int | None) -> Outbox:
    with app.store.session() as session:
        found = session.get(Outbox, row_id)
        assert found is not None
        return found


def test_a_bounce_marks_our_letter_bounced_and_flags_the_address(app: App, tmp_path: Path) -> None:
    letter = sent_letter(app)
    run(app, tmp_path, dsn(letter.message_id))
    bounced = state_of(app, letter.id)
    assert bounced.state == "bounced" and bounced.last_error == "5.1.1 smtp; 550 5.1.1 user unknown"
    with app.store.session() as session:
        (flag,) = session.exec(select(AddressFlag)).all()
        (inbound,) = session.exec(select(InboundMessage)).all()
    assert (flag.email, flag.bounces) == (LIAISON, 1)
    assert (inbound.state, inbound.intent) == ("ignored", "bounce")


def test_a_delay_notice_is_noted_but_the_letter_stays_sent(app: App, tmp_path: Path) -> None:
    letter = sent_letter(app)
    run(app, tmp_path, dsn(letter.message_id, action="delayed", status="4.4.1"))
    row = state_of(app, letter.id)
    assert row.state == "sent" and (row.last_error or "").startswith("delayed: 4.4.1")


def test_a_bounce_quoting_our_message_id_in_plain_text_is_matched(app: App, tmp_path: Path) -> None:
    letter = sent_letter(app)
    raw = f"""From: MAILER-DAEMON@qq.com
To: mishuchu@chamber.example.org
Subject: failure notice
Message-ID: <qmail-1@qq.com>

Hi. This is the qmail-send program. I'm afraid I wasn't able to deliver your message.
<{LIAISON}>: 550 Mailbox not found.
--- Below this line is a copy of the message.
Message-ID: <{letter.message_id}>
""".encode()
    run(app, tmp_path, raw)
    assert state_of(app, letter.id).state == "bounced"


def test_a_bounce_of_mail_that_is_not_ours_changes_nothing(app: App, tmp_path: Path) -> None:
    letter = sent_letter(app)
    run(app, tmp_path, dsn("someone-else@other.example.org"))
    assert state_of(app, letter.id).state == "sent"
    with app.store.session() as session:
        assert session.exec(select(AddressFlag)).all() == []


def bare_bounce(to: str) -> bytes:
    """A bounce that quotes nothing of the letter: only the address it was sent to names it."""
    return f"""From: postmaster@mx.hongda-machinery.cn
To: {to}
Subject: Delivery failure
Message-ID: <bare-1@mx.hongda-machinery.cn>
Return-Path: <>

Your message could not be delivered: mailbox full.
""".encode()


def test_with_verp_a_bounce_is_matched_by_the_address_it_was_sent_to(tmp_path: Path) -> None:
    app = make_app(tmp_path, outbound={"verp": True, "from_address": "mishuchu@chamber.example.org"})
    letter = sent_letter(app)
    envelope = verp_address("mishuchu@chamber.example.org", letter)
    assert envelope.startswith(f"mishuchu+{letter.id}.") and envelope.endswith("@chamber.example.org")
    run(app, tmp_path, bare_bounce(envelope))
    assert state_of(app, letter.id).state == "bounced"
    app.close()


def test_a_verp_address_with_a_wrong_check_matches_nothing(tmp_path: Path) -> None:
    app = make_app(tmp_path, outbound={"verp": True, "from_address": "mishuchu@chamber.example.org"})
    letter = sent_letter(app)
    run(app, tmp_path, bare_bounce(f"mishuchu+{letter.id}.00000000@chamber.example.org"))
    assert state_of(app, letter.id).state == "sent"
    app.close()


def test_with_verp_each_letter_leaves_with_its_own_envelope_sender(tmp_path: Path) -> None:
    transport = MemoryTransport()
    app = build_app(
        make_settings(tmp_path, outbound={"verp": True, "from_address": "mishuchu@chamber.example.org"}),
        transport=transport,
    )
    letter = sent_letter(app)
    with app.store.session() as session:
        row = session.get(Outbox, letter.id)
        assert row is not None
        row.state = "queued"
    app.dispatcher.run()
    (sent,) = transport.outbox
    assert sent.sender == verp_address("mishuchu@chamber.example.org", letter)
    app.close()
