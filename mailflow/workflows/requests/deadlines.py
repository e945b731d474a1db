"""The scheduled work of requests: reminders before the due date, and the close after it.

Both are scans of the open requests, one a day, so a restart or a day of downtime catches up and
nothing is done twice: a request's reminders are recorded (InfoRequest.reminded_at, and each
reminded unit's row) in the transaction that queues them, under dedupe keys made of the request's
reference; a request is closed, and its misses recorded, in one transaction that sets closed_at.

Reminders go on the day `remind_working_days` working days before the due date (Chinese public
holidays and their adjusted workdays; see calendar.py), at `remind_at`, to each unit asked that
has not answered, at the address of its active liaison now (a liaison replaced since the letter
is not the one to remind). A request made on or after that day gets none: its letter is fresh.
The close runs just after midnight: a request whose due day has ended in the chamber's zone gets
a miss for each unit that had a liaison asked and did not answer by then, answered late included.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import and_, or_, update
from sqlmodel import col, select

from mailflow.jobs.scheduler import Job, JobContext
from mailflow.store import InfoRequest, Liaison, LiaisonStatus, RequestRecipient
from mailflow.workflows.requests.sending import REMINDER, RequestPolicy, day_words, letter_key, letter_values
from mailflow.workflows.tx import Tx

CLOSE_AT = "00:05"  # local time: the due day has ended
_RECIPIENTS = RequestRecipient.__table__  # type: ignore[attr-defined]


def jobs(policy: RequestPolicy, make_tx: Callable[[JobContext], Tx]) -> tuple[Job, ...]:
    """The two daily scans; `make_tx` gives a job's transaction helper (its session, its instant)."""
    at = policy.remind_at
    return (
        Job("request_reminders", lambda s: s.every().day.at(at), lambda job: remind(make_tx(job), policy)),
        Job("request_deadlines", lambda s: s.every().day.at(CLOSE_AT), lambda job: close(make_tx(job))),
    )


def remind(tx: Tx, policy: RequestPolicy) -> str:
    """Queue the reminders due today; the number of letters queued."""
    today = tx.local().date()
    waiting = tx.session.exec(
        select(InfoRequest)
        .where(col(InfoRequest.closed_at).is_(None), col(InfoRequest.reminded_at).is_(None))
        .where(col(InfoRequest.due) >= today)
        .order_by(col(InfoRequest.id))
    ).all()
    sent = 0
    for request in waiting:
        on = policy.remind_on(request.due)
        made = tx.local(request.created_at).date() if request.created_at else today
        if on is None or today < on or made >= on:
            continue
        sent += remind_one(tx, request)
    return f"{sent} reminders"


def remind_one(tx: Tx, request: InfoRequest) -> int:
    """The reminder to each unit of `request` that has not answered, at its active liaison's address."""
    pending = and_(col(RequestRecipient.request_id) == request.id, col(RequestRecipient.answered_at).is_(None))
    rows = tx.session.exec(
        select(Liaison.email)
        .join(RequestRecipient, col(RequestRecipient.unit_id) == col(Liaison.unit_id))
        .where(pending, col(Liaison.status) == LiaisonStatus.ACTIVE)
        .order_by(col(Liaison.id))
    ).all()
    to = {letter_key(request.reference, "remind", address): address for address in dict.fromkeys(rows)}
    values = letter_values(request.reference, request.title, request.text, request.due)
    values["sent_on"] = day_words(tx.local(request.created_at).date()) if request.created_at else ""
    tx.letters(REMINDER, to, values, reference=request.reference)
    active = select(Liaison.unit_id).where(col(Liaison.status) == LiaisonStatus.ACTIVE)
    tx.session.connection().execute(
        update(_RECIPIENTS).where(pending, col(RequestRecipient.unit_id).in_(active)).values(reminded_at=tx.now)
    )
    request.reminded_at = tx.now
    return len(to)


def close(tx: Tx) -> str:
    """Close every request whose due day has ended, recording each unit's miss; how many closed."""
    today = tx.local().date()
    due = tx.session.exec(
        select(InfoRequest).where(col(InfoRequest.closed_at).is_(None), col(InfoRequest.due) < today)
    ).all()
    for request in due:
        tx.session.connection().execute(
            update(_RECIPIENTS)
            .where(
                col(RequestRecipient.request_id) == request.id,
                col(RequestRecipient.liaison_id).is_not(None),
                or_(col(RequestRecipient.answered_at).is_(None), col(RequestRecipient.late).is_(True)),
            )
            .values(missed=True)
        )
        request.closed_at = tx.now
    return f"{len(due)} closed"
