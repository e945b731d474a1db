"""Reference numbers such as BS-2026-0042: a prefix, the year in the chamber's zone, a sequence."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from mailflow.store import Counter


def next_reference(session: Session, prefix: str, now: datetime, zone: ZoneInfo) -> str:
    """The next number for `prefix` this year; taken under a row lock, so never handed out twice."""
    year = now.astimezone(zone).year
    name = f"{prefix}-{year}"
    counter = session.exec(select(Counter).where(Counter.name == name).with_for_update()).first()
    if counter is None:
        counter = Counter(name=name, value=0)
        session.add(counter)
    counter.value += 1
    session.flush()
    return f"{name}-{counter.value:04d}"
