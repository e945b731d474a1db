"""One request for information (报送任务), from mail or the command line: checked, then numbered,
recorded with a row for each unit asked, and queued as one letter per liaison, all in the caller's
transaction.

Everything that can refuse it (no title, no text, a due date not after today, codes that name no
unit, nobody to ask) is checked before a row is written, so a refused request leaves nothing
behind. A unit asked that has no active liaison gets no letter: it is recorded (`unreached`, and a
recipient row with no liaison, so that its leader's answer still counts) and reported to the
sender, never dropped in silence. The letter is rendered once and queued for everyone at once
(Tx.letters), and the rows go in by one statement each: the same SQL for 50 liaisons as for 5,000,
one INSERT more per thousand letters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import insert

from mailflow.reasons import Reason
from mailflow.store import InfoRequest, RequestRecipient
from mailflow.workflows.circular.reading import LIAISONS, letter_lines
from mailflow.workflows.circular.recipients import Skipped, gather
from mailflow.workflows.circular.sending import File, too_large
from mailflow.workflows.contract import Words
from mailflow.workflows.requests.calendar import WorkCalendar
from mailflow.workflows.tx import Tx

PREFIX = "ZJ"  # 征集
LETTER, REMINDER, REPORT, ACK = "request_letter", "request_reminder", "request_report", "ack_request_response"
REQUEST_TOO_LARGE = "request_too_large"  # the refusal of a form over the limit
_KEY_LENGTH = 200  # outbox.dedupe_key
_REQUESTS = InfoRequest.__table__  # type: ignore[attr-defined]
_RECIPIENTS = RequestRecipient.__table__  # type: ignore[attr-defined]
_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


@dataclass(frozen=True)
class RequestPolicy:
    proof: str = "either"  # security.commands: what proves a mail comes from the secretariat
    remind_working_days: int = 3  # reminders this many working days before the due date; 0: none
    remind_at: str = "09:00"  # local time of the daily look for reminders to send
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    max_attachment_bytes: int = 25 * 1024 * 1024  # the files of one request, in total (circulars' limit)

    def remind_on(self, due: date) -> date | None:
        """The day the reminders go, or None when there are none."""
        if self.remind_working_days <= 0:
            return None
        return self.calendar.back(due, self.remind_working_days)


@dataclass(frozen=True)
class Ask:
    """What the secretariat asks: a title, the text, the due date, the units (codes; () for all)."""

    title: str
    body: str
    due: date
    units: tuple[str, ...]
    sender: str  # the secretariat address, or cli:<user>
    via: str  # mail | cli
    inbound_id: int | None = None
    files: tuple[File, ...] = field(default=(), repr=False)  # a form to fill in, carried by every letter


@dataclass(frozen=True)
class Created:
    request: InfoRequest
    skipped: tuple[Skipped, ...] = ()  # units asked with no active liaison


def create(ask: Ask, tx: Tx, policy: RequestPolicy) -> Created | tuple[Reason, ...]:
    """Queue the request, or say why not (nothing is stored then)."""
    today = tx.local().date()
    problems = [
        *([Reason("request_no_title")] if not ask.title.strip() else []),
        *([Reason("request_no_body")] if not ask.body.strip() else []),
        *(
            [Reason("request_due_passed", {"due": ask.due.isoformat(), "today": today.isoformat()})]
            if ask.due <= today
            else []
        ),
        *filter(None, [too_large([len(f.data) for f in ask.files], policy.max_attachment_bytes, REQUEST_TOO_LARGE)]),
    ]
    if problems:
        return tuple(problems)
    audience = gather(tx.session, LIAISONS, ask.units)
    if audience.unknown:
        return (Reason("request_unknown_units", {"codes": "、".join(audience.unknown)}),)
    if not audience.recipients:
        return (Reason("request_no_recipients"),)
    reference = tx.reference(PREFIX)
    title = ask.title.strip()[:500]
    values = letter_values(reference, title, ask.body, ask.due) | {"files": [f.name for f in ask.files]}
    to = {letter_key(reference, "letter", r.address): r.address for r in audience.recipients}
    parts = [tx.attach(f.data, f.name) for f in ask.files]  # stored once, however many letters carry them
    tx.letters(LETTER, to, values, reference=reference, attachments=parts)
    request_id = tx.session.connection().execute(
        insert(_REQUESTS).returning(_REQUESTS.c.id),
        {
            "reference": reference, "inbound_id": ask.inbound_id, "title": title, "text": ask.body, "due": ask.due,
            "units": list(ask.units), "sender": ask.sender[:320], "via": ask.via, "created_at": tx.now,
            "letters": len(to), "unreached": [s.code for s in audience.skipped],
        },
    ).scalar_one()  # fmt: skip
    asked: dict[int, dict[str, Any]] = {}
    for r in audience.recipients:  # a unit's newest active liaison answers for it
        asked[r.unit_id] = {"unit_id": r.unit_id, "liaison_id": r.liaison_id, "email": r.address[:320]}
    for s in audience.skipped:
        asked[s.unit_id] = {"unit_id": s.unit_id, "liaison_id": None, "email": None}
    rows = [{"request_id": request_id, "late": False, "missed": False, **row} for row in asked.values()]
    tx.session.connection().execute(insert(_RECIPIENTS), rows)
    row = tx.get(InfoRequest, request_id)
    assert row is not None
    return Created(row, audience.skipped)


def letter_values(reference: str, title: str, body: str, due: date) -> dict[str, Any]:
    return {
        "reference": reference,
        "title": title,
        "lines": letter_lines(body.strip("\n")),
        "due": day_words(due),
        "due_short": Words(f"{due.month}月{due.day}日", due.isoformat()),
    }


def report(created: Created, policy: RequestPolicy, received: Words | str = "") -> dict[str, Any]:
    """What the sender is told: the reference, the letters, who could not be asked, when reminders go."""
    row = created.request
    remind = policy.remind_on(row.due)
    years = policy.calendar.uncovered([row.due, *([remind] if remind else [])])
    return {
        "reference": row.reference,
        "title": row.title,
        "due": day_words(row.due),
        "units": Words("、".join(row.units), ", ".join(row.units)),
        "letters": row.letters,
        "unreached": [f"{s.name}（{s.code}）" for s in created.skipped[:20]],
        "more_unreached": max(0, len(created.skipped) - 20),
        "remind_on": day_words(remind) if remind else "",
        "working_days": policy.remind_working_days,
        "uncovered": "、".join(str(y) for y in years),
        "repeated": False,  # a copy of a mail that made this request already: nothing sent again
    }


def day_words(day: date) -> Words:
    """2026年12月15日（星期二） / Tuesday 15 December 2026."""
    return Words(f"{day.year}年{day.month}月{day.day}日（{_WEEKDAYS[day.weekday()]}）", f"{day:%A %d %B %Y}")


def letter_key(reference: str, what: str, address: str) -> str:
    """request:<reference>:<what>:<address>, the address lower-cased (or its digest, if it would not fit)."""
    key = f"request:{reference}:{what}:{address.lower()}"
    if len(key) <= _KEY_LENGTH:
        return key
    return f"request:{reference}:{what}:sha256:{hashlib.sha256(address.lower().encode()).hexdigest()}"
