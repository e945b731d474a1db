"""GIVEN command mail (from the secretariat, proved or not; from a liaison; hostile or odd lines)
WHEN a pass runs over a real store THEN each line ends done or refused with its reason, is
audited, the sender gets one report threaded to the command mail, and nothing runs twice."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import LIAISON, SECRETARIAT, add_liaison, deliver, make_app, make_mail, write_config
from sqlmodel import col, select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.outbound.outbox import Draft, queue
from mailflow.outbound.render import Rendered
from mailflow.store import AuditEntry, InboundMessage, Outbox, OutboxState

OUR_SERVER = "mx.chamber.example.org"
PASSED = f"{OUR_SERVER}; dkim=pass header.d=chamber.example.org; dmarc=pass header.from=chamber.example.org"


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
    assert app.scheduler.run_due() == ["digest"]
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
        "#批准 DJ-2026-0001\n"  # no workflow offers it yet
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
        ("批准", False),
        ("resend", False),
        ("show", False),
    ]
    (report,) = reports(app)
    assert "与第 1 条指令相同，只执行一次" in report.text
    assert "无法识别的指令“#批准”" in report.text and "#帮助" in report.text
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
