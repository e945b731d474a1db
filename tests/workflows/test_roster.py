"""联络员名录 (Art. 3): GIVEN active liaisons WHEN the daily roster job runs at 17:00 THEN every liaison gets
one letter carrying the roster as .xlsx, once; not again that day, nor the next day when nothing changed,
and again after a liaison is appointed. The queries do not grow with the liaisons."""

from __future__ import annotations

import email
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from builders import make_settings
from openpyxl import load_workbook
from sqlalchemy import event
from sqlmodel import col, select

from mailflow.app import App, build_app, make_roster
from mailflow.clock import FixedClock
from mailflow.config import settings_from_mapping
from mailflow.errors import ConfigError
from mailflow.members.registry import appoint
from mailflow.outbound.transports import MemoryTransport
from mailflow.store import JobRun, Liaison, Outbox, RosterIssue, Unit
from mailflow.workflows.roster import letter_key

CHAMBER = "成都市机械制造业商会"
MORNING = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
EVENING = datetime(2026, 12, 1, 9, 1, tzinfo=UTC)  # 17:01
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def build(tmp_path: Path, **sections: Any) -> tuple[App, MemoryTransport]:
    transport = MemoryTransport()
    settings = make_settings(tmp_path, chamber={"name": CHAMBER}, **sections)
    return build_app(settings, clock=FixedClock(MORNING), transport=transport), transport


def seed(app: App, count: int) -> None:
    with app.store.session() as session:
        units = [
            Unit(
                name=f"成都第{n:03d}机械有限公司",
                code=f"U{n:04d}",
                member_class="会员单位",
                leader_email=f"head{n}@u{n}.cn",
            )
            for n in range(count)
        ]
        session.add_all(units)
        session.flush()
        session.add_all(
            Liaison(unit_id=unit.id or 0, name=f"联络员{n}", email=f"liaison{n}@u{n}.cn", phone="13800138000")
            for n, unit in enumerate(units)
        )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[App, MemoryTransport]]:
    application, transport = build(tmp_path)
    seed(application, 3)
    application.scheduler.run_due()  # the first start, at 08:00: yesterday's 17:00 was nobody's work
    yield application, transport
    application.close()


def move(app: App, when: datetime) -> list[str]:
    assert isinstance(app.clock, FixedClock)
    app.clock.set(when)
    return app.scheduler.run_due()


def letters(app: App) -> list[Outbox]:
    with app.store.session() as session:
        return list(session.exec(select(Outbox).where(Outbox.kind == "roster_letter").order_by(col(Outbox.id))).all())


def issues(app: App) -> list[RosterIssue]:
    with app.store.session() as session:
        return list(session.exec(select(RosterIssue).order_by(col(RosterIssue.id))).all())


def test_the_roster_goes_once_to_every_liaison_with_the_xlsx(app: tuple[App, MemoryTransport]) -> None:
    application, transport = app
    assert "roster" in move(application, EVENING)

    (issue,) = issues(application)
    assert (issue.reference, issue.units, issue.liaisons, issue.letters) == ("MC-2026-0001", 3, 3, 3)
    assert [row.dedupe_key for row in letters(application)] == [
        f"roster:MC-2026-0001:liaison{n}@u{n}.cn" for n in range(3)
    ]
    assert application.dispatcher.run() >= 3
    sent = [email.message_from_bytes(letter.message, policy=email.policy.default) for letter in transport.outbox]
    rosters = [m for m in sent if isinstance(m, EmailMessage) and m["Subject"].startswith("关于印发")]
    assert sorted(str(m["To"]) for m in rosters) == [f"liaison{n}@u{n}.cn" for n in range(3)]
    title = f"{CHAMBER}联络员名录（2026年12月1日）"
    for message in rosters:
        assert message["Subject"] == f"关于印发《{title}》的通知（MC-2026-0001）"
        body = message.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert text.startswith("各会员单位联络员：") and f"现将最新的《{title}》印发给你们" in text
        assert "共收录 3 家会员单位的 3 名联络员" in text and f"附件：{title}.xlsx" in text
        (part,) = message.iter_attachments()
        assert (part.get_filename(), part.get_content_type()) == (f"{title}.xlsx", XLSX)
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        sheet = load_workbook(io.BytesIO(data)).active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0] == title and rows[1][1] == "单位名称" and len(rows) == 2 + 3
        assert rows[2][1:] == ("成都第000机械有限公司", "会员单位", "联络员0", None, "13800138000", "liaison0@u0.cn")
    files = [p for p in (application.settings.data_dir / "outgoing").rglob("*") if p.is_file()]
    assert [p.name for p in files] == [issue.file_sha256]  # one file for every letter


