"""GIVEN the secretariat's circular (to the circular address, or with a `#通知` line), proved or not,
well-formed or not WHEN a pass runs over a real store THEN each address of its audience gets one
letter with the subject, the text and the files as written and the chamber's signature, the files
are stored once, the sender gets a report with the reference, and nothing is ever sent twice; a
circular that cannot go is answered with the reason and queues nothing."""

from __future__ import annotations

import email
from collections.abc import Iterator
from email.message import Message
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from builders import LIAISON, OUR_SERVER, PASSED, SECRETARIAT, add_liaison, deliver, make_app, make_jpeg, make_mail
from servers.smtp import Recorder
from sqlalchemy import event
from sqlmodel import col, select

from mailflow.app import App, circular_policy
from mailflow.daemon import Daemon
from mailflow.outbound.outbox import letter_body
from mailflow.store import (
    AddressFlag,
    AuditEntry,
    Circular,
    InboundMessage,
    Liaison,
    LiaisonStatus,
    Outbox,
    OutboxPart,
    OutboxState,
    Unit,
)
from mailflow.workflows.circular import File, Request, send

TO_CIRCULARS = "mishuchu+tongzhi@chamber.example.org"
SECURITY = {"trusted_authserv_ids": [OUR_SERVER]}
SUBJECT = "关于召开2026年度联络员工作会议的通知"
BODY = "各会员单位联络员：\n\n定于12月8日上午9:00在商会三楼会议室召开2026年度联络员工作会议，请准时参加。\n\n商会秘书处"
PDF_NAME = "关于召开2026年度联络员工作会议的通知（附议程）.pdf"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def add_units(app: App, count: int, *, liaisons: bool = True, start: int = 1) -> None:
    """Units U001 … with a leader each, and an active liaison each unless told otherwise."""
    with app.store.session() as session:
        units = [
            Unit(
                name=f"第{n}机械有限公司",
                code=f"U{n:03d}",
                leader_name=f"负责人{n}",
                leader_email=f"boss{n}@unit{n}.cn",
            )
            for n in range(start, start + count)
        ]
        session.add_all(units)
        session.flush()
        if liaisons:
            session.add_all(
                [
                    Liaison(unit_id=u.id or 0, name=f"联络员{n}", email=f"liaison{n}@unit{n}.cn")
                    for n, u in enumerate(units, start)
                ]
            )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = make_app(tmp_path, security=SECURITY)
    add_units(application, 3)
    yield application
    application.close()


def circular(
    app: App,
    *,
    subject: str = SUBJECT,
    body: str = BODY,
    to: str = TO_CIRCULARS,
    sender: str = SECRETARIAT,
    proven: bool = True,
    attachments: list[tuple[str, bytes, str]] | None = None,
    message_id: str = "<circular-1@chamber.example.org>",
) -> None:
    headers = {"Authentication-Results": PASSED} if proven else {}
    raw = make_mail(
        sender=sender, sender_name="秘书处", to=to, subject=subject, body=body, attachments=attachments,
        headers=headers, message_id=message_id,
    )  # fmt: skip
    deliver(app.settings.data_dir.parent / "Maildir", raw)
    Daemon(app).run_once()


def rows(app: App, kind: str) -> list[Outbox]:
    with app.store.session() as session:
        return list(session.exec(select(Outbox).where(Outbox.kind == kind).order_by(col(Outbox.id))).all())


def text_of(app: App, letter: Outbox) -> str:
    with app.store.session() as session:
        return letter_body(session, letter)[0]


def records(app: App) -> list[Circular]:
    with app.store.session() as session:
        return list(session.exec(select(Circular)).all())


def message(app: App) -> InboundMessage:
    with app.store.session() as session:
        return session.exec(select(InboundMessage).order_by(col(InboundMessage.id).desc())).first()  # type: ignore[return-value]


def stored(app: App) -> list[Path]:
    """The files outgoing letters carry, as kept on disk."""
    return [p for p in (app.settings.data_dir / "outgoing").rglob("*") if p.is_file()]


def reasons(app: App) -> list[str]:
    return [r["code"] for r in message(app).reasons]


