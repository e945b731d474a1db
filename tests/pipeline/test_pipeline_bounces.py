"""Bounces of our mail are matched to the outbox row by our Message-ID: the row is marked bounced,
the address flagged; delays and bounces of mail that is not ours change nothing. A flagged
address is not mailed (its letters are dead with the reason) until it writes to us again;
soft bounces flag it only at the third within seven days, for seven days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from builders import LIAISON, add_liaison, deliver, make_app, make_mail, make_settings
from sqlmodel import col, select

from mailflow.app import App, build_app
from mailflow.clock import FixedClock
from mailflow.daemon import Daemon
from mailflow.outbound.outbox import Draft, queue, verp_address
from mailflow.outbound.render import Rendered
from mailflow.outbound.transports import MemoryTransport
from mailflow.store import AddressFlag, InboundMessage, Outbox, OutboxState

DOMAIN = "mailflow.chamber.example.org"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = make_app(tmp_path)
    yield application
    application.close()


def sent_letter(app: App, key: str = "ack:1", to: str = LIAISON) -> Outbox:
    with app.store.session() as session:
        row = queue(
            session,
            Draft(
                key=key,
                kind="ack_submission",
                recipients=[to],
                rendered=Rendered("【已收到】BS-2026-0001", "正文\n", "<p>正文</p>"),
            ),
            now=datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
            message_id_domain=DOMAIN,
        )
        row.state = "sent"
        session.flush()
        session.refresh(row)
        return row


def dsn(message_id: str, *, action: str = "failed", status: str = "5.1.1", diagnostic: str = "", n: int = 0) -> bytes:
    diagnostic = diagnostic or f"550 {status} user unknown"
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.hongda-machinery.cn>
To: mishuchu@chamber.example.org
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{status}-{n}@mx.hongda-machinery.cn>
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
Diagnostic-Code: smtp; {diagnostic}

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


def letter_to(app: App, key: str, to: str = LIAISON) -> int:
    """A letter queued now, as any workflow queues one."""
    with app.store.session() as session:
        row = queue(
            session,
            Draft(key=key, kind="notice", recipients=[to], rendered=Rendered("【通知】", "正文\n", "<p>正文</p>")),
            now=app.clock.now(),
            message_id_domain=DOMAIN,
        )
        session.flush()
        return row.id or 0


def test_a_folded_diagnostic_code_is_read_whole(app: App, tmp_path: Path) -> None:
    """GIVEN a DSN whose Diagnostic-Code Postfix folded over several lines, WHEN it is read, THEN the
    letter's reason holds the whole diagnostic, not its first line."""
    letter = sent_letter(app)
    folded = (
        "550-5.1.1 The email account that you tried to reach does\n"
        "    not exist. Please try double-checking the recipient's email address for\n"
        "    typos or unnecessary spaces. For more information, go to\n"
        "    https://support.google.com/mail/?p=NoSuchUser 41be03b00d2f7-b4c1f2a3e5si - gsmtp"
    )
    run(app, tmp_path, dsn(letter.message_id, diagnostic=folded))
    assert state_of(app, letter.id).last_error == (
        "5.1.1 smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces. For more "
        "information, go to https://support.google.com/mail/?p=NoSuchUser 41be03b00d2f7-b4c1f2a3e5si - gsmtp"
    )


def test_after_a_hard_bounce_the_address_is_not_mailed_until_it_writes_to_us(tmp_path: Path) -> None:
    """GIVEN a letter that bounced for good (5.1.1), WHEN more letters to that address fall due, THEN
    each is dead with the reason and the date, and listed in the digest, while letters to others
    go; WHEN the address writes to us again, THEN it is mailed again (its acknowledgement goes)."""
    app = make_app(tmp_path, clock=FixedClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)))
    add_liaison(app)
    run(app, tmp_path, dsn(sent_letter(app).message_id))
    held, other = letter_to(app, "notice:1"), letter_to(app, "notice:2", to="liyang@unit.example.cn")
    Daemon(app).run_once()
    reason = (
        "address bounced on 2026-11-24 01:00 UTC: 5.1.1 smtp; 550 5.1.1 user unknown; "
        "correct it or wait for mail from it"
    )
    assert (state_of(app, held).state, state_of(app, held).last_error) == (OutboxState.DEAD, reason)
    assert state_of(app, other).state == OutboxState.SENT
    assert isinstance(app.clock, FixedClock)
    app.clock.advance(days=1)  # the next morning's digest
    app.scheduler.run_due()
    with app.store.session() as session:
        digest = session.exec(select(Outbox).where(Outbox.kind == "digest")).one()
    assert f"| #{held} | {LIAISON}《【通知】》 发送失败：{reason} | #重发 {held} |" in digest.text

    run(app, tmp_path, make_mail(subject="【报送】新产品发布"))
    with app.store.session() as session:
        assert session.exec(select(AddressFlag)).all() == []
        ack = session.exec(select(Outbox).where(col(Outbox.inbound_id).is_not(None))).one()
    assert ack.recipients == [LIAISON] and ack.state == OutboxState.SENT
    app.close()


def test_soft_bounces_stop_mail_at_the_third_within_seven_days_and_are_forgotten_after_seven(
    tmp_path: Path,
) -> None:
    """GIVEN delay notices (4.2.2, mailbox full) for an address, WHEN two have come, THEN it is still
    mailed; WHEN a third comes within seven days, THEN its letters are dead with the reason; WHEN
    seven more days pass, THEN it is mailed again."""
    clock = FixedClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    app = make_app(tmp_path, clock=clock)
    letter = sent_letter(app)
    for n in range(2):
        run(app, tmp_path, dsn(letter.message_id, action="delayed", status="4.2.2", n=n))
        clock.advance(days=3)
    first = letter_to(app, "notice:1")
    Daemon(app).run_once()
    assert state_of(app, first).state == OutboxState.SENT

    run(app, tmp_path, dsn(letter.message_id, action="delayed", status="4.2.2", n=2))
    second = letter_to(app, "notice:2")
    Daemon(app).run_once()
    dead = state_of(app, second)
    assert dead.state == OutboxState.DEAD
    assert (dead.last_error or "").startswith(
        "address bounced on 2026-11-30 01:00 UTC: 3 temporary failures within 7 days, the last: 4.2.2"
    )

    clock.advance(days=7, seconds=1)
    third = letter_to(app, "notice:3")
    Daemon(app).run_once()
    assert state_of(app, third).state == OutboxState.SENT
    app.close()


def test_a_bounce_that_blames_our_mail_does_not_silence_the_address(app: App, tmp_path: Path) -> None:
    """GIVEN a letter refused for good as spam (5.7.1: the fault is the letter's or ours, not the
    address's), WHEN the bounce is read, THEN the letter is bounced and the address still mailed."""
    letter = sent_letter(app)
    run(app, tmp_path, dsn(letter.message_id, status="5.7.1", diagnostic="554 5.7.1 message rejected as spam"))
    assert state_of(app, letter.id).state == "bounced"
    later = letter_to(app, "notice:1")
    Daemon(app).run_once()
    assert state_of(app, later).state == OutboxState.SENT
