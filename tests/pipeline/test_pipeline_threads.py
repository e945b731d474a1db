"""GIVEN answers to letters we sent WHEN a pass runs THEN each is a reply in that letter's thread,
never a new record, and a thread is answered automatically at most once more."""

from __future__ import annotations

from pathlib import Path

from builders import LIAISON, deliver, make_mail
from sqlmodel import select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.store import InboundMessage, Outbox, Registration, Submission


def one_pass(app: App, tmp_path: Path, raw: bytes) -> InboundMessage:
    deliver(tmp_path / "Maildir", raw)
    assert not Daemon(app).run_once().errors
    with app.store.session() as session:
        return session.exec(select(InboundMessage).order_by(InboundMessage.id.desc())).first()  # type: ignore[union-attr]


def letters(app: App, to: str) -> list[Outbox]:
    with app.store.session() as session:
        rows = session.exec(select(Outbox).where(Outbox.kind != "digest").order_by(Outbox.id)).all()
    return [row for row in rows if to in row.recipients]


def count(app: App, model: type) -> int:
    with app.store.session() as session:
        return len(session.exec(select(model)).all())


def test_a_reply_to_our_acknowledgement_is_a_reply_not_a_new_submission(app: App, tmp_path: Path) -> None:
    one_pass(app, tmp_path, make_mail(message_id="<first@hongda>"))
    (ack,) = letters(app, LIAISON)
    reply = make_mail(
        subject="回复：" + ack.subject,  # still says 【报送】: the rules alone would make it a submission
        headers={"In-Reply-To": f"<{ack.message_id}>", "References": f"<first@hongda> <{ack.message_id}>"},
        message_id="<second@hongda>",
    )
    row = one_pass(app, tmp_path, reply)
    assert (row.state, row.intent, [r["code"] for r in row.reasons]) == ("held", "reply", ["reply_to_letter"])
    assert count(app, Submission) == 1
    kinds = [letter.kind for letter in letters(app, LIAISON)]
    assert kinds == ["ack_submission", "ack_reply"]
    assert "BS-2026-0001" in letters(app, LIAISON)[-1].text


def test_a_reply_named_only_by_its_subject_is_a_reply(app: App, tmp_path: Path) -> None:
    one_pass(app, tmp_path, make_mail(message_id="<first@hongda>"))
    row = one_pass(app, tmp_path, make_mail(subject="Re: 【已收到】BS-2026-0001 【报送】展会", message_id="<s@hongda>"))
    assert (row.state, row.intent) == ("held", "reply")
    assert count(app, Submission) == 1


def test_a_strangers_reply_to_a_registration_acknowledgement_registers_nobody_again(app: App, tmp_path: Path) -> None:
    stranger = "liming@newunit.example"
    one_pass(app, tmp_path, make_mail(sender=stranger, subject="【登记】新单位 李明", message_id="<r1@new>"))
    assert count(app, Registration) == 1
    (ack,) = letters(app, stranger)
    row = one_pass(app, tmp_path, make_mail(sender=stranger, subject="答复：" + ack.subject, message_id="<r2@new>"))
    assert (row.state, row.intent) == ("held", "reply")
    assert count(app, Registration) == 1


def test_a_robot_without_rfc3834_headers_gets_one_more_letter_per_thread(app: App, tmp_path: Path) -> None:
    """It answers every letter it gets, with In-Reply-To only, as simple auto-responders do."""
    one_pass(app, tmp_path, make_mail(message_id="<start@hongda>"))
    for round_ in range(6):
        newest = letters(app, LIAISON)[-1]
        robot = make_mail(
            subject=f"Re: {newest.subject}",
            body="您好，我目前不在办公室，将尽快回复。",
            headers={"In-Reply-To": f"<{newest.message_id}>"},
            message_id=f"<robot{round_}@hongda>",
        )
        one_pass(app, tmp_path, robot)
    assert [letter.kind for letter in letters(app, LIAISON)] == ["ack_submission", "ack_reply"]
    assert count(app, InboundMessage) == 7


def test_a_meeting_reply_to_our_notice_stays_a_meeting_reply(app: App, tmp_path: Path) -> None:
    headers = {"In-Reply-To": "<notice.1@mailflow.chamber.example.org>"}
    row = one_pass(
        app, tmp_path, make_mail(subject="回复：2026年度联络员会议通知", headers=headers, message_id="<m@h>")
    )
    assert (row.state, row.intent) == ("processed", "rsvp")


def test_a_new_mail_that_quotes_a_reference_without_replying_is_new(app: App, tmp_path: Path) -> None:
    row = one_pass(app, tmp_path, make_mail(subject="【报送】补充 BS-2026-0001 的照片", message_id="<n@h>"))
    assert (row.state, row.intent) == ("processed", "submission")
