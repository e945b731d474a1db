"""GIVEN registration and change mail as liaisons and leaders write it (a form in the body, the
certificate attached, or forgotten) WHEN real passes run over a real store THEN each gets its
reference at once, waits for what is missing, reaches the secretariat at once with the certificate
and the command lines, and changes the registry only on #批准, with the history of every change."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import date
from email.message import Message
from pathlib import Path

import pytest
from builders import LIAISON, OUR_SERVER, PASSED, SECRETARIAT, add_liaison, deliver, make_app, make_jpeg, make_mail
from sqlmodel import col, select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.outbound.mime import build_message
from mailflow.outbound.parts import PartReader, parts_of
from mailflow.store import (
    AuditEntry,
    Change,
    InboundMessage,
    Liaison,
    Outbox,
    OutboxPart,
    Registration,
    Unit,
)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
LEADER = "leader@hongda-machinery.cn"
APPLICANT = "liming@newco.example"
FORM = """秘书处：

您好！现申请登记为我单位商会联络员，信息如下：

单位名称：宏达机械有限公司
联络员：李明；职务：市场部经理
手机：13800138000
邮箱：liming@newco.example

李明
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = make_app(tmp_path, security={"trusted_authserv_ids": [OUR_SERVER]})
    add_liaison(application)
    yield application
    application.close()


def send(app: App, raw: bytes) -> InboundMessage:
    deliver(app.settings.data_dir.parent / "Maildir", raw)
    Daemon(app).run_once()
    with app.store.session() as session:
        return session.exec(select(InboundMessage).order_by(col(InboundMessage.id).desc())).first()  # type: ignore[return-value]


def command(app: App, line: str) -> str:
    """A proved secretariat command; returns the report's text."""
    send(app, make_mail(sender=SECRETARIAT, subject="指令", body=line, headers={"Authentication-Results": PASSED}))
    (report,) = letters(app, "command_report")[-1:]
    return report.text


def letters(app: App, kind: str, to: str | None = None) -> list[Outbox]:
    with app.store.session() as session:
        rows = session.exec(select(Outbox).where(Outbox.kind == kind).order_by(col(Outbox.id))).all()
        return [r for r in rows if to is None or to in r.recipients]


def registrations(app: App) -> list[Registration]:
    with app.store.session() as session:
        return list(session.exec(select(Registration).order_by(col(Registration.id))).all())


def built(app: App, row: Outbox) -> Message:
    """The letter as it goes out: the MIME the dispatcher builds, with its parts read from the store."""
    with app.store.engine.connect() as conn:
        parts = parts_of(conn, [row.id or 0]).get(row.id or 0, ())
    wire = PartReader(app.parts).wire(parts)
    raw = build_message(row, sender=SECRETARIAT, sender_name="商会", parts=wire)
    return email.message_from_bytes(raw)


def test_a_registration_with_its_certificate_reaches_the_secretariat_at_once(app: App) -> None:
    row = send(app, make_mail(sender=APPLICANT, sender_name="李明", subject="【登记】联络员登记", body=FORM,
                              attachments=[("联络员登记表.pdf", PDF, "application/pdf")]))  # fmt: skip
    assert (row.state, row.intent) == ("processed", "registration")
    (reg,) = registrations(app)
    assert (reg.reference, reg.state, reg.name) == ("DJ-2026-0001", "pending", "李明")
    (ack,) = letters(app, "ack_registration", APPLICANT)
    assert "【已收到】联络员登记申请 DJ-2026-0001" == ack.subject and "已转秘书处审核" in ack.text
    (notice,) = letters(app, "registration_notice")
    assert notice.recipients == [SECRETARIAT] and notice.reference == "DJ-2026-0001"
    for line in ("#批准 DJ-2026-0001", "#退回 DJ-2026-0001 原因", "宏达机械有限公司", "市场部经理", "13800138000"):
        assert line in notice.text
    mime = built(app, notice)
    (attached,) = [p for p in mime.walk() if p.get_filename()]
    assert attached.get_filename() == "联络员登记表.pdf" and attached.get_payload(decode=True) == PDF
    # The unit was known: the liaison it proposes waits, pending, with a line of history.
    with app.store.session() as session:
        pending = session.exec(select(Liaison).where(Liaison.email == APPLICANT)).one()
        assert (pending.status, pending.phone, pending.position) == ("pending", "13800138000", "市场部经理")
        assert session.exec(select(Change.new).where(Change.subject_id == pending.id)).one().endswith("（待审核）")


