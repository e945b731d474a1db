"""The scheduler with a fake clock: the digest at its local time, once per slot, across days,
restarts, downtime, two schedulers at once, and the days a daylight-saving zone skips or
repeats an hour."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from builders import make_app
from sqlmodel import select

from mailflow.app import App
from mailflow.clock import FixedClock
from mailflow.app import make_registry
from mailflow.jobs import Scheduler
from mailflow.outbound.render import Renderer
from mailflow.reasons import Reason
from mailflow.store import InboundMessage, InboundState, JobRun, Outbox

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


def app_at(tmp_path: Path, when: datetime, *, zone: str = "Asia/Shanghai", at: str = "08:30", **digest: object) -> App:
    app = make_app(
        tmp_path,
        clock=FixedClock(when),
        chamber={"timezone": zone, "secretariat": ["mishuchu@chamber.example.org"]},
        digest={"at": at, **digest},
    )
    hold_a_message(app)
    return app


def hold_a_message(app: App) -> None:
    """Something for the digest to report: a stranger's mail, held for the secretariat."""
    with app.store.session() as session:
        session.add(
            InboundMessage(
                source="local",
                folder="INBOX",
                uid="1",
                sha256="0" * 64,
                sender="someone@example.net",
                subject="咨询入会事宜",
                state=InboundState.HELD,
                reasons=[Reason("unknown_sender", {"email": "someone@example.net"}).to_json()],
            )
        )


def restart(app: App) -> Scheduler:
    """A new process: a fresh scheduler over the same database and clock."""
    renderer = Renderer(app.settings.templates_dir, app.settings.chamber.locale, app.settings.chamber.letterhead())
    return Scheduler(list(make_registry(app.settings, renderer).jobs), app.store, app.clock, app.settings.chamber.zone)


def digests(app: App) -> list[Outbox]:
    with app.store.session() as session:
        return list(session.exec(select(Outbox).where(Outbox.kind == "digest").order_by(Outbox.id)).all())


def walk(app: App, scheduler: Scheduler, until: datetime, step: timedelta = timedelta(minutes=10)) -> None:
    clock = app.clock
    assert isinstance(clock, FixedClock)
    while clock.now() < until:
        clock.set(min(clock.now() + step, until))
        scheduler.run_due()


def test_the_digest_goes_out_at_its_local_time_once_a_day(tmp_path: Path) -> None:
    app = app_at(tmp_path, local(SHANGHAI, 2026, 11, 24, 7, 0))
    assert app.scheduler.run_due() == []  # the first start: yesterday's 08:30 was nobody's work
    walk(app, app.scheduler, local(SHANGHAI, 2026, 11, 24, 8, 20))
    assert digests(app) == []
    walk(app, app.scheduler, local(SHANGHAI, 2026, 11, 24, 8, 40))
    (first,) = digests(app)
    assert first.created_at == local(SHANGHAI, 2026, 11, 24, 8, 30)
    assert first.recipients == ["mishuchu@chamber.example.org"] and first.dedupe_key == "digest:2026-11-24"
    assert first.subject == "【每日摘要】2026年11月24日 待处理事项 1 项"
    assert (
        "| #1 | someone@example.net《咨询入会事宜》 发件人 someone@example.net 不是已登记的联络员 | #重新处理 1 |"
        in first.text
    )
    walk(app, app.scheduler, local(SHANGHAI, 2026, 11, 26, 12, 0))
    assert [d.dedupe_key for d in digests(app)] == [
        "digest:2026-11-24",
        "digest:2026-11-25",
        "digest:2026-11-26",
    ]
    app.close()


def test_moving_the_digest_later_in_the_day_sends_no_second_digest_that_day(tmp_path: Path) -> None:
    """GIVEN today's digest sent at 08:30 WHEN digest.at is changed to 09:00 and the daemon starts
    again THEN nothing more is sent that day (the same items would go again); the next day at
    09:00, one digest."""
    app = app_at(tmp_path, local(SHANGHAI, 2026, 11, 24, 7, 0))
    app.scheduler.run_due()
    walk(app, app.scheduler, local(SHANGHAI, 2026, 11, 24, 8, 31), step=timedelta(minutes=1))
    assert len(digests(app)) == 1
    assert isinstance(app.clock, FixedClock)
    moved = make_app(tmp_path, clock=app.clock, digest={"at": "09:00"})  # the same database, a new config

    walk(moved, moved.scheduler, local(SHANGHAI, 2026, 11, 24, 12, 0), step=timedelta(minutes=1))
    assert [d.dedupe_key for d in digests(moved)] == ["digest:2026-11-24"]

    walk(moved, moved.scheduler, local(SHANGHAI, 2026, 11, 25, 9, 0))
    (_, next_day) = digests(moved)
    assert next_day.dedupe_key == "digest:2026-11-25"
    assert next_day.created_at == local(SHANGHAI, 2026, 11, 25, 9, 0)
    moved.close()
    app.close()


