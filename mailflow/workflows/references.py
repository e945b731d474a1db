"""Reference numbers such as BS-2026-0042: a prefix, the year in the chamber's zone, a sequence."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert, update
from sqlmodel import Session

from mailflow.store import Counter


def next_reference(session: Session, prefix: str, now: datetime, zone: ZoneInfo) -> str:
    """The next number for `prefix` this year, never handed out twice.

    One atomic UPDATE ... RETURNING takes the number (it locks the row on PostgreSQL); the
    first number of a year inserts the row.
    """
    year = now.astimezone(zone).year
    name = f"{prefix}-{year}"
    table = Counter.__table__  # type: ignore[attr-defined]  # Core statements: the ORM's bulk-update bookkeeping is not needed
    bump = update(table).where(table.c.name == name).values(value=table.c.value + 1).returning(table.c.value)
    conn = session.connection()
    value = conn.execute(bump).scalar()
    if value is None:
        conn.execute(insert(table).values(name=name, value=1))
        value = 1
    return f"{name}-{value:04d}"
