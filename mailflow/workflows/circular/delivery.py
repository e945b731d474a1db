"""How a circular's letters fared, by unit: sent, waiting, bounced, failed. Read for the digest,
`#通知情况`, and `mailflow circular list | show`, in a few queries whatever the number of letters.

A letter's unit is found from its address as the registry knows it now: the unit of an active
liaison with that address, else of a leader, else of a former liaison (an address corrected with
`#更正邮箱` is corrected on the letter and in the registry alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailflow.store import Liaison, LiaisonStatus, Outbox, OutboxState, Unit
from mailflow.workflows.circular.sending import KIND

WAITING = (OutboxState.QUEUED, OutboxState.SENDING, OutboxState.RETRY)
FAILED = (OutboxState.DEAD, OutboxState.AMBIGUOUS)  # ambiguous: may not have arrived; a person decides
NOT_DELIVERED = (*FAILED, OutboxState.BOUNCED)
STATE_NAMES = {
    OutboxState.QUEUED: ("待发", "queued"),
    OutboxState.SENDING: ("发送中", "sending"),
    OutboxState.RETRY: ("待重试", "retrying"),
    OutboxState.SENT: ("已发出", "sent"),
    OutboxState.DEAD: ("发送失败", "failed"),
    OutboxState.AMBIGUOUS: ("送达情况不明", "outcome unknown"),
    OutboxState.BOUNCED: ("被退回", "bounced"),
}


@dataclass(frozen=True)
class Tally:
    sent: int = 0
    waiting: int = 0
    bounced: int = 0
    failed: int = 0  # dead or ambiguous
    units: tuple[str, ...] = ()  # the units (or addresses, when no unit has them now) not delivered to

    @property
    def total(self) -> int:
        return self.sent + self.waiting + self.bounced + self.failed


@dataclass(frozen=True)
class Letter:
    id: int
    address: str
    state: str
    last_error: str | None
    unit: str  # the unit's name, "" when no unit has the address now
    role: str  # liaison | leader | "" (no unit)


class Owners:
    """Address (lower case) -> (unit name, role), from the whole registry: two queries."""

    def __init__(self, session: Session) -> None:
        names: dict[int | None, str] = {}
        self.table: dict[str, tuple[str, str]] = {}
        former: dict[str, tuple[str, str]] = {}
        leaders: dict[str, tuple[str, str]] = {}
        for unit_id, name, leader in session.exec(select(Unit.id, Unit.name, Unit.leader_email)).all():
            names[unit_id] = name
            if leader:
                leaders.setdefault(leader.strip().lower(), (name, "leader"))
        for email, unit_id, status in session.exec(select(Liaison.email, Liaison.unit_id, Liaison.status)).all():
            kept = self.table if status == LiaisonStatus.ACTIVE else former
            kept.setdefault(email.strip().lower(), (names.get(unit_id, ""), "liaison"))
        for found in (leaders, former):
            for address, owner in found.items():
                self.table.setdefault(address, owner)

    def of(self, address: str) -> tuple[str, str]:
        return self.table.get(address.strip().lower(), ("", ""))


def tallies(session: Session, references: Sequence[str]) -> dict[str, Tally]:
    """Each circular's letters counted by outcome, with the units its failures were for."""
    if not references:
        return {}
    counts: dict[str, dict[str, int]] = {}
    by_state = (
        select(Outbox.reference, Outbox.state, func.count())
        .where(col(Outbox.kind) == KIND, col(Outbox.reference).in_(list(references)))
        .group_by(col(Outbox.reference), col(Outbox.state))
    )
    for reference, state, count in session.exec(by_state).all():
        counts.setdefault(reference or "", {})[state] = count
    failures: dict[str, list[str]] = {}
    rows = session.exec(
        select(Outbox.reference, Outbox.recipients)
        .where(col(Outbox.kind) == KIND, col(Outbox.reference).in_(list(references)))
        .where(col(Outbox.state).in_(NOT_DELIVERED))
        .order_by(col(Outbox.id))
    ).all()
    owners = Owners(session) if rows else None
    for reference, recipients in rows:
        for address in recipients:
            unit = owners.of(address)[0] if owners else ""
            failures.setdefault(reference or "", []).append(unit or address)
    return {
        ref: Tally(
            sent=counts.get(ref, {}).get(OutboxState.SENT, 0),
            waiting=sum(counts.get(ref, {}).get(s, 0) for s in WAITING),
            bounced=counts.get(ref, {}).get(OutboxState.BOUNCED, 0),
            failed=sum(counts.get(ref, {}).get(s, 0) for s in FAILED),
            units=tuple(dict.fromkeys(failures.get(ref, []))),
        )
        for ref in references
    }


def letters(session: Session, reference: str) -> list[Letter]:
    """Every letter of one circular, by unit (those without one last), then address."""
    rows = session.exec(
        select(Outbox.id, Outbox.recipients, Outbox.state, Outbox.last_error).where(
            col(Outbox.kind) == KIND, col(Outbox.reference) == reference
        )
    ).all()
    owners = Owners(session)
    found = []
    for id_, recipients, state, last_error in rows:
        address = ", ".join(recipients)
        unit, role = owners.of(recipients[0]) if recipients else ("", "")
        found.append(Letter(id_ or 0, address, state, last_error, unit, role))
    return sorted(found, key=lambda letter: (not letter.unit, letter.unit, letter.address))


def state_name(state: str, locale: str) -> str:
    zh, en = STATE_NAMES.get(state, (state, state))
    return en if locale.startswith("en") else zh