def test_after_days_of_downtime_the_missed_digest_is_sent_once(tmp_path: Path) -> None:
    app = app_at(tmp_path, local(SHANGHAI, 2026, 11, 24, 7, 0))
    app.scheduler.run_due()
    walk(app, app.scheduler, local(SHANGHAI, 2026, 11, 24, 9, 0))
    assert len(digests(app)) == 1
    assert isinstance(app.clock, FixedClock)
    app.clock.set(local(SHANGHAI, 2026, 11, 27, 15, 0))  # down for three days
    assert "digest" in restart(app).run_due()  # (the roster's daily look runs too)
    assert [d.dedupe_key for d in digests(app)] == ["digest:2026-11-24", "digest:2026-11-27"]
    assert restart(app).run_due() == []  # and a second restart the same day sends nothing
    app.close()


def test_two_schedulers_started_by_mistake_send_one_digest(tmp_path: Path) -> None:
    app = app_at(tmp_path, local(SHANGHAI, 2026, 11, 24, 7, 0))
    one, two = restart(app), restart(app)
    one.run_due()
    two.run_due()
    assert isinstance(app.clock, FixedClock)
    app.clock.set(local(SHANGHAI, 2026, 11, 24, 8, 31))
    assert sorted(one.run_due() + two.run_due()) == ["digest"]
    assert len(digests(app)) == 1
    app.close()


def test_nothing_to_report_sends_nothing_unless_asked(tmp_path: Path) -> None:
    for when_empty, expected in (("skip", 0), ("send", 1)):
        app = make_app(
            tmp_path / when_empty,
            clock=FixedClock(local(SHANGHAI, 2026, 11, 24, 7, 0)),
            digest={"when_empty": when_empty},
        )
        app.scheduler.run_due()
        walk(app, app.scheduler, local(SHANGHAI, 2026, 11, 24, 9, 0))
        assert len(digests(app)) == expected
        with app.store.session() as session:
            (run,) = [r for r in session.exec(select(JobRun)).all() if r.slot == "2026-11-24T08:30"]
            assert run.outcome == ("empty" if when_empty == "skip" else "queued")
        if expected:
            assert "今日暂无待处理事项" in digests(app)[0].text
        app.close()


def test_a_skipped_hour_still_gets_its_digest_once(tmp_path: Path) -> None:
    """New York, 14 March 2027: 02:00 jumps to 03:00, so 02:30 never happens that day."""
    app = app_at(tmp_path, local(NEW_YORK, 2027, 3, 12, 12, 0), zone="America/New_York", at="02:30")
    app.scheduler.run_due()
    walk(app, app.scheduler, local(NEW_YORK, 2027, 3, 16, 12, 0))
    days = [d.dedupe_key for d in digests(app)]
    assert days == [f"digest:2027-03-{day}" for day in (13, 14, 15, 16)]
    sent = {d.dedupe_key: d.created_at for d in digests(app)}
    assert sent["digest:2027-03-14"] == local(NEW_YORK, 2027, 3, 14, 3, 0)  # as soon as the clock allows
    assert sent["digest:2027-03-15"] == local(NEW_YORK, 2027, 3, 15, 2, 30)
    app.close()


def test_a_repeated_hour_sends_its_digest_once(tmp_path: Path) -> None:
    """New York, 7 November 2027: 01:00-02:00 happens twice; 01:30 is one slot."""
    app = app_at(tmp_path, local(NEW_YORK, 2027, 11, 5, 12, 0), zone="America/New_York", at="01:30")
    app.scheduler.run_due()
    walk(app, app.scheduler, local(NEW_YORK, 2027, 11, 9, 12, 0), step=timedelta(minutes=5))
    per_day = Counter(d.dedupe_key for d in digests(app))
    assert per_day == {f"digest:2027-11-0{day}": 1 for day in (6, 7, 8, 9)}
    app.close()


def test_a_restart_during_the_repeated_hour_sends_nothing_twice(tmp_path: Path) -> None:
    app = app_at(tmp_path, local(NEW_YORK, 2027, 11, 6, 12, 0), zone="America/New_York", at="01:30")
    app.scheduler.run_due()
    first_0135 = datetime(2027, 11, 7, 5, 35, tzinfo=UTC)  # 01:35 EDT
    second_0135 = datetime(2027, 11, 7, 6, 35, tzinfo=UTC)  # 01:35 EST, an hour later
    walk(app, app.scheduler, first_0135)
    assert len(digests(app)) == 1
    assert isinstance(app.clock, FixedClock)
    app.clock.set(second_0135)
    assert restart(app).run_due() == []
    assert len(digests(app)) == 1
    app.close()
