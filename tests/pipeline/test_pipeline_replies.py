"""Every message gets the answer it deserves, queued with its final state, and no loop can form."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from builders import LIAISON, add_liaison, deliver, make_app, make_jpeg, make_mail
from sqlmodel import select

from mailflow.app import App
from mailflow.clock import FixedClock
from mailflow.daemon import Daemon
from mailflow.store import InboundMessage, Outbox


START = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def outbox(app: App) -> list[Outbox]:
    """The replies queued so far (the daily digest, also in the outbox, is not a reply)."""
    with app.store.session() as session:
        return list(session.exec(select(Outbox).where(Outbox.kind != "digest").order_by(Outbox.id)).all())


def one_pass(app: App, tmp_path: Path, *mails: bytes) -> None:
    for raw in mails:
        deliver(tmp_path / "Maildir", raw)
    assert Daemon(app).run_once().errors == []


def test_an_accepted_submission_is_acknowledged_with_its_reference(app: App, tmp_path: Path) -> None:
    photo = make_jpeg(width=1600, height=1200)
    one_pass(app, tmp_path, make_mail(message_id="<orig-1@hongda.cn>", attachments=[("现场.jpg", photo, "image/jpeg")]))
    (ack,) = outbox(app)
    assert (ack.kind, ack.recipients, ack.reference, ack.in_reply_to) == (
        "ack_submission",
        [LIAISON],
        "BS-2026-0001",
        "orig-1@hongda.cn",
    )
    assert ack.subject == "【已收到】BS-2026-0001 我公司参加2026中国机械工业博览会"
    assert "王芳：" in ack.text and "报送单位：宏达机械有限公司" in ack.text and "信息类别：工作动态" in ack.text
    assert "- 现场.jpg（1600×1200 像素）" in ack.text
    assert ack.state == "sent" and ack.auto_submitted == "auto-replied"

    # What the liaison receives: the .eml the file transport wrote, threaded and readable.
    (eml,) = (tmp_path / "var" / "outbox").glob("*.eml")
    received = email.message_from_bytes(eml.read_bytes())
    assert str(make_header(decode_header(received["Subject"]))) == ack.subject
    assert (received["In-Reply-To"], received["References"]) == ("<orig-1@hongda.cn>", "<orig-1@hongda.cn>")
    assert received["Auto-Submitted"] == "auto-replied" and received["Message-ID"] == f"<{ack.message_id}>"
    text, html = (part.get_payload(decode=True).decode("utf-8") for part in received.get_payload())
    assert "登记编号为 BS-2026-0001" in text and ">宏达机械有限公司</td>" in html


def test_a_rejected_message_gets_each_reason_and_how_to_fix_it(app: App, tmp_path: Path) -> None:
    small = make_jpeg(width=640, height=480)
    one_pass(app, tmp_path, make_mail(attachments=[("IMG_0012.jpg", small, "image/jpeg")]))
    (reply,) = outbox(app)
    assert reply.kind == "rejection" and reply.subject == "【未能受理】【报送】我公司参加2026中国机械工业博览会"
    assert (
        "- 照片 IMG_0012.jpg 为 640×480，低于 800×600 的要求。请发送不低于 800×600 像素的原图（在手机上选择“原图”发送）。"
        in reply.text
    )


def test_other_intents_are_acknowledged_under_a_number_of_their_own(app: App, tmp_path: Path) -> None:
    one_pass(app, tmp_path, make_mail(subject="【回执】2026年度联络员工作会议", message_id="<r1@x>"))
    (ack,) = outbox(app)
    assert (ack.kind, ack.reference) == ("ack_message", "SJ-2026-0001")
    assert ack.subject == "【已收到】SJ-2026-0001 【回执】2026年度联络员工作会议"
    assert "发送的会议回执已收到" in ack.text and "发件单位：宏达机械有限公司" in ack.text


def test_an_unknown_sender_hears_how_to_register_once_a_month(tmp_path: Path) -> None:
    clock = FixedClock(START)
    app = make_app(tmp_path, clock=clock)
    stranger = "someone@example.net"
    one_pass(
        app,
        tmp_path,
        make_mail(sender=stranger, subject="咨询一", message_id="<s1@x>"),
        make_mail(sender=stranger, subject="咨询二", message_id="<s2@x>"),
    )
    (reply,) = outbox(app)
    assert (reply.kind, reply.recipients) == ("unknown_sender", [stranger])
    assert "【登记】单位名称 姓名" in reply.text and "咨询一" in reply.text
    clock.advance(days=31)
    one_pass(app, tmp_path, make_mail(sender=stranger, subject="咨询三", message_id="<s3@x>"))
    assert [r.kind for r in outbox(app)] == ["unknown_sender", "unknown_sender"]
    app.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"List-Id": "<news.example.org>"},
        {"X-Autoreply": "yes"},
        {"X-Auto-Response-Suppress": "All"},
        {"Return-Path": "<>"},
    ],
    ids=lambda h: next(iter(h)),
)
def test_robots_and_lists_get_no_answer(app: App, tmp_path: Path, headers: dict[str, str]) -> None:
    one_pass(app, tmp_path, make_mail(headers=headers, message_id="<robot@x>"))
    assert outbox(app) == []
    with app.store.session() as session:
        (row,) = session.exec(select(InboundMessage)).all()
        assert row.state == "ignored"


def test_mailer_daemon_gets_no_answer(app: App, tmp_path: Path) -> None:
    one_pass(app, tmp_path, make_mail(sender="MAILER-DAEMON@mx.example.net", subject="Undelivered Mail"))
    assert outbox(app) == []


def test_replies_over_the_hourly_cap_wait_until_the_hour_frees_and_none_is_lost(tmp_path: Path) -> None:
    """GIVEN a liaison who sends 7 messages a minute apart, WHEN each is answered, THEN 5
    acknowledgements go at once and 2 wait, each until the hour frees for that address (an hour
    after the first and the second went), saying so; WHEN an hour has passed, THEN they go too."""
    clock = FixedClock(START)
    app = make_app(tmp_path, clock=clock)
    add_liaison(app)
    for n in range(7):
        one_pass(app, tmp_path, make_mail(subject=f"【报送】第{n}篇", message_id=f"<m{n}@x>"))
        clock.advance(minutes=1)
    replies = outbox(app)
    assert app.settings.outbound.max_replies_per_hour == 5
    assert [r.state for r in replies] == ["sent"] * 5 + ["queued"] * 2
    assert [(r.next_attempt_at, r.last_error) for r in replies[5:]] == [
        (START + timedelta(hours=1), "held back: 5 automatic replies to this address in the last hour; goes at 10:00"),
        (
            START + timedelta(hours=1, minutes=1),
            "held back: 5 automatic replies to this address in the last hour; goes at 10:01",
        ),
    ]

    clock.set(START + timedelta(minutes=59))
    one_pass(app, tmp_path)
    assert [r.state for r in outbox(app)] == ["sent"] * 5 + ["queued"] * 2, "not before the hour frees"
    clock.set(START + timedelta(hours=1, minutes=6))
    one_pass(app, tmp_path)
    replies = outbox(app)
    assert [(r.state, r.last_error) for r in replies] == [("sent", None)] * 7
    assert len(list((tmp_path / "var" / "outbox").glob("*.eml"))) == 7
    app.close()


def test_the_cap_counts_the_letters_waiting_as_well(tmp_path: Path) -> None:
    """GIVEN 12 messages from one liaison at once, WHEN they are answered, THEN 5 replies go now, 5
    wait an hour and the last 2 wait two: the ones waiting fill their own hour. WHEN the liaison
    writes again half an hour later, THEN that reply waits behind them."""
    clock = FixedClock(START)
    app = make_app(tmp_path, clock=clock)
    add_liaison(app)
    one_pass(app, tmp_path, *[make_mail(subject=f"【报送】第{n}篇", message_id=f"<m{n}@x>") for n in range(12)])
    clock.advance(minutes=30)
    one_pass(app, tmp_path, make_mail(subject="【报送】再一篇", message_id="<again@x>"))
    waiting = [r.next_attempt_at for r in outbox(app) if r.state == "queued"]
    assert waiting == [START + timedelta(hours=1)] * 5 + [START + timedelta(hours=2)] * 3
    app.close()


def test_reprocessing_never_sends_the_same_answer_twice(app: App, tmp_path: Path) -> None:
    small = make_jpeg(width=640, height=480)
    one_pass(app, tmp_path, make_mail(attachments=[("IMG_0012.jpg", small, "image/jpeg")]))
    (first,) = outbox(app)
    assert first.inbound_id is not None
    assert app.pipeline.reprocess(first.inbound_id) == "rejected"
    assert len(outbox(app)) == 1


def test_replies_are_written_in_the_configured_locale(tmp_path: Path) -> None:
    app = make_app(
        tmp_path, chamber={"locale": "en", "name": "Chamber", "secretariat": ["mishuchu@chamber.example.org"]}
    )
    add_liaison(app)
    one_pass(app, tmp_path, make_mail(subject="【报送】Expo", message_id="<en@x>"))
    (ack,) = outbox(app)
    assert ack.subject == "Received: BS-2026-0001 Expo"
    assert "Category: work news" in ack.text and "Dear 王芳," in ack.text
    app.close()


def test_a_strangers_registration_cannot_put_paragraphs_into_a_chamber_letter(app: App, tmp_path: Path) -> None:
    """GIVEN a stranger's registration whose display name and subject hold a whole phishing letter
    (encoded so that they decode to line breaks: LF in the subject, U+2028 in the name) WHEN it is
    acknowledged THEN the letter goes to the From address alone and carries the stranger's text only
    as single plain lines."""
    scam = "\n\n紧急通知：会费账户已变更\n\n- 账号：6222 0000 1111\n\n| 户名 | 某某贸易 |"
    raw = make_mail(
        sender="someone@example.net",
        sender_name="李明" + scam.replace("\n", "\u2028"),
        subject="【登记】" + scam,
        headers={"Reply-To": "collector@evil.example", "Cc": "leader@hongda-machinery.cn"},
        message_id="<reg@x>",
    )
    one_pass(app, tmp_path, raw)
    (ack,) = outbox(app)
    assert (ack.kind, ack.recipients) == ("ack_registration", ["someone@example.net"])
    lines = ack.text.splitlines()
    assert not any(line.startswith(("- 账号", "| 户名", "紧急通知")) for line in lines)
    assert any(line.startswith("李明 紧急通知：会费账户已变更 - 账号：6222 0000 1111 | 户名 |") for line in lines)
    assert "<li>" not in (ack.html or "") and "某某贸易</td>" not in (ack.html or "")