def test_not_again_the_same_day_nor_the_next_when_unchanged_and_again_after_an_appointment(
    app: tuple[App, MemoryTransport],
) -> None:
    application, _ = app
    move(application, EVENING)
    appoint_new_liaison(application, datetime(2026, 12, 1, 9, 30, tzinfo=UTC))  # 17:30, after the day's letter
    assert "roster" not in move(application, datetime(2026, 12, 1, 15, 0, tzinfo=UTC))  # 23:00 the same day
    assert len(letters(application)) == 3

    appointed_again = datetime(2026, 12, 2, 9, 1, tzinfo=UTC)
    assert "roster" in move(application, appointed_again)  # the next day: the appointment changed the roster
    second = [row for row in letters(application) if row.reference == "MC-2026-0002"]
    assert sorted(row.recipients[0] for row in second) == ["liaison0@u0.cn", "liaison2@u2.cn", "new1@u1.cn"]
    assert "以下单位的联络员信息有变动" in second[0].text and "- 成都第001机械有限公司" in second[0].text
    assert "自上期名录（MC-2026-0001）印发以来" in second[0].text

    assert "roster" in move(application, datetime(2026, 12, 3, 9, 1, tzinfo=UTC))  # ran, and found no change
    assert [issue.reference for issue in issues(application)] == ["MC-2026-0001", "MC-2026-0002"]
    assert len(letters(application)) == 6
    with application.store.session() as session:
        runs = session.exec(select(JobRun.outcome).where(JobRun.job == "roster").order_by(col(JobRun.id))).all()
    assert runs == ["first start", "sent MC-2026-0001", "sent MC-2026-0002", "unchanged MC-2026-0002"]


def appoint_new_liaison(app: App, when: datetime) -> None:
    with app.store.session() as session:
        unit = session.exec(select(Unit).where(Unit.code == "U0001")).one()
        appoint(session, unit, "新人", "new1@u1.cn", now=when, today=when.date(), why="批准 DJ-2026-0001")


