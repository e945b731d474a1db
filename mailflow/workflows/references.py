"""Reference numbers such as BS-2026-0042: a prefix, the year in the chamber's zone, a sequence.

The first number a transaction takes for a prefix comes from one atomic UPDATE ... RETURNING,
which also takes the row's lock until the commit; the next ones in the same transaction are
counted in memory and written back once, just before the commit. So a batch of a hundred
submissions costs two statements, and no number is ever handed out twice or skipped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, insert, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from mailflow.store import Counter

TAKEN = "mailflow.references"  # session.info key: counter name -> last number taken
COUNTER = Counter.__table__  # type: ignore[attr-defined]


def next_reference(session: Session, prefix: str, now: datetime, zone: ZoneInfo) -> str:
    """The next number for `prefix` this year."""
    name = f"{prefix}-{now.astimezone(zone).year}"
    taken: dict[str, int] = session.info.setdefault(TAKEN, {})
    if name in taken:
        taken[name] += 1
    else:
        conn = session.connection()
        bump = update(COUNTER).where(COUNTER.c.name == name).values(value=COUNTER.c.value + 1)
        value = conn.execute(bump.returning(COUNTER.c.value)).scalar()
        if value is None:
            conn.execute(insert(COUNTER).values(name=name, value=1))
            value = 1
        taken[name] = value
    return f"{name}-{taken[name]:04d}"


@event.listens_for(OrmSession, "before_commit")
def _write_back(session: OrmSession) -> None:
    taken: dict[str, Any] = session.info.pop(TAKEN, {})
    if taken:
        conn = session.connection()
        for name, value in taken.items():
            conn.execute(update(COUNTER).where(COUNTER.c.name == name).values(value=value))


@event.listens_for(OrmSession, "after_soft_rollback")
def _forget_on_rollback(session: OrmSession, previous_transaction: Any) -> None:
    # Any rollback, to a savepoint too, undid the UPDATE that took the first number: the
    # numbers counted in memory were never written. The next one is read afresh.
    session.info.pop(TAKEN, None)