def test_a_proved_mail_to_the_circular_address_goes_once_to_every_active_liaison(app: App) -> None:
    with app.store.session() as session:  # a liaison replaced last year gets nothing
        session.add(Liaison(unit_id=1, name="旧联络员", email="old@unit1.cn", status=LiaisonStatus.REPLACED))
    circular(app, attachments=[(PDF_NAME, PDF, "application/pdf")])
    letters = rows(app, "circular")
    assert sorted(r.recipients[0] for r in letters) == ["liaison1@unit1.cn", "liaison2@unit2.cn", "liaison3@unit3.cn"]
    assert {r.subject for r in letters} == {SUBJECT} and {r.reference for r in letters} == {"TZ-2026-0001"}
    assert {r.dedupe_key for r in letters} == {f"circular:TZ-2026-0001:liaison{n}@unit{n}.cn" for n in (1, 2, 3)}
    text = text_of(app, letters[0])  # stored once for the three (outbox_body)
    assert {r.body_id for r in letters} == {letters[0].body_id} and all(r.text == "" for r in letters)
    assert text.startswith("各会员单位联络员：\n\n定于12月8日上午9:00") and "商会秘书处\n" in text
    assert text.index("请准时参加") < text.index(app.settings.chamber.name)  # our signature under their text
    assert "2026年11月24日" in text and "本邮件由" in text
    with app.store.session() as session:
        parts = session.exec(select(OutboxPart)).all()
    assert len(parts) == 3 and {(p.filename, p.sha256) for p in parts} == {(PDF_NAME, parts[0].sha256)}
    assert len(stored(app)) == 1  # one file, however many letters
    (record,) = records(app)
    assert (record.audience, record.letters, record.to_liaisons, record.attachments) == ("liaisons", 3, 3, 1)
    assert record.inbound_id == message(app).id and message(app).intent == "circular"
    (report,) = rows(app, "circular_report")
    assert report.recipients == [SECRETARIAT] and report.in_reply_to == "circular-1@chamber.example.org"
    assert report.subject == f"【通知已发出】TZ-2026-0001 {SUBJECT}"
    assert "共 3 封邮件已排队" in report.text and "联络员：3 封" in report.text and PDF_NAME in report.text
    with app.store.session() as session:
        (entry,) = session.exec(select(AuditEntry)).all()
    assert (entry.actor, entry.via, entry.command, entry.record, entry.ok) == (
        SECRETARIAT, "mail", "circular", "TZ-2026-0001", True,
    )  # fmt: skip


def test_a_line_names_the_audience_and_is_taken_out_of_the_text(app: App) -> None:
    body = "各单位负责人：\n\n＃通知　全体负责人\n\n请审阅附件。"
    circular(app, to=SECRETARIAT, body=body)  # the secretariat's own address: the line alone makes it a circular
    letters = rows(app, "circular")
    assert sorted(r.recipients[0] for r in letters) == ["boss1@unit1.cn", "boss2@unit2.cn", "boss3@unit3.cn"]
    text = text_of(app, letters[0])
    assert "#通知" not in text and "＃通知" not in text
    assert text.startswith("各单位负责人：\n\n请审阅附件。")


def test_all_sends_one_letter_to_an_address_that_is_liaison_and_leader(app: App) -> None:
    with app.store.session() as session:  # unit 2's leader is also its liaison
        unit = session.get(Unit, 2)
        assert unit is not None
        unit.leader_email = "LIAISON2@unit2.cn"
    circular(app, subject="#通知 全体 关于缴纳2027年度会费的通知")
    letters = rows(app, "circular")
    addresses = [r.recipients[0].lower() for r in letters]
    assert sorted(addresses) == sorted(set(addresses)) and len(addresses) == 5  # 3 liaisons, 2 other leaders
    assert {r.subject for r in letters} == {"关于缴纳2027年度会费的通知"}  # the subject without its #通知
    (record,) = records(app)
    assert (record.audience, record.to_liaisons, record.to_leaders) == ("all", 3, 2)


