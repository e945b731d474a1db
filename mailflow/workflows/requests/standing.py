"""Where requests stand, read for the digest and `mailflow requests list | show | liaisons list`:
who answered and when, who was reminded, who missed, and each liaison's misses in a row (Art. 4),
in a few queries whatever the number of units.

Misses in a row are counted back from the latest closed request a liaison was asked in: each miss
adds one, and the first request answered in time ends the run. A late answer does not: it came
after the due date, so that request is a miss too (the answer is kept, and shown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from datetime import datetime

from sqlalchemy import case, func
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from mailflow.store import InfoRequest, Liaison, RequestRecipient, Submission, Unit

ART4 = 2  # misses in a row that Art. 4 counts


@dataclass(frozen=True)
class Counts:
    asked: int = 0  # units with a liaison asked
    answered: int = 0
    late: int = 0
    missed: int = 0
    reminded: int = 0


@dataclass(frozen=True)
class Answer:
    unit: str
    code: str
    liaison: str
    email: str
    answered_at: datetime | None
    late: bool
    reminded_at: datetime | None
    missed: bool
    submission: str | None  # its BS- reference
    asked: bool = True  # False: a unit not asked that answered all the same


def streaks(session: Session) -> dict[int, int]:
    """Liaison id -> misses in a row, counted back from the latest closed request it was asked in."""
    rows = session.exec(
        select(RequestRecipient.liaison_id, RequestRecipient.missed)
        .join(InfoRequest, col(InfoRequest.id) == col(RequestRecipient.request_id))
        .where(col(InfoRequest.closed_at).is_not(None), col(RequestRecipient.liaison_id).is_not(None))
        .order_by(col(RequestRecipient.liaison_id), col(InfoRequest.due).desc(), col(InfoRequest.id).desc())
    ).all()
    found: dict[int, int] = {}
    ended: set[int] = set()
    for liaison_id, missed in rows:
        if liaison_id is None or liaison_id in ended:
            continue
        if missed:
            found[liaison_id] = found.get(liaison_id, 0) + 1
        else:
            ended.add(liaison_id)
            found.setdefault(liaison_id, 0)
    return found


def counts(session: Session, request_ids: Sequence[int]) -> dict[int, Counts]:
    """Each request's units by outcome, in one grouped query."""
    if not request_ids:
        return {}
    r = RequestRecipient
    query = (
        columns(
            col(r.request_id),
            func.count(col(r.liaison_id)),
            func.count(col(r.answered_at)),
            func.sum(case((col(r.late), 1), else_=0)),
            func.sum(case((col(r.missed), 1), else_=0)),
            func.count(col(r.reminded_at)),
        )
        .where(col(r.request_id).in_(list(request_ids)))
        .group_by(col(r.request_id))
    )
    return {
        rid: Counts(asked, answered, int(late or 0), int(missed or 0), reminded)
        for rid, asked, answered, late, missed, reminded in session.connection().execute(query).all()
    }


def answers(session: Session, request: InfoRequest) -> list[Answer]:
    """Every unit asked, with its answer, reminder and miss; then the units not asked that answered."""
    r = RequestRecipient
    rows: Sequence[Any] = (
        session.connection()
        .execute(
            columns(
                *[col(c) for c in (Unit.name, Unit.code, Liaison.name, r.email, r.answered_at, r.late, r.reminded_at)],
                *[col(c) for c in (r.missed, Submission.reference)],
            )
            .select_from(r)
            .join(Unit, col(Unit.id) == col(r.unit_id))
            .outerjoin(Liaison, col(Liaison.id) == col(r.liaison_id))
            .outerjoin(Submission, col(Submission.id) == col(r.submission_id))
            .where(col(r.request_id) == request.id)
            .order_by(col(Unit.code))
        )
        .all()
    )
    found = [
        Answer(unit, code, liaison or "", email or "", answered_at, late, reminded_at, missed, ref)
        for unit, code, liaison, email, answered_at, late, reminded_at, missed, ref in rows
    ]
    asked = select(RequestRecipient.unit_id).where(col(RequestRecipient.request_id) == request.id)
    others = session.exec(
        select(Submission, Unit.name, Unit.code)
        .join(Unit, col(Unit.id) == col(Submission.unit_id))
        .where(col(Submission.request_id) == request.id, col(Submission.unit_id).not_in(asked))
        .order_by(col(Submission.id))
    ).all()
    found += [
        Answer(unit, code, "", "", sub.created_at, False, None, False, sub.reference, asked=False)
        for sub, unit, code in others
    ]
    return found
