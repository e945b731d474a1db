"""GIVEN a request sent on Tuesday 24 November 2026, due Tuesday 15 December WHEN liaisons answer it
(a reply to its letter, a mail naming ZJ-…, a bare "收到", late, after it closed) and the clock is
moved by hand through the reminder day and the due date THEN each unit's answer is recorded once,
is also a submission, the units that have not answered are reminded once, three working days
before, and at the due date each unit that did not answer in time gets a miss the digest lists."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from builders import make_app, make_jpeg
from requesting import SECURITY, TITLE, add_units, liaison_mail, recipients, requests, rows, secretariat, text_of
from sqlmodel import select

from mailflow.app import App, build_app
from mailflow.clock import FixedClock
from mailflow.daemon import Daemon
from mailflow.store import Submission

SHANGHAI = ZoneInfo("Asia/Shanghai")
ANSWER = "秘书处：\n\n我公司2026年1-11月营业收入3.2亿元，同比增长8%。主要困难是原材料价格上涨。\n\n已经单位负责人审核。"


def at(month: int, day: int, hour: int = 9, minute: int = 30, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = make_app(tmp_path, security=SECURITY)
    add_units(application, 3, without=1)
    secretariat(application)  # ZJ-2026-0001, due 2026-12-15
    yield application
    application.close()


def letter_to(app: App, n: int, kind: str = "request_letter"):  # type: ignore[no-untyped-def]
    return next(r for r in rows(app, kind) if r.recipients == [f"liaison{n}@unit{n}.cn"])


def move(app: App, when: datetime) -> list[str]:
    app.clock.set(when)  # type: ignore[attr-defined]
    return app.scheduler.run_due()


def submissions(app: App) -> list[Submission]:
    with app.store.session() as session:
        return list(session.exec(select(Submission).order_by(Submission.id)).all())  # type: ignore[arg-type]


def test_a_reply_to_the_letter_is_the_units_answer_and_a_submission(app: App) -> None:
    letter = letter_to(app, 1)
    message = liaison_mail(app, 1, subject=f"回复：{letter.subject}", body=ANSWER, replying=letter)
    assert message.state == "processed"
    (sub,) = submissions(app)
    (request,) = requests(app)
    assert sub.request_id == request.id and sub.unit_id == 1 and "营业收入3.2亿元" in sub.text
    first = recipients(app)[0]
    assert first.answered_at is not None and first.answer_inbound_id == message.id and not first.late
    assert first.submission_id == sub.id
    (ack,) = rows(app, "ack_request_response")
    assert ack.recipients == ["liaison1@unit1.cn"] and ack.subject.startswith(f"【已收到】{sub.reference} ")
    assert f"贵单位对报送任务 ZJ-2026-0001《{TITLE}》的报送材料已收到并登记" in ack.text
    assert "晚于截止日期" not in ack.text


def test_a_new_mail_naming_the_reference_is_an_answer_too_and_a_photo_is_listed(app: App) -> None:
    photo = ("现场.jpg", make_jpeg(width=1600, height=1200), "image/jpeg")
    liaison_mail(app, 2, subject="ZJ-2026-0001 我公司经营情况", body=ANSWER, attachments=[photo])
    assert recipients(app)[1].answered_at is not None and submissions(app)[0].request_id == 1
    (ack,) = rows(app, "ack_request_response")
    assert "现场.jpg（1600×1200 像素）" in ack.text


def test_a_bare_acknowledgement_is_no_answer_and_gets_none(app: App) -> None:
    letter = letter_to(app, 1)
    message = liaison_mail(
        app, 1, subject=f"回复：{letter.subject}", body="收到，谢谢！\n\n联络员1\n第1机械有限公司", replying=letter
    )
    assert message.state == "processed" and message.reasons[0]["code"] == "request_receipt_only"
    assert recipients(app)[0].answered_at is None and submissions(app) == []
    assert rows(app, "ack_request_response") == [] and rows(app, "ack_reply") == []


def test_a_photo_too_small_is_refused_and_the_answer_not_recorded(app: App) -> None:
    small = ("小图.jpg", make_jpeg(width=640, height=480), "image/jpeg")
    letter = letter_to(app, 1)
    message = liaison_mail(app, 1, subject=f"回复：{letter.subject}", body=ANSWER, replying=letter, attachments=[small])
    assert message.state == "rejected" and recipients(app)[0].answered_at is None
    (answer,) = rows(app, "rejection")
    assert "800×600" in answer.text


def test_the_leader_answers_for_the_unit_and_a_stranger_is_held(app: App) -> None:
    liaison_mail(app, 3, subject="关于ZJ-2026-0001的报送", body=ANSWER, sender="boss3@unit3.cn")
    assert recipients(app)[2].answered_at is not None
    held = liaison_mail(app, 9, subject="ZJ-2026-0001 报送", body=ANSWER, sender="someone@example.net")
    assert held.state == "held" and len(submissions(app)) == 1


def test_a_unit_not_asked_is_kept_as_a_submission_and_told_so(tmp_path: Path) -> None:
    app = make_app(tmp_path, security=SECURITY)
    add_units(app, 3)
    secretariat(app, subject=f"#征集 {TITLE} 截止 2026-12-15 U001")
    liaison_mail(app, 2, subject="ZJ-2026-0001 我公司也报一份", body=ANSWER)
    (sub,) = submissions(app)
    assert sub.request_id == 1 and [r.unit_id for r in recipients(app)] == [1]
    (ack,) = rows(app, "ack_request_response")
    assert "贵单位不在本次报送任务的征集范围内，来稿已一并登记" in ack.text
    app.close()


def test_reminders_go_once_three_working_days_before_to_those_who_have_not_answered(app: App) -> None:
    """Due Tuesday 15 December: Monday 14, Friday 11, Thursday 10: the reminders go on the 10th."""
    Daemon(app).run_once()  # the jobs' first start
    app.clock.set(at(11, 25))  # type: ignore[attr-defined]
    liaison_mail(app, 1, subject=f"回复：{letter_to(app, 1).subject}", body=ANSWER, replying=letter_to(app, 1))
    move(app, at(12, 9))
    assert rows(app, "request_reminder") == []
    assert "request_reminders" in move(app, at(12, 10))
    reminders = rows(app, "request_reminder")
    assert sorted(r.recipients[0] for r in reminders) == ["liaison2@unit2.cn", "liaison3@unit3.cn"]
    assert reminders[0].subject == f"【催报】ZJ-2026-0001 {TITLE}（12月15日截止）"
    assert "将于2026年12月15日（星期二）截止，目前尚未收到贵单位的报送材料" in text_of(app, reminders[0])
    assert [r.reminded_at is not None for r in recipients(app)] == [False, True, True, False]
    move(app, at(12, 11))
    restarted = build_app(app.settings, clock=FixedClock(at(12, 11, 10)))  # a restart the same day
    restarted.scheduler.run_due()
    restarted.close()
    assert len(rows(app, "request_reminder")) == 2 and requests(app)[0].reminded_at is not None


def test_at_the_due_date_each_unit_that_did_not_answer_in_time_gets_a_miss(app: App) -> None:
    Daemon(app).run_once()
    liaison_mail(app, 1, subject=f"回复：{letter_to(app, 1).subject}", body=ANSWER, replying=letter_to(app, 1))
    move(app, at(12, 15, 23, 50))
    assert requests(app)[0].closed_at is None  # the due day is not over
    app.clock.set(at(12, 16, 8, 40))  # type: ignore[attr-defined]
    liaison_mail(app, 2, subject=f"回复：{letter_to(app, 2).subject}", body=ANSWER, replying=letter_to(app, 2))
    asked = recipients(app)
    assert [(r.late, r.missed) for r in asked] == [(False, False), (True, True), (False, True), (False, False)]
    assert requests(app)[0].closed_at is not None
    late_ack = rows(app, "ack_request_response")[-1]
    assert "本任务的截止日期为2026年12月15日（星期二），贵单位的材料晚于截止日期 1 天送达" in late_ack.text
    digest = rows(app, "digest")[-1]  # the 16th's: the 15th's said the request was open
    assert "已报送 1/3 家，1 家无在岗联络员" in rows(app, "digest")[-2].text
    assert "报送任务未按期报送" in digest.text
    assert "第2机械有限公司 联络员2（逾期报送）" in digest.text and "第3机械有限公司 联络员3" in digest.text
    # Two months after it closed: still recorded as a late answer, and told the request has closed.
    app.clock.set(at(2, 16, year=2027))  # type: ignore[attr-defined]
    liaison_mail(app, 3, subject=f"回复：{letter_to(app, 3).subject}", body=ANSWER, replying=letter_to(app, 3))
    third = recipients(app)[2]
    assert third.answered_at is not None and third.late and third.missed
    ack = rows(app, "ack_request_response")[-1]
    assert ack.recipients == ["liaison3@unit3.cn"]
    assert "本任务已于2026年12月16日（星期三）结束征集（截止日期为2026年12月15日（星期二））" in ack.text
    assert "晚于截止日期 63 天送达，已按逾期报送登记在案" in ack.text


def test_an_answer_run_again_makes_no_second_submission_and_no_second_answer(app: App) -> None:
    letter = letter_to(app, 1)
    message = liaison_mail(app, 1, subject=f"回复：{letter.subject}", body=ANSWER, replying=letter)
    assert app.pipeline.reprocess(message.id or 0) == "processed"
    assert len(submissions(app)) == 1 and len(rows(app, "ack_request_response")) == 1
    assert recipients(app)[0].answer_inbound_id == message.id