def test_a_missing_certificate_is_asked_for_and_a_reply_with_it_completes_the_same_registration(app: App) -> None:
    send(app, make_mail(sender=APPLICANT, sender_name="李明", subject="【登记】联络员登记", body=FORM))
    (reg,) = registrations(app)
    assert (reg.reference, reg.state) == ("DJ-2026-0001", "awaiting_certificate")
    (ask,) = letters(app, "ack_registration", APPLICANT)
    assert ask.subject == "【请补充单位证明】联络员登记申请 DJ-2026-0001"
    assert "加盖单位公章" in ask.text and "PDF" in ask.text and "直接回复本邮件" in ask.text
    assert letters(app, "registration_notice") == []  # nothing for the secretariat yet

    reply = make_mail(sender=APPLICANT, sender_name="李明", subject="回复：" + ask.subject, body="附件为单位证明，请查收。",
                      attachments=[("证明.jpg", make_jpeg(width=1200, height=1600), "image/jpeg")],
                      headers={"In-Reply-To": f"<{ask.message_id}>"})  # fmt: skip
    row = send(app, reply)
    assert (row.state, row.intent) == ("processed", "registration")
    (reg,) = registrations(app)  # the same one, now complete
    assert (reg.state, reg.certificate_inbound_id) == ("pending", row.id)
    done = letters(app, "ack_registration", APPLICANT)[-1]
    assert done.subject == "【已收到】联络员登记申请 DJ-2026-0001" and "证明.jpg" in done.text
    (notice,) = letters(app, "registration_notice")
    assert "#批准 DJ-2026-0001" in notice.text and "13800138000" in notice.text  # the form from the first mail


def test_an_unreadable_certificate_is_named_and_a_mail_naming_the_reference_completes_it(app: App) -> None:
    broken = b"\xff\xd8\xff\xe0" + b"\x00" * 400  # a JPEG header and nothing an image needs
    row = send(app, make_mail(sender=APPLICANT, subject="【登记】联络员登记", body=FORM,
                              attachments=[("登记表.jpg", broken, "image/jpeg")]))  # fmt: skip
    assert row.state == "processed"  # answered as a registration, not refused as a bad photo
    (ask,) = letters(app, "ack_registration", APPLICANT)
    assert "所附文件无法作为单位证明" in ask.text and "登记表.jpg" in ask.text
    later = make_mail(sender=APPLICANT, subject="补充单位证明 DJ-2026-0001", body="补发证明。",
                      attachments=[("证明.pdf", PDF, "application/pdf")])  # fmt: skip
    send(app, later)
    assert [(r.reference, r.state) for r in registrations(app)] == [("DJ-2026-0001", "pending")]
    assert len(letters(app, "registration_notice")) == 1


def test_someone_else_cannot_complete_a_registration(app: App) -> None:
    send(app, make_mail(sender=APPLICANT, subject="【登记】联络员登记", body=FORM))
    (ask,) = letters(app, "ack_registration", APPLICANT)
    other = make_mail(sender="x@elsewhere.example", subject="回复：" + ask.subject,
                      attachments=[("证明.pdf", PDF, "application/pdf")],
                      headers={"In-Reply-To": f"<{ask.message_id}>"})  # fmt: skip
    row = send(app, other)
    assert (row.state, row.intent) == ("held", "reply")
    assert [r.state for r in registrations(app)] == ["awaiting_certificate"]


def test_approval_makes_the_liaison_active_and_tells_the_liaison_and_the_leader(app: App) -> None:
    send(app, make_mail(sender=APPLICANT, subject="【登记】联络员登记", body=FORM,
                        attachments=[("证明.pdf", PDF, "application/pdf")]))  # fmt: skip
    report = command(app, "#批准 DJ-2026-0001")
    assert "DJ-2026-0001 已批准" in report
    with app.store.session() as session:
        rows = session.exec(select(Liaison.email, Liaison.status, Liaison.started_on, Liaison.ended_on)).all()
        today = date(2026, 11, 24)
        assert sorted(rows) == [(APPLICANT, "active", today, None), (LIAISON, "replaced", None, today)]
        entry = session.exec(select(AuditEntry.id).where(AuditEntry.command == "approve")).one()
        statuses = session.exec(select(Change.old, Change.new, Change.audit_id).where(Change.field == "status")).all()
        assert sorted(statuses) == [("active", "replaced", entry), ("pending", "active", entry)]
    assert letters(app, "liaison_welcome", APPLICANT) and letters(app, "leader_notice", LEADER)
    (gone,) = letters(app, "liaison_replaced", LIAISON)
    assert "李明" in gone.text and "2026-11-24" in gone.text


