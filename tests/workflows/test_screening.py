"""GIVEN submissions stored from real mail WHEN the secretariat screens them (#采用 / #不采用 / #退修, by
mail or at once from two places) THEN each is decided once, the liaison is told each outcome in the
submission's thread, and the digest's queue puts liaison-written submissions first (Art. 5)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from builders import LIAISON, OUR_SERVER, PASSED, SECRETARIAT, add_liaison, deliver, make_app, make_jpeg, make_mail
from sqlalchemy import text
from sqlmodel import col, select

from mailflow.app import App
from mailflow.clock import FixedClock
from mailflow.daemon import Daemon
from mailflow.store import InboundMessage, Outbox, Submission
from mailflow.workflows import screening
from mailflow.workflows.contract import Call

LEADER = "leader@hongda-machinery.cn"  # the unit's leader (builders.add_liaison)
OTHER = "zhaomin@tianfu.cn"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))


@pytest.fixture
def app(tmp_path: Path, clock: FixedClock) -> Iterator[App]:
    application = make_app(tmp_path, clock=clock, security={"trusted_authserv_ids": [OUR_SERVER]})
    add_liaison(application)
    add_liaison(application, email=OTHER, unit="天府精密制造有限公司", code="TF002")
    yield application
    application.close()


def send(app: App, raw: bytes) -> InboundMessage:
    deliver(app.settings.data_dir.parent / "Maildir", raw)
    Daemon(app).run_once()
    with app.store.session() as session:
        return session.exec(select(InboundMessage).order_by(col(InboundMessage.id).desc())).first()  # type: ignore[return-value]


def submit(app: App, sender: str = LIAISON, title: str = "我公司参加2026中国国际机床展览会") -> str:
    body = "11月20日，我公司参加了2026中国国际机床展览会。\n\n本稿已经单位负责人审核。\n"
    jpeg = ("展会现场.jpg", make_jpeg(width=1600, height=1200), "image/jpeg")
    send(app, make_mail(sender=sender, subject=f"【报送】{title}", body=body, attachments=[jpeg]))
    with app.store.session() as session:
        return session.exec(select(Submission.reference).order_by(col(Submission.id).desc())).first() or ""


def command(app: App, lines: str) -> str:
    """A proved secretariat command mail; returns its report's text."""
    send(app, make_mail(sender=SECRETARIAT, subject="指令", body=lines, headers={"Authentication-Results": PASSED}))
    return letters(app, "command_report")[-1].text


def letters(app: App, kind: str, to: str | None = None) -> list[Outbox]:
    with app.store.session() as session:
        rows = session.exec(select(Outbox).where(Outbox.kind == kind).order_by(col(Outbox.id))).all()
        return [r for r in rows if to is None or to in r.recipients]


def submission(app: App, reference: str) -> Submission:
    with app.store.session() as session:
        row = session.exec(select(Submission).where(Submission.reference == reference)).one()
        session.expunge(row)
        return row


def test_adopted_for_the_journal_the_liaison_is_told_in_the_submissions_thread(app: App, clock: FixedClock) -> None:
    ref = submit(app)
    clock.advance(hours=2)
    report = command(app, f"#采用 {ref} 期刊")
    assert f"{ref} 已采用，拟在会刊刊发，已告知报送人" in report
    sub = submission(app, ref)
    assert (sub.state, sub.outlets, sub.decided_by, sub.decided_at) == ("adopted", "journal", SECRETARIAT, clock.now())
    (letter,) = letters(app, "submission_adopted", LIAISON)
    assert letter.subject == f"【采用通知】{ref} 我公司参加2026中国国际机床展览会"
    assert "王芳：" in letter.text and "已予采用，拟在会刊刊发" in letter.text
    assert letter.reference == ref  # a reply to it is routed to the submission


@pytest.mark.parametrize(("word", "outlets"), [("网站", "site"), ("全部", "all"), ("", "all"), ("journal", "journal")])
def test_the_outlet_as_written_and_both_when_none_is_named(app: App, word: str, outlets: str) -> None:
    ref = submit(app)
    command(app, f"#采用 {ref} {word}".strip())
    assert submission(app, ref).outlets == outlets