def test_a_line_may_name_units_and_a_code_no_unit_has_is_refused(app: App) -> None:
    circular(app, body=f"#通知 全体联络员 U001，U003\n\n{BODY}")
    assert sorted(r.recipients[0] for r in rows(app, "circular")) == ["liaison1@unit1.cn", "liaison3@unit3.cn"]
    assert records(app)[0].units == ["U001", "U003"]
    circular(app, body=f"#circular liaisons U002,U404\n\n{BODY}", message_id="<circular-2@chamber.example.org>")
    assert len(rows(app, "circular")) == 2 and len(records(app)) == 1
    assert message(app).state == "rejected" and reasons(app) == ["circular_unknown_units"]
    (rejection,) = rows(app, "rejection")
    assert "U404" in rejection.text and "通知未发出" in rejection.text and "联络员工作制度" not in rejection.text


def test_an_unproved_circular_is_held_unsent_and_unanswered(app: App) -> None:
    circular(app, proven=False)
    assert message(app).state == "held" and reasons(app) == ["unauthenticated_circular"]
    assert rows(app, "circular") == [] and rows(app, "rejection") == [] and records(app) == []


def test_a_reply_to_our_letter_to_the_secretariat_proves_it(app: App) -> None:
    """The proof rule is the commands' (security.commands: either)."""
    with app.store.session() as session:
        tx = app.tx(session)
        ours = tx.letter("ack_message", SECRETARIAT, {"name": "x", "unit_name": "", "intent_label": "", "reference": "SJ-1",
                                                      "original_subject": "", "received_at": "", "attachments": []}, key="k")  # fmt: skip
        session.flush()
        mid = ours.message_id
    raw = make_mail(
        sender=SECRETARIAT, to=TO_CIRCULARS, subject=SUBJECT, body=BODY, headers={"In-Reply-To": f"<{mid}>"}
    )
    deliver(app.settings.data_dir.parent / "Maildir", raw)
    Daemon(app).run_once()
    assert len(rows(app, "circular")) == 3


def test_a_liaison_writing_to_the_circular_address_sends_out_nothing(app: App) -> None:
    add_liaison(app)
    circular(app, sender=LIAISON, body=f"#通知 全体联络员\n\n{BODY}")
    assert message(app).intent != "circular" and rows(app, "circular") == [] and records(app) == []


def test_a_circular_rule_edited_open_to_liaisons_is_still_refused(app: App, handler_call: Any) -> None:
    incoming, tx = handler_call("circular", category="liaisons")
    handled = app.registry.handlers["circular"](incoming, tx)
    assert handled.state == "rejected" and [r.code for r in handled.reasons] == ["circular_secretariat_only"]


def test_the_same_mail_delivered_again_or_run_again_queues_nothing_new(app: App) -> None:
    circular(app, attachments=[(PDF_NAME, PDF, "application/pdf")])
    circular(app, attachments=[(PDF_NAME, PDF, "application/pdf")])  # the same Message-ID, delivered twice
    with app.store.session() as session:
        first, copy = session.exec(select(InboundMessage).order_by(col(InboundMessage.id))).all()
    assert (first.state, copy.state, copy.duplicate_of) == ("processed", "ignored", first.id)
    app.pipeline.reprocess(first.id or 0)  # run again by hand
    assert len(rows(app, "circular")) == 3 and len(rows(app, "circular_report")) == 1
    app.pipeline.reprocess(copy.id or 0)  # the copy too: it is the same circular
    assert len(rows(app, "circular")) == 3 and len(records(app)) == 1
    with app.store.session() as session:
        assert len(session.exec(select(OutboxPart)).all()) == 3
    first_report, second = rows(app, "circular_report")
    assert "与已发出的通知 TZ-2026-0001 相同，未再次发送" in second.text and "已排队" not in second.text


def test_files_over_the_limit_are_refused_with_the_limit_named_before_anything_is_stored(tmp_path: Path) -> None:
    app = make_app(tmp_path, security=SECURITY, circulars={"max_attachments_mb": 1})
    add_units(app, 2)
    big = PDF[:-7] + bytes(range(256)) * 5000 + PDF[-7:]  # 1.2 MB
    circular(app, attachments=[("会议资料.pdf", big, "application/pdf")])
    assert message(app).state == "rejected" and reasons(app) == ["circular_too_large"]
    (rejection,) = rows(app, "rejection")
    assert "通知附件合计 1.2 MB，超过 1 MB 的上限，未发出" in rejection.text and "网盘" in rejection.text
    assert rows(app, "circular") == [] and records(app) == []
    assert stored(app) == []
    app.close()