def test_a_joining_unit_is_created_on_approval(app: App) -> None:
    form = FORM.replace("单位名称：宏达机械有限公司", "单位名称：成都新创科技有限公司\n统一社会信用代码：91510100MA6123456W\n"
                        "是否新会员：是\n单位负责人：陈总\n负责人邮箱：chen@newco.example")  # fmt: skip
    send(app, make_mail(sender=APPLICANT, subject="【登记】联络员登记", body=form,
                        attachments=[("推荐函.pdf", PDF, "application/pdf")]))  # fmt: skip
    (notice,) = letters(app, "registration_notice")
    assert "新入会单位，批准时建立" in notice.text
    assert "DJ-2026-0001 已批准" in command(app, "#批准 DJ-2026-0001")
    with app.store.session() as session:
        unit = session.exec(select(Unit).where(Unit.code == "91510100MA6123456W")).one()
        assert (unit.name, unit.leader_email) == ("成都新创科技有限公司", "chen@newco.example")
        liaison = session.exec(select(Liaison).where(Liaison.unit_id == unit.id)).one()
        assert (liaison.email, liaison.status) == (APPLICANT, "active")
        assert session.exec(select(Change.field).where(Change.unit_id == unit.id, Change.kind == "unit")).all() == [
            "created"
        ]
    assert letters(app, "leader_notice", "chen@newco.example")


def test_an_unmatched_unit_needs_its_code_and_a_return_tells_why(app: App) -> None:
    send(app, make_mail(sender=APPLICANT, subject="【登记】", body="单位名称：不知名公司\n联络员：李明",
                        attachments=[("证明.pdf", PDF, "application/pdf")]))  # fmt: skip
    (notice,) = letters(app, "registration_notice")
    assert "#批准 DJ-2026-0001 统一社会信用代码" in notice.text
    assert "请在编号后写明单位的统一社会信用代码" in command(app, "#批准 DJ-2026-0001")
    assert "已退回" in command(app, "#退回 DJ-2026-0001 单位证明未加盖公章")
    (returned,) = letters(app, "registration_returned", APPLICANT)
    assert "单位证明未加盖公章" in returned.text and "联络员登记申请（编号 DJ-2026-0001）" in returned.text


def test_a_registration_from_an_address_already_active_elsewhere_is_refused(app: App) -> None:
    row = send(app, make_mail(sender=LIAISON, subject="【登记】联络员登记", body="单位名称：另一家公司",
                              attachments=[("证明.pdf", PDF, "application/pdf")]))  # fmt: skip
    assert row.state == "rejected" and registrations(app) == []
    (refusal,) = letters(app, "rejection", LIAISON)
    assert "已是“宏达机械有限公司”的在册联络员" in refusal.text and "【变更】" in refusal.text


def test_the_leader_changes_the_liaison_and_everyone_is_told_on_approval(app: App) -> None:
    body = "秘书处：\n我单位联络员变更如下：\n原联络员：王芳\n新联络员：赵六；职务：办公室主任\n邮箱：zhaoliu@hongda-machinery.cn\n手机：13900001111"
    row = send(app, make_mail(sender=LEADER, sender_name="李建国", subject="【变更】更换联络员", body=body))
    assert (row.state, row.intent) == ("processed", "liaison_change")
    (reg,) = registrations(app)
    assert (reg.reference, reg.kind, reg.state) == ("BG-2026-0001", "liaison_change", "pending")
    (notice,) = letters(app, "registration_notice")
    assert "王芳（wangfang@hongda-machinery.cn）" in notice.text and "#批准 BG-2026-0001" in notice.text
    with app.store.session() as session:  # nothing changes before the decision
        assert session.exec(select(Liaison.status).where(Liaison.email == LIAISON)).one() == "active"
    assert "BG-2026-0001 已批准" in command(app, "#批准 BG-2026-0001")
    with app.store.session() as session:
        rows = dict(session.exec(select(Liaison.email, Liaison.status)).all())
        assert rows == {LIAISON: "replaced", "zhaoliu@hongda-machinery.cn": "active"}
    assert letters(app, "liaison_welcome", "zhaoliu@hongda-machinery.cn")
    assert letters(app, "liaison_replaced", LIAISON)
    (leader,) = letters(app, "leader_notice", LEADER)
    assert "原联络员王芳不再担任" in leader.text