def test_a_rejection_tells_why_on_one_line_and_a_second_decision_is_told_it_was_decided(app: App) -> None:
    ref = submit(app)
    report = command(app, f"#不采用 {ref} 内容与会刊栏目定位不符，\n<b>请见谅</b>")
    assert f"{ref} 不予采用，已告知报送人原因" in report
    (letter,) = letters(app, "submission_rejected", LIAISON)
    assert "内容与会刊栏目定位不符，" in letter.text
    report = command(app, f"#采用 {ref} 全部")
    assert f"{ref} 已有决定：不予采用（{SECRETARIAT} 2026-11-24 09:00），本次未作更改" in report
    sub = submission(app, ref)
    assert (sub.state, sub.outlets) == ("rejected", None)
    assert not letters(app, "submission_adopted")


def test_returned_for_revision_then_adopted_and_two_lines_in_one_mail_decide_once(app: App) -> None:
    ref = submit(app)
    report = command(app, f"#退修 {ref} 请补充展会成交数据")
    assert f"{ref} 已退修，已将修改意见告知报送人" in report
    (letter,) = letters(app, "submission_returned", LIAISON)
    assert "请补充展会成交数据" in letter.text and f"保留主题中的编号 {ref}" in letter.text
    report = command(app, f"#采用 {ref} 网站\n#不采用 {ref} 重复")
    assert f"{ref} 已采用" in report and f"{ref} 已有决定：已采用" in report
    assert submission(app, ref).state == "adopted" and not letters(app, "submission_rejected")


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("#采用 BS-2026-0999 全部", "没有编号为 BS-2026-0999 的报送信息"),
        ("#采用 {ref} 报纸", "“报纸”不是发布渠道：请写 期刊、网站 或 全部"),
        ("#不采用 {ref}", "#不采用 编号 原因"),  # a reason is required: the usage line is shown
        ("#退修 {ref}", "#退修 编号 修改意见"),
    ],
)
def test_a_decision_that_cannot_be_taken_says_why_and_changes_nothing(app: App, line: str, said: str) -> None:
    ref = submit(app)
    report = command(app, line.format(ref=ref))
    assert said in report
    assert submission(app, ref).state == "received"
    assert not letters(app, "submission_adopted") + letters(app, "submission_rejected")


def test_the_queue_puts_liaison_written_first_then_the_oldest(app: App, clock: FixedClock) -> None:
    by_leader = submit(app, sender=LEADER, title="负责人来稿")  # the oldest, but not a liaison's
    clock.advance(hours=1)
    newer = submit(app, sender=OTHER, title="天府来稿")
    clock.advance(hours=1)
    newest = submit(app, title="宏达来稿")
    decided = submit(app, title="已采用的稿件")
    command(app, f"#采用 {decided}")
    with app.store.session() as session:
        items = screening.queue(session, clock.now(), clock.now(), "zh-CN")
    assert [i.ref for i in items] == [newer, newest, by_leader]
    assert items[2].summary.endswith("（非联络员报送）") and items[0].summary.startswith("天府精密制造有限公司 ")
    with app.store.session() as session:
        digest = app.registry.sections
        (section,) = [s for s in digest if s.name == "submissions"]
        assert section.decision and section.gather(session, clock.now(), clock.now(), "zh-CN") == items


def test_two_members_deciding_at_once_on_postgresql_the_second_is_told(tmp_path: Path, pg_url: str) -> None:
    """Two transactions take the same submission: the second waits on the row, then reads the decision."""
    app = make_app(tmp_path, database={"url": pg_url}, security={"trusted_authserv_ids": [OUR_SERVER]})
    try:
        add_liaison(app)
        ref = submit(app)
        first_has_lock, outcomes = threading.Event(), {}

        def decide(who: str, line: tuple[str, ...], hold: threading.Event | None) -> None:
            with app.store.session() as session:
                call = Call(line[0], line[1:], " ".join(line[2:]), who, "secretariat")
                run = screening.adopt if line[0] == "采用" else screening.reject
                outcomes[who] = run(call, app.tx(session))
                if hold is not None:
                    first_has_lock.set()
                    hold.wait(10)

        release = threading.Event()
        first = threading.Thread(target=decide, args=("a@chamber.example.org", ("采用", ref, "全部"), release))
        first.start()
        assert first_has_lock.wait(10)
        second = threading.Thread(target=decide, args=("b@chamber.example.org", ("不采用", ref, "不合适"), None))
        second.start()
        _until_waiting_on_a_lock(app)
        release.set()
        first.join(10), second.join(10)
        assert outcomes["a@chamber.example.org"].ok
        assert not outcomes["b@chamber.example.org"].ok
        assert "已有决定：已采用（a@chamber.example.org" in outcomes["b@chamber.example.org"].text[0]
        assert submission(app, ref).state == "adopted"
    finally:
        app.close()