@pytest.mark.parametrize(
    ("subject", "body", "code"),
    [
        ("", BODY, "circular_no_subject"),
        ("#通知 全体联络员", BODY, "circular_no_subject"),
        (SUBJECT, "#通知 全体联络员\n\n", "circular_no_body"),
        (SUBJECT, "#通知 全体会员\n\n" + BODY, "circular_audience"),
        (SUBJECT, "#通知 全体联络员\n#重发 12\n\n" + BODY, "circular_with_commands"),
    ],
)
def test_a_circular_that_cannot_go_is_answered_with_the_reason(app: App, subject: str, body: str, code: str) -> None:
    circular(app, subject=subject, body=body)
    assert message(app).state == "rejected" and reasons(app) == [code]
    (rejection,) = rows(app, "rejection")
    assert rejection.recipients == [SECRETARIAT] and "未发出" in rejection.text
    assert rows(app, "circular") == [] and records(app) == []


def test_without_active_liaisons_the_secretariat_is_told_and_nothing_is_queued(tmp_path: Path) -> None:
    app = make_app(tmp_path, security=SECURITY)
    add_units(app, 2, liaisons=False)
    circular(app)
    assert reasons(app) == ["circular_no_recipients"]
    (rejection,) = rows(app, "rejection")
    assert "发送对象（全体联络员）中没有可发送的邮箱" in rejection.text and "mailflow units import" in rejection.text
    assert rows(app, "circular") == []
    app.close()


def test_a_unit_without_a_liaison_is_named_in_the_report(app: App) -> None:
    add_units(app, 1, liaisons=False, start=9)
    circular(app)
    (report,) = rows(app, "circular_report")
    assert "以下单位暂无可发送的邮箱，未收到本通知" in report.text and "- 第9机械有限公司" in report.text


def test_a_small_photo_from_the_secretariat_goes_out(app: App) -> None:
    """Ch. 4's 800×600 is for what liaisons submit, not for the secretariat's circulars."""
    circular(app, attachments=[("会场位置图.jpg", make_jpeg(width=640, height=480), "image/jpeg")])
    assert message(app).state == "processed" and len(rows(app, "circular")) == 3


def test_a_30_mb_file_by_mail_is_held_and_the_secretariat_told_the_limit(app: App) -> None:
    """30 MB of files is a 41 MB mail, over limits.max_message_mb (30): held unread, as any mail that
    size, and the secretariat, which nobody else is, gets the limit and the way round it."""
    data = bytes(range(256)) * (30 * 4096)
    circular(app, attachments=[("2026年度工作总结（高清版）.pdf", data, "application/pdf")])
    row = message(app)
    assert row.state == "held" and reasons(app) == ["too_large"]
    assert (row.sender, row.subject) == (SECRETARIAT, SUBJECT)  # the digest says who sent what
    (answer,) = rows(app, "rejection")
    assert answer.recipients == [SECRETARIAT] and answer.in_reply_to == "circular-1@chamber.example.org"
    assert "超过 30.0 MB 的上限" in answer.text and "请压缩附件或分多封邮件发送" in answer.text
    assert rows(app, "circular") == []
    stranger = make_mail(sender="someone@example.net", subject="资料", attachments=[("a.pdf", data, "application/pdf")])
    deliver(app.settings.data_dir.parent / "Maildir", stranger)
    Daemon(app).run_once()
    assert message(app).state == "held" and len(rows(app, "rejection")) == 1  # no answer to a From nobody checked