def test_a_letter_sent_by_hand_today_leaves_a_later_change_for_tomorrow(app: tuple[App, MemoryTransport]) -> None:
    application, _ = app
    publication = make_roster(application.settings, application.renderer)
    assert isinstance(application.clock, FixedClock)
    application.clock.set(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))  # 10:00
    with application.store.session() as session:
        assert publication.publish(application.tx(session)).outcome == "sent"
    with application.store.session() as session:
        assert publication.publish(application.tx(session)).outcome == "unchanged"
    appoint_new_liaison(application, datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    assert "roster" in move(application, EVENING)
    assert [issue.reference for issue in issues(application)] == ["MC-2026-0001"]
    assert "roster" in move(application, datetime(2026, 12, 2, 9, 1, tzinfo=UTC))
    assert [issue.reference for issue in issues(application)] == ["MC-2026-0001", "MC-2026-0002"]


def test_a_crash_before_the_commit_leaves_nothing_and_the_next_run_sends_once(
    app: tuple[App, MemoryTransport],
) -> None:
    application, _ = app
    publication = make_roster(application.settings, application.renderer)
    with pytest.raises(RuntimeError), application.store.session() as session:
        assert publication.publish(application.tx(session)).reference == "MC-2026-0001"
        raise RuntimeError("killed before the commit")
    assert issues(application) == [] and letters(application) == []
    move(application, EVENING)
    assert [issue.reference for issue in issues(application)] == ["MC-2026-0001"]
    assert len(letters(application)) == 3


def test_nothing_to_send_without_liaisons_and_nothing_when_switched_off(tmp_path: Path) -> None:
    empty, _ = build(tmp_path / "empty")
    empty.scheduler.run_due()
    assert "roster" in move(empty, EVENING)
    assert issues(empty) == [] and letters(empty) == []
    empty.close()
    off, _ = build(tmp_path / "off", roster={"send": "never"})
    seed(off, 2)
    off.scheduler.run_due()
    assert "roster" not in move(off, EVENING) and letters(off) == []
    off.close()


def test_leaders_too_when_configured(tmp_path: Path) -> None:
    application, _ = build(tmp_path, roster={"recipients": "liaisons_and_leaders", "at": "09:00"})
    seed(application, 2)
    application.scheduler.run_due()
    move(application, datetime(2026, 12, 1, 1, 0, tzinfo=UTC))  # 09:00
    sent = letters(application)
    assert sorted(row.recipients[0] for row in sent) == [
        "head0@u0.cn",
        "head1@u1.cn",
        "liaison0@u0.cn",
        "liaison1@u1.cn",
    ]
    assert sent[0].text.startswith("各会员单位负责人、联络员：")
    application.close()


def test_the_digest_says_when_the_roster_went(app: tuple[App, MemoryTransport]) -> None:
    application, _ = app
    move(application, EVENING)
    move(application, datetime(2026, 12, 2, 0, 31, tzinfo=UTC))  # the digest at 08:30 the next day
    with application.store.session() as session:
        digest = session.exec(select(Outbox).where(Outbox.kind == "digest").order_by(col(Outbox.id).desc())).first()
    assert digest is not None
    assert "联络员名录印发" in digest.text
    assert "| MC-2026-0001 | 2026年12月1日 17:01 印发：3 家单位、3 名联络员，发出 3 封 |" in digest.text


def statements(app: App, liaisons: int) -> int:
    """SQL statements one roster letter to `liaisons` liaisons takes."""
    seed(app, liaisons)
    publication = make_roster(app.settings, app.renderer)
    count = 0

    def counted(*_: Any) -> None:
        nonlocal count
        count += 1

    event.listen(app.store.engine, "before_cursor_execute", counted)
    try:
        with app.store.session() as session:
            assert publication.publish(app.tx(session)).letters == liaisons
    finally:
        event.remove(app.store.engine, "before_cursor_execute", counted)
    return count


def test_the_statements_do_not_grow_with_the_liaisons(tmp_path: Path) -> None:
    few, _ = build(tmp_path / "few")
    many, _ = build(tmp_path / "many")
    try:
        assert statements(few, 20) == statements(many, 300)
    finally:
        few.close()
        many.close()


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"send": "daily"}, "roster.send: Input should be 'on_change' or 'never'"),
        ({"at": "5pm"}, "roster.at: Value error, '5pm' is not a time of day in 24-hour HH:MM, such as 08:30 or 17:00"),
        ({"recipients": "everyone"}, "roster.recipients: Input should be 'liaisons' or 'liaisons_and_leaders'"),
        ({"classes": ["会员单位", "会员单位"]}, "roster.classes: Value error, a 会员类别 is listed twice"),
    ],
)
def test_a_bad_roster_setting_names_its_key_path(tmp_path: Path, section: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping({"roster": section}, base_dir=tmp_path)
    assert expected in info.value.problems


def test_each_letters_key_names_the_issue_and_the_address_and_fits_its_column() -> None:
    assert letter_key("MC-2026-0001", "wangfang@hongda.cn") == "roster:MC-2026-0001:wangfang@hongda.cn"
    long = "x" * 240 + "@example.cn"
    assert letter_key("MC-2026-0001", long) != letter_key("MC-2026-0001", "y" + long[1:])
    assert len(letter_key("MC-2026-0001", long)) <= 200 and letter_key("MC-2026-0001", long).startswith("roster:MC-")