def test_a_change_from_anyone_but_the_unit_is_held_and_an_unknown_unit_is_answered(app: App) -> None:
    add_liaison(app, email="other@other.example", unit="其他机械有限公司", code="OT001")
    body = "单位名称：宏达机械有限公司\n新联络员：赵六\n邮箱：zhaoliu@hongda-machinery.cn"
    held = send(app, make_mail(sender="other@other.example", subject="【变更】", body=body))
    assert held.state == "held" and held.reasons[0]["code"] == "change_not_from_unit"
    stranger = send(app, make_mail(sender="who@nowhere.example", subject="【变更】", body=body))
    assert stranger.state == "held" and stranger.reasons[0]["code"] == "unknown_sender"
    missing = send(
        app,
        make_mail(sender=LIAISON, subject="【变更】", body="单位名称：并不存在的公司\n新联络员：赵六\n邮箱：z@x.cn"),
    )
    assert missing.state == "rejected" and missing.reasons[0]["code"] == "unit_not_found"
    incomplete = send(app, make_mail(sender=LIAISON, subject="【变更】", body="联络员要换人了"))
    assert incomplete.state == "rejected" and "新联络员的姓名和邮箱" in incomplete.reasons[0]["zh"]
    assert registrations(app) == []


def test_unit_details_wait_for_approval_then_are_written_with_their_history(app: App) -> None:
    body = "单位地址：成都市双流区航空港大道8号\n单位负责人：张三\n负责人手机：13700001234"
    row = send(app, make_mail(sender=LIAISON, subject="【信息变更】单位地址及负责人变更", body=body))
    assert (row.state, row.intent) == ("processed", "unit_change")
    (notice,) = letters(app, "registration_notice")
    assert "李建国 → 张三" in notice.text and "（无） → 成都市双流区航空港大道8号" in notice.text
    with app.store.session() as session:
        assert session.exec(select(Unit.address)).one() is None  # not before #批准
    assert "2 项信息已更新" not in command(app, "#批准 BG-2026-0001")  # three fields
    with app.store.session() as session:
        unit = session.exec(select(Unit)).one()
        assert (unit.address, unit.leader_name, unit.leader_phone) == (
            "成都市双流区航空港大道8号",
            "张三",
            "13700001234",
        )
        entry = session.exec(select(AuditEntry.id).where(AuditEntry.command == "approve")).one()
        history = session.exec(select(Change.field, Change.old, Change.new, Change.audit_id)).all()
        assert ("leader_name", "李建国", "张三", entry) in history and (
            "address",
            None,
            "成都市双流区航空港大道8号",
            entry,
        ) in history
    assert letters(app, "unit_change_applied", LIAISON) and letters(app, "unit_change_applied", LEADER)


def test_the_notice_carries_the_certificate_once_for_every_secretariat_address(tmp_path: Path) -> None:
    application = make_app(tmp_path, chamber={"secretariat": [SECRETARIAT, "zhangsan@chamber.example.org"]})
    try:
        add_liaison(application)
        send(application, make_mail(sender=APPLICANT, subject="【登记】", body=FORM,
                                    attachments=[("证明.pdf", PDF, "application/pdf")]))  # fmt: skip
        notices = letters(application, "registration_notice")
        assert sorted(n.recipients[0] for n in notices) == sorted([SECRETARIAT, "zhangsan@chamber.example.org"])
        with application.store.session() as session:
            assert len(set(session.exec(select(OutboxPart.sha256)).all())) == 1
    finally:
        application.close()


def test_a_liaison_who_leaves_is_retired_and_the_leader_is_asked_for_a_successor(app: App) -> None:
    assert "已离任" in command(app, f"#离任 {LIAISON} 调往外地工作")
    with app.store.session() as session:
        liaison = session.exec(select(Liaison).where(Liaison.email == LIAISON)).one()
        assert (liaison.status, liaison.ended_on) == ("retired", date(2026, 11, 24))
        (why,) = session.exec(select(Change.why).where(Change.field == "status")).all()
        assert why == "离任：调往外地工作"
    (ask,) = letters(app, "liaison_retired", LEADER)
    assert "【变更】" in ask.text and "王芳" in ask.text
    assert "不是在册联络员" in command(app, f"#离任 {LIAISON}")  # once only