def test_queuing_takes_as_many_statements_for_400_recipients_as_for_20(tmp_path: Path) -> None:
    def statements(recipients: int) -> int:
        app = make_app(tmp_path / str(recipients), security=SECURITY)
        add_units(app, recipients)
        seen: list[str] = []
        event.listen(app.store.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
        files = (File("议程.pdf", PDF), File("回执.docx", b"PK\x03\x04 reply form"))
        with app.store.session() as session:
            request = Request(SUBJECT, BODY, "all", SECRETARIAT, "mail", files=files)
            queued = send(request, app.tx(session), circular_policy(app.settings))
        app.close()
        assert not isinstance(queued, tuple) and queued.circular.letters == 2 * recipients
        return len(seen)

    assert statements(20) == statements(400)


def test_a_circular_over_smtp_arrives_with_its_chinese_file_and_signature(
    tmp_path: Path, smtp_server: tuple[Recorder, int]
) -> None:
    recorder, port = smtp_server
    smtp = {"host": "127.0.0.1", "port": port, "security": "none", "concurrency": 2}
    app = make_app(tmp_path, security=SECURITY, outbound={"transport": "smtp", "smtp": smtp})
    add_units(app, 4)
    circular(app, attachments=[(PDF_NAME, PDF, "application/pdf")])
    assert recorder.wait_for(5, 10)
    received = [email.message_from_bytes(raw, policy=default) for raw in recorder.received]
    letters = [m for m in received if str(m["Subject"]) == SUBJECT]
    assert sorted(str(m["To"]) for m in letters) == [f"liaison{n}@unit{n}.cn" for n in (1, 2, 3, 4)]
    for letter in letters:
        files = [part for part in letter.iter_attachments() if isinstance(part, Message)]
        assert [(f.get_filename(), f.get_payload(decode=True)) for f in files] == [(PDF_NAME, PDF)]
        text = letter.get_body(("plain",))
        assert text is not None and "请准时参加" in text.get_content() and "2026年11月24日" in text.get_content()
        assert str(letter["Auto-Submitted"]) == "auto-generated"
    app.close()


def test_the_digest_and_circular_status_name_the_units_it_did_not_reach(app: App) -> None:
    with app.store.session() as session:  # unit 3's liaison bounced before: the dispatcher leaves it out
        session.add(AddressFlag(email="liaison3@unit3.cn", reason="550 5.1.1 no such user", bounces=1,
                                first_at=app.clock.now(), last_at=app.clock.now(), suppressed_at=app.clock.now()))  # fmt: skip
    circular(app)
    with app.store.session() as session:  # and unit 2's letter came back
        bounced = session.exec(select(Outbox).where(Outbox.dedupe_key.endswith("liaison2@unit2.cn"))).one()  # type: ignore[attr-defined]
        bounced.state, bounced.last_error = OutboxState.BOUNCED, "5.2.2 mailbox full"
    app.clock.advance(days=1)  # type: ignore[attr-defined]
    assert "digest" in app.scheduler.run_due()
    (digest,) = rows(app, "digest")
    line = next(x for x in digest.text.splitlines() if "TZ-2026-0001" in x)
    assert "已发出 1，待发 0，退回 1，失败 1" in line and "未送达：第2机械有限公司、第3机械有限公司" in line
    assert "#通知情况 TZ-2026-0001" in line and "近期通知送达情况" in digest.text
    raw = make_mail(sender=SECRETARIAT, subject="查询", body="#通知情况 TZ-2026-0001",
                    headers={"Authentication-Results": PASSED}, message_id="<status@chamber.example.org>")  # fmt: skip
    deliver(app.settings.data_dir.parent / "Maildir", raw)
    Daemon(app).run_once()
    (report,) = rows(app, "command_report")
    assert "第3机械有限公司 liaison3@unit3.cn（发送失败：address bounced" in report.text
    assert "第2机械有限公司 liaison2@unit2.cn（被退回：5.2.2 mailbox full）" in report.text
    app.clock.advance(days=1)  # type: ignore[attr-defined]
    app.scheduler.run_due()
    assert "TZ-2026-0001" in rows(app, "digest")[-1].text  # not every letter went: listed again


def test_a_circular_whose_letters_all_went_is_reported_once(app: App) -> None:
    circular(app)  # the file transport: every letter goes at once
    app.clock.advance(days=1)  # type: ignore[attr-defined]
    app.scheduler.run_due()
    (first,) = rows(app, "digest")
    assert "TZ-2026-0001" in first.text and "已发出 3，待发 0，退回 0，失败 0" in first.text
    app.clock.advance(days=1)  # type: ignore[attr-defined]
    app.scheduler.run_due()
    assert all("TZ-2026-0001" not in digest.text for digest in rows(app, "digest")[1:])