def _until_waiting_on_a_lock(app: App, tries: int = 2000) -> None:
    """Return once some other connection waits on a row lock (a condition, polled; not a timed sleep)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    with app.store.engine.connect() as conn:
        for _ in range(tries):
            if conn.execute(query).scalar_one():
                return
            conn.rollback()
            threading.Event().wait(0.005)
    raise AssertionError("the second transaction never waited on the row")


def test_an_important_event_reaches_the_secretariat_at_once_and_a_reply_decides_it(app: App) -> None:
    body = "11月23日，我公司承办的行业年会在成都召开，\n省市领导出席。\n\n本稿已经单位负责人审核。\n"
    send(app, make_mail(subject="【会议活动】我公司承办行业年会", body=body))
    (notice,) = letters(app, "submission_urgent", SECRETARIAT)
    assert notice.subject == "【重要事件报送·请当日处理】BS-2026-0001 我公司承办行业年会"
    assert "宏达机械有限公司联络员王芳报送了一则重要会议、活动信息" in notice.text
    assert "内容摘要：11月23日，我公司承办的行业年会在成都召开， 省市领导出席。 本稿已经单位负责人审核。" in notice.text
    assert "#采用 BS-2026-0001 全部" in notice.text and notice.reference == "BS-2026-0001"
    # The secretariat answers the notice itself: a reply to our letter to that address proves the command.
    reply = make_mail(sender=SECRETARIAT, subject=f"Re: {notice.subject}", body="#采用 BS-2026-0001 网站\n\n> 原文",
                      headers={"In-Reply-To": f"<{notice.message_id}>"})  # fmt: skip
    send(app, reply)
    assert submission(app, "BS-2026-0001").outlets == "site"
    send(app, make_mail(subject="【报送】我公司参加2026中国机械工业博览会", message_id="<routine@hongda>"))
    assert len(letters(app, "submission_urgent")) == 1  # routine news waits for the digest


def test_a_version_that_comes_after_the_decision_is_listed_for_a_look(app: App, clock: FixedClock) -> None:
    ref = submit(app)
    command(app, f"#采用 {ref} 全部")
    (adopted,) = letters(app, "submission_adopted", LIAISON)
    clock.advance(hours=1)
    revision = (
        "更正稿：" + "11月20日，我公司参加了2026中国国际机床展览会，签约金额达三千万元，现将更正后的稿件报上。" * 2
    )
    send(app, make_mail(subject=f"Re: {adopted.subject}", body=revision + "\n\n本稿已经单位负责人审核。",
                        headers={"In-Reply-To": f"<{adopted.message_id}>"}))  # fmt: skip
    sub = submission(app, ref)
    assert (sub.state, sub.version) == ("adopted", 2)
    with app.store.session() as session:
        (item,) = screening.queue(session, clock.now(), clock.now(), "zh-CN")
    assert item.ref == ref and item.command == "show" and "已采用后收到第2版" in item.summary


def test_show_tells_where_a_submission_stands_and_who_decided(app: App) -> None:
    ref = submit(app)
    report = command(app, f"#不采用 {ref} 与栏目不符\n#查询 {ref}")
    assert (
        f"{ref}《我公司参加2026中国国际机床展览会》：{LIAISON}，2026-11-24 09:00 收到，不予采用，第1版"
        f"（{SECRETARIAT} 2026-11-24 09:00 决定：与栏目不符）" in report
    )
