"""GIVEN the secretariat's request for information (`#征集 标题 截止 日期 对象`), proved or not,
well-formed or not WHEN a pass runs over a real store THEN each unit's active liaison gets one
letter carrying the reference ZJ-…, the secretariat a report naming the units that have no liaison
(recorded, not lost), and a request that cannot go is answered with the reason and queues nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from builders import PASSED, SECRETARIAT, make_app, make_mail
from requesting import (
    BODY, SECURITY, SUBJECT, TITLE, add_units, deliver_now, last_message, recipients, requests, rows, secretariat,
)  # fmt: skip
from sqlalchemy import event
from sqlmodel import select

from mailflow.app import App, request_policy
from mailflow.daemon import Daemon
from mailflow.outbound.outbox import letter_body
from mailflow.outbound.parts import parts_of
from mailflow.store import AuditEntry
from mailflow.workflows.requests import Ask, create


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = make_app(tmp_path, security=SECURITY)
    add_units(application, 3, without=1)
    yield application
    application.close()


def test_a_proved_request_goes_to_each_active_liaison_and_the_unit_without_one_is_reported(app: App) -> None:
    secretariat(app)
    letters = rows(app, "request_letter")
    assert sorted(r.recipients[0] for r in letters) == [f"liaison{n}@unit{n}.cn" for n in (1, 2, 3)]
    assert {r.subject for r in letters} == {f"【报送任务】ZJ-2026-0001 {TITLE}（12月15日前报送）"}
    assert {r.reference for r in letters} == {"ZJ-2026-0001"}
    with app.store.session() as session:
        text = letter_body(session, letters[0])[0]
    assert "请报送贵单位2026年1-11月主要经济指标" in text and "报送截止：2026年12月15日（星期二）" in text
    assert "#征集" not in text
    (request,) = requests(app)
    assert (request.title, request.due, request.units, request.letters) == (TITLE, date(2026, 12, 15), [], 3)
    assert request.unreached == ["U004"] and request.sender == SECRETARIAT and request.via == "mail"
    asked = recipients(app)
    assert [(r.unit_id, r.liaison_id is not None) for r in asked] == [(1, True), (2, True), (3, True), (4, False)]
    (report,) = rows(app, "request_report")
    assert report.recipients == [SECRETARIAT] and report.subject == f"【报送任务已发出】ZJ-2026-0001 {TITLE}"
    assert "共 3 封邮件已排队" in report.text and "第4机械有限公司（U004）" in report.text
    assert "暂无在岗联络员" in report.text and "2026年12月10日（星期四）向尚未报送的单位催报" in report.text
    with app.store.session() as session:
        (entry,) = session.exec(select(AuditEntry)).all()
    assert (entry.command, entry.record, entry.ok, entry.via) == ("request", "ZJ-2026-0001", True, "mail")


@pytest.mark.parametrize(
    ("subject", "body", "due", "units"),
    [
        (f"＃征集　{TITLE}　截止　２０２６年１２月１５日　全体", BODY, date(2026, 12, 15), []),
        (f"#征集 {TITLE} 截止12月15日前 U001、U002", BODY, date(2026, 12, 15), ["U001", "U002"]),
        (f"#征集 {TITLE} 截止 12.15 全体联络员", BODY, date(2026, 12, 15), []),
        (TITLE, "#征集 截止 2026/12/15 u003\n\n" + BODY, date(2026, 12, 15), ["U003"]),
        (f"#request {TITLE} due 2027-01-08 all", BODY, date(2027, 1, 8), []),
    ],
)
def test_the_line_is_read_as_offices_write_it(app: App, subject: str, body: str, due: date, units: list[str]) -> None:
    secretariat(app, subject=subject, body=body)
    (request,) = requests(app)
    assert (request.title, request.due, request.units) == (TITLE, due, units)
    assert "#征集" not in request.text and "请报送贵单位" in request.text
    assert len(rows(app, "request_letter")) == (len(units) or 3)


@pytest.mark.parametrize(
    ("subject", "said"),
    [
        (f"#征集 {TITLE} 截止 2026-11-20 全体联络员", "截止日期 2026-11-20 不晚于今天（2026-11-24）"),
        (f"#征集 {TITLE} 截止 2026-11-24 全体联络员", "截止日期 2026-11-24 不晚于今天（2026-11-24）"),
        (f"#征集 {TITLE} 截止 下周五 全体联络员", "无法识别截止日期“下周五”"),
        (f"#征集 {TITLE} 截止 2026-02-30 全体联络员", "无法识别截止日期“2026-02-30”"),
        (f"#征集 {TITLE} 全体联络员", "未写明截止日期"),
        (f"#征集 {TITLE} 截止 2026-12-15", "未写明报送对象"),
        (f"#征集 {TITLE} 截止 2026-12-15 U001,X999", "以下代码不属于任何会员单位：X999"),
    ],
)
def test_a_request_that_cannot_go_is_answered_with_the_reason_and_queues_nothing(
    app: App, subject: str, said: str
) -> None:
    secretariat(app, subject=subject)
    assert last_message(app).state == "rejected"
    (answer,) = rows(app, "rejection")
    assert answer.recipients == [SECRETARIAT] and said in answer.text and "重新发送" in answer.text
    assert rows(app, "request_letter") == [] and requests(app) == [] and recipients(app) == []


def test_an_unproved_request_is_held_unsent_and_unanswered(app: App) -> None:
    secretariat(app, proven=False)
    assert last_message(app).state == "held" and last_message(app).reasons[0]["code"] == "unauthenticated_request"
    assert rows(app, "request_letter") == [] and rows(app, "rejection") == []


def test_the_same_mail_delivered_again_queues_nothing_new(app: App) -> None:
    secretariat(app)
    secretariat(app)  # a copy the archiver kept as a duplicate
    assert len(rows(app, "request_letter")) == 3 and len(requests(app)) == 1


def test_no_unit_with_a_liaison_is_refused(tmp_path: Path) -> None:
    app = make_app(tmp_path, security=SECURITY)
    add_units(app, 0, without=2)
    secretariat(app)
    (answer,) = rows(app, "rejection")
    assert "所选单位均无在岗联络员" in answer.text and requests(app) == []
    app.close()


def test_queuing_takes_as_many_statements_for_5000_liaisons_as_for_50(tmp_path: Path) -> None:
    """Tx.letters: one INSERT per thousand letters is the only growth allowed."""

    def statements(liaisons: int) -> int:
        app = make_app(tmp_path / str(liaisons), security=SECURITY)
        add_units(app, liaisons, without=2)
        seen: list[str] = []
        event.listen(app.store.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
        with app.store.session() as session:
            ask = Ask(TITLE, BODY, date(2026, 12, 15), (), SECRETARIAT, "cli")
            created = create(ask, app.tx(session), request_policy(app.settings))
        app.close()
        assert not isinstance(created, tuple) and created.request.letters == liaisons
        assert len(created.request.unreached) == 2
        return len(seen)

    small, large = statements(50), statements(5000)
    print(f"statements: 50 liaisons {small}, 5000 liaisons {large}")
    assert large <= small + 5000 // 1000, (small, large)


def test_show_tells_how_a_request_stands(app: App) -> None:
    secretariat(app)
    secretariat(app, subject="指令", body="#查询 zj-2026-0001", mid="<show@chamber.example.org>")
    report = rows(app, "command_report")[-1]
    assert (
        f"ZJ-2026-0001《{TITLE}》：截止 2026-12-15，征集中；已报送 0/3 家（逾期 0），已提醒 0 家，未报送记录 0 家；"
        "1 家无在岗联络员" in report.text
    )
    assert "往来邮件：#1 request_letter" in report.text


def test_a_form_attached_to_the_request_goes_with_every_letter_stored_once(app: App) -> None:
    sheet = Workbook()
    sheet.active.append(["单位名称", "1-11月营业收入（万元）", "同比增长"])
    saved = io.BytesIO()
    sheet.save(saved)
    form = saved.getvalue()  # a real .xlsx, as the secretariat attaches its form
    raw = make_mail(
        sender=SECRETARIAT, subject=SUBJECT, body=BODY, headers={"Authentication-Results": PASSED},
        attachments=[("2026年度经营情况调查表.xlsx", form, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")],
    )  # fmt: skip
    deliver_now(app, raw)
    Daemon(app).run_once()
    letters = rows(app, "request_letter")
    assert len(letters) == 3
    with app.store.engine.connect() as conn:
        carried = parts_of(conn, [r.id or 0 for r in letters])
    assert {tuple(p.filename for p in carried[r.id or 0]) for r in letters} == {("2026年度经营情况调查表.xlsx",)}
    assert len({p.sha256 for ps in carried.values() for p in ps}) == 1  # one stored file for every letter
    with app.store.session() as session:
        text = letter_body(session, letters[0])[0]
    assert "附件：2026年度经营情况调查表.xlsx（请按附件填写后随报送材料一并发送）" in text


def test_files_over_the_limit_refuse_the_request(tmp_path: Path) -> None:
    app = make_app(tmp_path, security=SECURITY, circulars={"max_attachments_mb": 0.5})
    try:
        add_units(app, 2)
        raw = make_mail(
            sender=SECRETARIAT, subject=SUBJECT, body=BODY, headers={"Authentication-Results": PASSED},
            attachments=[("调查表.pdf", b"%PDF-1.4\n" + b"0" * 600_000, "application/pdf")],
        )  # fmt: skip
        deliver_now(app, raw)
        Daemon(app).run_once()
        assert not rows(app, "request_letter") and not requests(app)
        (rejection,) = rows(app, "rejection")
        assert "报送任务附件合计 0.6 MB，超过 0.5 MB 的上限，未发出。请压缩附件" in rejection.text
    finally:
        app.close()
