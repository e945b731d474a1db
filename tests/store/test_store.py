"""The store on SQLite and, when MAILFLOW_TEST_PG_URL is given, on PostgreSQL: same code, same answers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from builders import add_liaison, deliver, make_app, make_mail
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from mailflow.clock import FixedClock
from mailflow.daemon import Daemon
from mailflow.outbound.dispatch import Dispatcher
from mailflow.outbound.outbox import Draft, queue
from mailflow.outbound.render import Rendered
from mailflow.outbound.transports import MemoryTransport
from mailflow.outbound import suppression
from mailflow.store import InboundMessage, Outbox, Store, Submission
from mailflow.store.db import alembic_config, make_engine, schema_status
from mailflow.workflows.references import next_reference


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_migrations_build_the_schema_from_nothing(db_url: str) -> None:
    store = Store.open(db_url)
    current, head = schema_status(store.engine)
    assert current == head == "0014"
    tables = set(inspect(store.engine).get_table_names())
    assert {"inbound_message", "attachment", "unit", "liaison", "submission", "folder_state"} <= tables
    Store.open(db_url).close()  # a second start finds the schema current and changes nothing
    store.close()


def test_an_address_flagged_before_suppression_existed_stays_unmailed(db_url: str) -> None:
    """GIVEN an address flagged by a bounce under schema 0004 (every flag then was a permanent
    bounce), WHEN the schema is brought to the newest, THEN the address is not mailed."""
    engine = make_engine(db_url)
    command.upgrade(alembic_config(engine), "0004")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO address_flag (email, reason, bounces, first_at, last_at) VALUES (:e, :r, 1, :t, :t)"),
            {"e": "liaison3@unit.example.cn", "r": "5.1.1 user unknown", "t": datetime(2026, 11, 20, tzinfo=UTC)},
        )
    engine.dispose()
    store = Store.open(db_url)
    with store.engine.connect() as conn:
        held = suppression.suppressed(conn, ["Liaison3@unit.example.cn"], datetime(2026, 12, 1, tzinfo=UTC))
    assert held == {
        "liaison3@unit.example.cn": "address bounced on 2026-11-20 00:00 UTC: 5.1.1 user unknown; "
        "correct it or wait for mail from it"
    }
    store.close()


def test_addresses_are_flagged_counted_and_cleared_on_either_database(db_url: str) -> None:
    """The flag's insert-if-missing (ON CONFLICT DO NOTHING), its updates and its JSON list of soft
    bounces, on each database: a second flag of one address adds to the first."""
    store = Store.open(db_url)
    now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    with store.engine.begin() as conn:
        for n in range(3):
            suppression.soft(conn, "full@unit.example.cn", "4.2.2 mailbox full", now.replace(hour=n))
        suppression.hard(conn, "Gone@unit.example.cn", "5.1.1 user unknown", now)
        suppression.hard(conn, "gone@unit.example.cn", "5.1.1 user unknown", now.replace(hour=3))
    with store.engine.connect() as conn:
        held = suppression.suppressed(conn, ["full@unit.example.cn", "gone@unit.example.cn"], now.replace(hour=4))
    assert held["full@unit.example.cn"].startswith("address bounced on 2026-11-24 02:00 UTC: 3 temporary failures")
    assert held["gone@unit.example.cn"].startswith("address bounced on 2026-11-24 03:00 UTC: 5.1.1 user unknown")
    with store.engine.begin() as conn:
        suppression.clear(conn, "GONE@unit.example.cn")
    with store.engine.connect() as conn:
        assert suppression.suppressed(conn, ["gone@unit.example.cn"], now.replace(hour=4)) == {}
    store.close()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'w.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_one_mailbox_location_holds_one_message(db_url: str) -> None:
    store = Store.open(db_url)
    row = {"source": "box", "folder": "INBOX", "uidvalidity": 7, "uid": "42", "sha256": "a" * 64}
    with store.session() as session:
        session.add(InboundMessage(**row))
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(InboundMessage(**{**row, "sha256": "b" * 64}))
    store.close()


def test_chinese_text_reasons_and_aware_times_round_trip(db_url: str) -> None:
    store = Store.open(db_url)
    when = datetime(2026, 11, 24, 1, 2, 3, tzinfo=UTC)
    reasons = [{"code": "photo_too_small", "zh": "照片 现场.jpg 为 640×480，低于 800×600 的要求"}]
    with store.session() as session:
        session.add(
            InboundMessage(
                source="s",
                folder="收件箱",
                uid="1",
                sha256="c" * 64,
                subject="【报送】测试",
                reasons=reasons,
                received_at=when,
            )
        )
    with store.session() as session:
        got = session.exec(select(InboundMessage)).one()
    assert (got.folder, got.subject, got.reasons) == ("收件箱", "【报送】测试", reasons)
    assert got.received_at == when and got.received_at.tzinfo is not None
    store.close()


def test_reference_numbers_are_per_year_in_the_chamber_zone(db_url: str) -> None:
    from zoneinfo import ZoneInfo

    store = Store.open(db_url)
    shanghai = ZoneInfo("Asia/Shanghai")
    # 2026-12-31 17:00 UTC is already 2027-01-01 01:00 in Shanghai.
    late = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    with store.session() as session:
        first = next_reference(session, "BS", datetime(2026, 6, 1, tzinfo=UTC), shanghai)
        second = next_reference(session, "BS", datetime(2026, 6, 2, tzinfo=UTC), shanghai)
        new_year = next_reference(session, "BS", late, shanghai)
    assert (first, second, new_year) == ("BS-2026-0001", "BS-2026-0002", "BS-2027-0001")
    # Numbers counted in memory were written back at the commit; a rolled-back one was not.
    with pytest.raises(RuntimeError), store.session() as session:
        assert next_reference(session, "BS", datetime(2026, 6, 3, tzinfo=UTC), shanghai) == "BS-2026-0003"
        raise RuntimeError("the transaction fails")
    with store.session() as session:
        assert next_reference(session, "BS", datetime(2026, 6, 3, tzinfo=UTC), shanghai) == "BS-2026-0003"
        assert next_reference(session, "BS", datetime(2026, 6, 3, tzinfo=UTC), shanghai) == "BS-2026-0004"
    store.close()


def test_the_pipeline_runs_the_same_on_this_database(db_url: str, tmp_path: Path) -> None:
    app = make_app(tmp_path, database={"url": db_url})
    add_liaison(app)
    deliver(tmp_path / "Maildir", make_mail())
    assert Daemon(app).run_once().processed == 1
    with app.store.session() as session:
        assert session.exec(select(Submission.reference)).one() == "BS-2026-0001"
    app.close()


def test_the_migrations_build_exactly_the_tables_the_models_declare(db_url: str) -> None:
    """A model changed without a migration (or the reverse) shows up here as a difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    store = Store.open(db_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    store.close()
    assert diff == []


def test_the_outbox_is_taken_and_recorded_on_either_database(db_url: str) -> None:
    """The dispatcher's claim (UPDATE … RETURNING over a locked subquery) and its bulk record."""
    store = Store.open(db_url)
    clock = FixedClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    with store.session() as session:
        for n in range(5):
            queue(
                session,
                Draft(
                    key=f"reply:{n}",
                    kind="ack_submission",
                    recipients=[f"liaison{n}@unit.example.cn"],
                    rendered=Rendered(f"【已收到】BS-2026-000{n + 1}", "正文\n", "<p>正文</p>"),
                ),
                now=clock.now(),
                message_id_domain="mailflow.test",
            )
    transport = MemoryTransport(slots=2)
    dispatcher = Dispatcher(store, transport, clock, sender="mishuchu@chamber.example.org", sender_name="商会秘书处")
    assert dispatcher.run() == 5
    dispatcher.close()
    with store.session() as session:
        rows = session.exec(select(Outbox).order_by(col(Outbox.id))).all()
    assert [(r.state, r.attempts, r.sent_at) for r in rows] == [("sent", 1, clock.now())] * 5
    assert sorted(letter.recipients[0] for letter in transport.outbox) == [
        f"liaison{n}@unit.example.cn" for n in range(5)
    ]
    store.close()
