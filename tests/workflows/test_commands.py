"""GIVEN command mail (from the secretariat, proved or not; from a liaison; hostile or odd lines)
WHEN a pass runs over a real store THEN each line ends done or refused with its reason, is
audited, the sender gets one report threaded to the command mail, and nothing runs twice."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import (
    LIAISON,
    OUR_SERVER,
    PASSED,
    SECRETARIAT,
    add_liaison,
    deliver,
    make_app,
    make_jpeg,
    make_mail,
    write_config,
)
from sqlmodel import col, select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.outbound.outbox import Draft, queue
from mailflow.outbound.render import Rendered
from mailflow.store import (
    AddressFlag,
    AuditEntry,
    Change,
    InboundMessage,
    Liaison,
    Outbox,
    OutboxState,
    Registration,
    Unit,
)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = make_app(tmp_path, security={"trusted_authserv_ids": [OUR_SERVER]})
    add_liaison(application)
    yield application
    application.close()


def dead_letter(app: App, to: str = LIAISON, key: str = "notice:1") -> int:
    with app.store.session() as session:
        row = queue(
            session,
            Draft(key=key, kind="notice", recipients=[to], rendered=Rendered("【通知】", "正文", "<p>正文</p>")),
            now=app.clock.now(),
            message_id_domain="mailflow.chamber.example.org",
        )
        row.state, row.last_error = OutboxState.DEAD, "550 5.1.1 no such user"
        session.flush()
        return row.id or 0


def command(app: App, body: str, *, subject: str = "指令", sender: str = SECRETARIAT, **headers: str) -> str:
    message_id = f"<cmd{len(audit(app))}.{abs(hash(body)) % 10**8}@chamber.example.org>"
    deliver(
        app.settings.data_dir.parent / "Maildir",
        make_mail(sender=sender, subject=subject, body=body, headers=headers, message_id=message_id),
    )
    Daemon(app).run_once()
    return message_id.strip("<>")


def audit(app: App) -> list[AuditEntry]:
    with app.store.session() as session:
        return list(session.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all())


def letter(app: App, row_id: int) -> Outbox:
    with app.store.session() as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        return row


def reports(app: App) -> list[Outbox]:
    with app.store.session() as session:
        return list(session.exec(select(Outbox).where(Outbox.kind == "command_report")).all())


def inbound(app: App, message_id: str) -> InboundMessage:
    with app.store.session() as session:
        return session.exec(select(InboundMessage).where(InboundMessage.message_id == message_id)).one()


def test_a_proved_secretariat_command_runs_once_is_audited_and_reported_in_its_thread(app: App) -> None:
    dead = dead_letter(app)
    mid = command(app, f"#重发 {dead}\n\n秘书处", **{"Authentication-Results": PASSED})
    assert letter(app, dead).state == OutboxState.SENT  # queued again, and sent by the pass
    (entry,) = audit(app)
    assert (entry.actor, entry.via, entry.command, entry.record, entry.ok) == (
        SECRETARIAT,
        "mail",
        "resend",
        f"#{dead}",
        True,
    )
    (report,) = reports(app)
    assert report.recipients == [SECRETARIAT] and report.in_reply_to == mid
    assert f"| #重发 {dead} | 已执行 | 邮件 #{dead} 已重新排队发送 |" in report.text
    app.pipeline.reprocess(inbound(app, mid).id or 0)  # the same command mail run again
    assert len(audit(app)) == 1 and len(reports(app)) == 1


def test_an_unproved_secretariat_command_is_held_unexecuted_and_unanswered(app: App) -> None:
    dead = dead_letter(app)
    mid = command(app, f"#重发 {dead}")  # a From anyone can write, no pass from our server
    row = inbound(app, mid)
    assert row.state == "held" and row.reasons[0]["code"] == "unauthenticated_command"
    assert letter(app, dead).state == OutboxState.DEAD
    assert audit(app) == [] and reports(app) == []
    app.clock.advance(days=1)  # type: ignore[attr-defined] - the next morning's digest
    assert "digest" in app.scheduler.run_due()
    with app.store.session() as session:
        digest = session.exec(select(Outbox).where(Outbox.kind == "digest")).one()
    assert "未执行，也未回复" in digest.text and f"#重新处理 {row.id}" in digest.text


def test_a_reply_to_our_letter_to_that_address_proves_the_secretariat(app: App) -> None:
    ours = dead_letter(app, to=SECRETARIAT, key="digest:x")
    someone_elses = dead_letter(app, to=LIAISON, key="notice:2")
    their_id, mine_id = letter(app, someone_elses).message_id, letter(app, ours).message_id
    forged = command(app, f"#重发 {someone_elses}", **{"In-Reply-To": f"<{their_id}>"})
    assert inbound(app, forged).state == "held" and letter(app, someone_elses).state == OutboxState.DEAD
    command(app, f"#重发 {someone_elses}", subject="回复：每日摘要", **{"In-Reply-To": f"<{mine_id}>"})
    assert letter(app, someone_elses).state == OutboxState.SENT


def test_a_liaison_is_told_who_may_command(app: App) -> None:
    dead = dead_letter(app)
    command(app, "王芳", subject=f"#重发 {dead}", sender=LIAISON)
    assert letter(app, dead).state == OutboxState.DEAD
    (report,) = reports(app)
    assert report.recipients == [LIAISON] and "只有商会秘书处可以发出此指令" in report.text
    assert [(e.actor, e.ok) for e in audit(app)] == [(LIAISON, False)]


def test_odd_lines_each_get_their_own_answer(app: App) -> None:
    dead = dead_letter(app)
    body = (
        f"＃重发　{dead}\n"  # full-width, as a Chinese input method types it
        f"#重发 {dead}\n"  # the same again: done once
        "#批准 DJ-2026-0001\n"  # an unknown reference
        "#发布 网站\n"  # no workflow offers it
        "#resend\n"  # an argument missing
        "#show BS-2026-9999\n"  # mixed zh/en, an unknown reference
        "\n-----原始邮件-----\n"
        f"#重发 {dead}\n"
    )
    command(app, body, **{"Authentication-Results": PASSED})
    entries = audit(app)
    assert [(e.command, e.ok) for e in entries] == [
        ("resend", True),
        ("resend", False),
        ("approve", False),
        ("发布", False),
        ("resend", False),
        ("show", False),
    ]
    (report,) = reports(app)
    assert "与第 1 条指令相同，只执行一次" in report.text
    assert "没有编号为 DJ-2026-0001 的登记或变更申请" in report.text
    assert "无法识别的指令“#发布”" in report.text and "#帮助" in report.text and "#批准" in report.text
    assert "参数不符，格式为：#重发 编号" in report.text
    assert "没有编号为 BS-2026-9999 的记录" in report.text
    assert report.text.count("#重发") >= 2 and "-----原始邮件-----" not in report.text


def test_help_lists_every_command_of_the_registry(app: App) -> None:
    command(app, "#帮助", **{"Authentication-Results": PASSED})
    (report,) = reports(app)
    for spec in app.registry.listed_commands():
        assert spec.usage[0] in report.text


def test_mailflow_do_runs_the_same_table_and_audits_it(app: App, tmp_path: Path) -> None:
    dead = dead_letter(app)
    config = write_config(tmp_path, security={"trusted_authserv_ids": [OUR_SERVER]})
    done = subprocess.run(
        [sys.executable, "-m", "mailflow", "do", f"#重发 {dead}\n#frobnicate", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # one line refused
    assert f"邮件 #{dead} 已重新排队发送" in done.stdout and "无法识别的指令“#frobnicate”" in done.stdout
    assert letter(app, dead).state == OutboxState.QUEUED
    assert [(e.via, e.command, e.ok) for e in audit(app)] == [("cli", "resend", True), ("cli", "frobnicate", False)]
    listed = subprocess.run(
        [sys.executable, "-m", "mailflow", "audit", "list", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"command": "resend"' in listed.stdout and '"via": "cli"' in listed.stdout


def test_the_same_command_mail_delivered_twice_runs_once(app: App) -> None:
    dead = dead_letter(app)
    raw = make_mail(
        sender=SECRETARIAT,
        subject="指令",
        body=f"#重发 {dead}",
        headers={"Authentication-Results": PASSED},
        message_id="<twice@chamber.example.org>",
    )
    maildir = app.settings.data_dir.parent / "Maildir"
    deliver(maildir, raw)
    deliver(maildir, raw)  # a second copy, as a mailbox rebuild or a forwarding rule leaves it
    Daemon(app).run_once()
    assert [(e.command, e.ok) for e in audit(app)] == [("resend", True)]
    assert len(reports(app)) == 1


def test_fix_address_corrects_the_liaison_lifts_the_flag_and_resends_what_bounced(app: App) -> None:
    bounced = dead_letter(app)
    with app.store.session() as session:
        row = session.get(Outbox, bounced)
        assert row is not None
        row.state = OutboxState.BOUNCED
        session.add(AddressFlag(email=LIAISON, reason="5.1.1 user unknown", bounces=1, last_at=app.clock.now()))
    command(app, f"#更正邮箱 {LIAISON} wang.fang@hongda-machinery.cn", **{"Authentication-Results": PASSED})
    with app.store.session() as session:
        assert session.exec(select(Liaison.email)).all() == ["wang.fang@hongda-machinery.cn"]
        assert session.exec(select(AddressFlag)).all() == []
        entry = session.exec(select(AuditEntry.id).where(AuditEntry.command == "fix_address")).one()
        history = session.exec(select(Change.kind, Change.field, Change.old, Change.new, Change.audit_id)).all()
        assert history == [("liaison", "email", LIAISON, "wang.fang@hongda-machinery.cn", entry)]
    resent = letter(app, bounced)
    assert resent.recipients == ["wang.fang@hongda-machinery.cn"] and resent.state == OutboxState.SENT
    (report,) = reports(app)
    assert "1 条记录，重发 1 封邮件" in report.text


def test_fix_address_matches_the_address_not_a_pattern(app: App) -> None:
    add_liaison(app, email="wangxfang@other.cn", unit="其他公司", code="OT001")
    command(app, "#更正邮箱 wang_fang@other.cn new@other.cn", **{"Authentication-Results": PASSED})
    with app.store.session() as session:  # `_` is a wildcard to LIKE: nothing may change
        assert "wangxfang@other.cn" in session.exec(select(Liaison.email)).all()
    assert "没有使用 wang_fang@other.cn 的记录" in reports(app)[-1].text


def test_reprocess_and_show_by_mail(app: App) -> None:
    deliver(app.settings.data_dir.parent / "Maildir", make_mail(sender="stranger@example.net", message_id="<s@x>"))
    Daemon(app).run_once()
    held = inbound(app, "s@x")
    assert held.state == "held"
    add_liaison(app, email="stranger@example.net", unit="新会员有限公司", code="XH002")
    command(app, f"#查询 {held.id}\n#重新处理 {held.id}", **{"Authentication-Results": PASSED})
    assert inbound(app, "s@x").state == "processed"  # run again, now from a liaison
    (report,) = reports(app)
    assert f"来信 #{held.id}：stranger@example.net" in report.text and "将按现行规则重新处理" in report.text


def test_a_leader_may_give_a_workflows_command_only_for_the_own_unit(app: App) -> None:
    from mailflow.commands import read_commands
    from mailflow.workflows.commands import CommandDesk, Requester
    from mailflow.workflows.contract import CommandSpec, Done, Workflow
    from mailflow.workflows.registry import Registry, standard
    from mailflow.workflows.tx import Tx

    def unit_of(call, tx):  # type: ignore[no-untyped-def]
        unit = tx.find(Unit, "code", call.args[0])
        return unit.id if unit else None

    confirm = CommandSpec(
        "confirm",
        ("确认", "confirm"),
        ("#确认 单位代码", "#confirm unit-code"),
        ("确认本单位信息", "confirm the unit's details"),
        lambda call, tx: Done(True, ("已确认", "confirmed"), call.args[0]),
        min_args=1,
        max_args=1,
        roles=frozenset({"secretariat", "leader"}),
        unit_of=unit_of,
    )
    add_liaison(app, email="li@other-unit.cn", unit="另一单位", code="QT003")
    desk = CommandDesk()
    desk.registry = Registry.build(standard(Workflow("units", commands=(confirm,)), desk=desk))
    with app.store.session() as session:
        own = session.exec(select(Unit).where(Unit.code == "HD001")).one()
        tx = Tx(session, now=app.clock.now(), zone=app.settings.chamber.zone, message_id_domain="x.cn")
        leader = Requester(own.leader_email or "", "leader", "mail", unit_id=own.id)
        report = desk.execute(read_commands("", "#确认 HD001\n#确认 QT003\n#重发 1"), leader, tx)
    assert [(text, done.ok, done.text[0]) for text, done in report] == [
        ("#确认 HD001", True, "已确认"),
        ("#确认 QT003", False, "只能对本单位的记录发出此指令"),
        ("#重发 1", False, "只有商会秘书处可以发出此指令"),
    ]


def test_show_gives_a_records_state_and_history(app: App) -> None:
    deliver(app.settings.data_dir.parent / "Maildir", make_mail(message_id="<news@hongda.cn>"))
    Daemon(app).run_once()
    command(app, "#查询 bs-2026-0001", **{"Authentication-Results": PASSED})
    command(app, "#show BS-2026-0001", **{"Authentication-Results": PASSED})
    first, second = reports(app)
    title = "我公司参加2026中国机械工业博览会"
    assert f"BS-2026-0001《{title}》：{LIAISON}，2026-11-24 09:00 收到，待筛选，第1版" in first.text
    assert "往来邮件：#1 ack_submission（sent）" in first.text
    assert "指令记录：#查询 bs-2026-0001（已执行）" in second.text  # the first #查询 is history now


def registration(app: App, subject: str, sender: str) -> None:
    photo = make_jpeg(width=1200, height=900)
    raw = make_mail(
        sender=sender, sender_name="李明", subject=subject, attachments=[("单位证明.jpg", photo, "image/jpeg")]
    )
    deliver(app.settings.data_dir.parent / "Maildir", raw)
    Daemon(app).run_once()


def letters(app: App, kind: str) -> list[Outbox]:
    with app.store.session() as session:
        return list(session.exec(select(Outbox).where(Outbox.kind == kind)).all())


def test_approving_a_registration_makes_the_liaison_active_and_tells_everyone(app: App) -> None:
    registration(app, "【登记】宏达机械有限公司 联络员李明", "liming@hongda-machinery.cn")
    command(app, "#批准 DJ-2026-0001", **{"Authentication-Results": PASSED})
    with app.store.session() as session:
        liaisons = session.exec(select(Liaison.email, Liaison.status).order_by(col(Liaison.id))).all()
        assert liaisons == [(LIAISON, "replaced"), ("liming@hongda-machinery.cn", "active")]
        assert session.exec(select(Registration.state)).one() == "approved"
        history = session.exec(select(Change.field, Change.old, Change.new, Change.why, Change.audit_id)).all()
        entry = session.exec(select(AuditEntry.id).where(AuditEntry.command == "approve")).one()
        # Proposed when the mail came (pending), active on approval, the one before replaced: each
        # approval line names the command's audit entry.
        assert [h[:4] for h in history if h[0] == "status"] == [
            ("status", "active", "replaced", "批准 DJ-2026-0001"),
            ("status", "pending", "active", "批准 DJ-2026-0001"),
        ]
        assert {h[4] for h in history if h[0] == "status"} == {entry}
        assert (
            "created",
            None,
            "李明 <liming@hongda-machinery.cn>（待审核）",
            "登记申请 DJ-2026-0001",
            None,
        ) in history
    (welcome,) = letters(app, "liaison_welcome")
    (notice,) = letters(app, "leader_notice")
    assert welcome.recipients == ["liming@hongda-machinery.cn"] and "宏达机械有限公司的商会联络员" in welcome.text
    assert notice.recipients == ["leader@hongda-machinery.cn"] and "李明（liming@hongda-machinery.cn）" in notice.text
    command(app, "#批准 DJ-2026-0001", **{"Authentication-Results": PASSED})  # a second time: refused
    assert "DJ-2026-0001 已处理（approved）" in reports(app)[-1].text and len(letters(app, "liaison_welcome")) == 1


def test_a_registration_without_a_known_unit_asks_for_its_code_and_can_be_returned(app: App) -> None:
    registration(app, "【登记】新成立的公司 王五", "wangwu@new.cn")
    registration(app, "【登记】另一家公司 赵六", "zhaoliu@other.cn")
    command(
        app,
        "#批准 DJ-2026-0001\n#批准 DJ-2026-0002 HD001\n#退回 DJ-2026-0002 重复\n#退回 DJ-2026-0001 单位证明未加盖公章",
        **{"Authentication-Results": PASSED},
    )
    (report,) = reports(app)
    assert "请在编号后写明单位的统一社会信用代码" in report.text
    assert "DJ-2026-0002 已批准" in report.text and "DJ-2026-0002 已处理（approved）" in report.text
    (returned,) = letters(app, "registration_returned")
    assert returned.recipients == ["wangwu@new.cn"] and "单位证明未加盖公章" in returned.text
