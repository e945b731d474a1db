"""Whom a circular goes to: the active liaisons of every unit (or of the units named), their leaders,
or both, each address once. Two queries whatever the number of units."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from mailflow.store import Liaison, LiaisonStatus, Unit
from mailflow.workflows.circular.reading import LEADERS, LIAISONS

LIAISON, LEADER = "liaison", "leader"


@dataclass(frozen=True)
class Recipient:
    address: str  # as registered
    unit_id: int
    role: str  # liaison | leader
    liaison_id: int | None = None  # the liaison's row, for a liaison


@dataclass(frozen=True)
class Skipped:
    """A unit that gets nothing: no active liaison, or no leader's address."""

    unit_id: int
    code: str
    name: str


@dataclass(frozen=True)
class Audience:
    recipients: tuple[Recipient, ...]  # by unit, a unit's liaisons before its leader; each address once
    skipped: tuple[Skipped, ...]  # units that get nothing
    unknown: tuple[str, ...]  # codes that name no unit

    @property
    def without(self) -> tuple[str, ...]:
        """The names of the units that get nothing."""
        return tuple(s.name for s in self.skipped)

    def count(self, role: str) -> int:
        return sum(1 for r in self.recipients if r.role == role)


def gather(session: Session, audience: str, codes: Sequence[str] = ()) -> Audience:
    """The addresses of `audience` (liaisons | leaders | all) in the units `codes` name, or in every unit."""
    query = select(Unit.id, Unit.name, Unit.code, Unit.leader_email).order_by(col(Unit.id))
    if codes:
        query = query.where(col(Unit.code).in_(list(codes)))
    units = session.connection().execute(query).all()  # Core: rows of columns need no ORM
    unknown = tuple(c for c in codes if c not in {code for _, _, code, _ in units})
    liaisons: dict[int, list[tuple[str, int]]] = {}
    if audience != LEADERS:
        found = select(Liaison.unit_id, Liaison.email, Liaison.id).where(Liaison.status == LiaisonStatus.ACTIVE)
        if codes:
            found = found.where(col(Liaison.unit_id).in_([uid for uid, *_ in units]))
        for unit_id, email, liaison_id in session.connection().execute(found.order_by(col(Liaison.id))).all():
            liaisons.setdefault(unit_id, []).append((email, liaison_id))
    recipients: list[Recipient] = []
    seen: set[str] = set()
    skipped: list[Skipped] = []
    for uid, name, code, leader in units:
        if uid is None:
            continue
        wanted: list[tuple[str, str, int | None]] = []
        if audience != LEADERS:
            wanted += [(a, LIAISON, lid) for a, lid in liaisons.get(uid, [])]
        wanted += [(leader, LEADER, None)] if audience != LIAISONS and leader else []
        usable = [(a.strip(), role, lid) for a, role, lid in wanted if _usable(a)]
        if not usable:
            skipped.append(Skipped(uid, code, name))
        for address, role, lid in usable:
            if address.lower() not in seen:
                seen.add(address.lower())
                recipients.append(Recipient(address, uid, role, lid))
    return Audience(tuple(recipients), tuple(skipped), unknown)


def _usable(address: str) -> bool:
    local, at, domain = address.strip().rpartition("@")
    return bool(at and local and "." in domain and not any(c.isspace() for c in address.strip()))
