"""The member registry from the secretariat's spreadsheet: units and their liaisons, changed in place
with a history line for every field that changes.

A unit is matched by its 统一社会信用代码, or by its name when the row gives no code. A cell left
empty changes nothing (an office often leaves out what it does not know); only a value that differs
is written, so importing the same file twice changes nothing. A row naming a liaison other than the
unit's active one makes the old liaison `replaced` (with the date) and the new one `active`.
Everything is checked before anything is written: a row that clashes with the database (a new unit
without a code, a code another unit holds, a liaison email another unit uses) is refused like a bad
row of the sheet, and nothing is written while any row is refused unless the caller skips them.

The units and liaisons are read once per call, not per row, and what changes is written at the end
in batches: an import of thousands of rows costs a handful of statements, and one that changes
nothing sends none that writes (`has_changes` tells a caller so before it writes its audit entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, col, select

from mailflow.members.loaded import AnyLiaison, AnyUnit, Entry, Loaded, Pending, PlainLiaison, PlainUnit, write
from mailflow.members.rows import RowProblem, UnitRow
from mailflow.store import Change, Liaison, LiaisonStatus, Unit

UNIT_FIELDS = ("name", "code", "member_class", "leader_name", "leader_email", "leader_phone", "address")
LIAISON_FIELDS = (("name", "liaison_name"), ("phone", "liaison_phone"), ("position", "liaison_position"))


@dataclass
class ImportReport:
    problems: list[RowProblem] = field(default_factory=list)  # the sheet's and the database's
    lines: list[str] = field(default_factory=list)  # what changed, one line each (zh-CN)
    created_units: int = 0
    updated_units: int = 0
    new_liaisons: int = 0
    changes: int = 0

    def note(self, unit: Unit, change: Change) -> None:
        self.noted(unit.name, change.kind, change.field, change.old, change.new)

    def noted(self, unit_name: str, kind: str, name: str, old: str | None, new: str | None) -> None:
        self.changes += 1
        who = "单位" if kind == "unit" else "联络员"
        self.lines.append(f"{unit_name}：{who} {name}：{old or '（无）'} → {new or '（无）'}")


def _unit_edits(row: UnitRow, unit: AnyUnit) -> list[tuple[str, str | None, str]]:
    """(field, old, new) for every unit field the row gives a different value for."""
    edits = []
    for name in UNIT_FIELDS:
        new, old = getattr(row, name), getattr(unit, name)
        if new and new != (old or ""):
            edits.append((name, old, new))
    return edits


def _liaison_edits(row: UnitRow, liaison: AnyLiaison) -> list[tuple[str, str | None, str]]:
    edits = []
    for name, column in LIAISON_FIELDS:
        new, old = getattr(row, column), getattr(liaison, name)
        if new and new != (old or ""):
            edits.append((name, old, new))
    return edits


def check_against_store(session: Session, rows: Sequence[UnitRow]) -> list[RowProblem]:
    """Rows that cannot be applied to what the database holds."""
    registry = Loaded(session, editable=False)
    problems: list[RowProblem] = []
    for row in rows:
        entry = registry.find(row)
        unit = entry.unit if entry is not None else None
        if unit is None and not row.code:
            problems.append(
                _problem(
                    row, "no_code", "新单位缺少统一社会信用代码", "a new unit needs its unified social credit code"
                )
            )
        if row.code:
            holder = registry.by_code.get(row.code)
            if holder is not None and unit is not None and holder.unit.id != unit.id:
                zh, en = (
                    f"统一社会信用代码 {row.code} 已属于“{holder.unit.name}”",
                    f"code {row.code} belongs to {holder.unit.name}",
                )
                problems.append(_problem(row, "code_taken", zh, en))
        if row.liaison_name and not row.liaison_email:
            problems.append(_problem(row, "liaison_without_email", "联络员没有邮箱", "the liaison has no email"))
        if row.liaison_email:
            other = registry.by_email.get(row.liaison_email.lower())
            if other is not None and (unit is None or other[1].unit.id != unit.id):
                holder_name = other[1].unit.name
                zh = f"联络员邮箱 {row.liaison_email} 已是“{holder_name}”的联络员邮箱"
                problems.append(
                    _problem(row, "email_taken", zh, f"{row.liaison_email} is the liaison of {holder_name}")
                )
    return problems


def has_changes(session: Session, rows: Sequence[UnitRow]) -> bool:
    """Whether `apply_rows` would change anything. Until a row changes something every row meets the
    database as it is, so looking at each row against it alone gives the same answer."""
    registry = Loaded(session, editable=False)
    for row in rows:
        entry = registry.find(row)
        if entry is None or _unit_edits(row, entry.unit):
            return True
        if row.liaison_email:
            same = entry.liaison(row.liaison_email)
            if same is None or _liaison_edits(row, same):
                return True
    return False


def apply_rows(
    session: Session, rows: Sequence[UnitRow], *, now: datetime, today: date, why: str, audit_id: int | None
) -> ImportReport:
    """Write the rows (already checked), with a history line per changed field."""
    report = ImportReport()
    registry = Loaded(session, editable=True)
    pending = Pending()
    for row in rows:
        entry = registry.find(row)
        if entry is None:
            unit = PlainUnit(
                name=row.name, code=row.code, member_class=row.member_class or None, leader_name=row.leader_name or None,
                leader_email=row.leader_email or None, leader_phone=row.leader_phone or None,
                address=row.address or None, created_at=now,
            )  # fmt: skip
            entry = registry.add(unit)
            pending.units.append(unit)
            pending.history.append((unit, "unit", unit, "created", None, row.name))
            report.created_units += 1
        else:
            edits = _unit_edits(row, entry.unit)
            for name, old, new in edits:
                setattr(entry.unit, name, new)
                if name in ("code", "name"):
                    registry.renamed(entry, name, old)
                pending.history.append((entry.unit, "unit", entry.unit, name, old, new))
            report.updated_units += bool(edits)
        if row.liaison_email:
            _liaison(pending, report, entry, row, now=now, today=today)
    _write(session, pending, report, now=now, why=why, audit_id=audit_id)
    return report


def _liaison(pending: Pending, report: ImportReport, entry: Entry, row: UnitRow, *, now: datetime, today: date) -> None:
    unit = entry.unit
    same = entry.liaison(row.liaison_email)
    if same is not None:
        for name, old, new in _liaison_edits(row, same):
            setattr(same, name, new)
            pending.history.append((unit, "liaison", same, name, old, new))
        return
    for replaced in entry.active:  # as `appoint` does
        replaced.status, replaced.ended_on = LiaisonStatus.REPLACED, today
        pending.history.append((unit, "liaison", replaced, "status", "active", "replaced"))
    liaison = PlainLiaison(
        unit, row.liaison_name or row.liaison_email, row.liaison_email, row.liaison_phone or None,
        row.liaison_position or None, now, today,
    )  # fmt: skip
    entry.active = [liaison]
    pending.liaisons.append(liaison)
    pending.history.append((unit, "liaison", liaison, "created", None, f"{liaison.name} <{liaison.email}>"))
    report.new_liaisons += 1


def _write(
    session: Session, pending: Pending, report: ImportReport, *, now: datetime, why: str, audit_id: int | None
) -> None:
    if not pending.history:
        return  # nothing differs: not a statement is sent
    write(session, pending, now=now, why=why, audit_id=audit_id)
    for unit, kind, _, name, old, new in pending.history:
        report.noted(unit.name, kind, name, old, new)


def find_unit(session: Session, row: UnitRow) -> Unit | None:
    if row.code:
        found = session.exec(select(Unit).where(Unit.code == row.code)).first()
        if found is not None:
            return found
    return session.exec(select(Unit).where(Unit.name == row.name)).first()


def active_liaisons(session: Session, unit: Unit) -> list[Liaison]:
    """The unit's active liaisons, oldest first (normally one)."""
    query = select(Liaison).where(Liaison.unit_id == unit.id, Liaison.status == LiaisonStatus.ACTIVE)
    return list(session.exec(query.order_by(col(Liaison.id))).all())


def appoint(
    session: Session, unit: Unit, name: str, email: str, *, phone: str = "", position: str = "", now: datetime,
    today: date, why: str, audit_id: int | None = None, pending: Liaison | None = None,
) -> tuple[Liaison, list[Change]]:  # fmt: skip
    """Make `email` the unit's active liaison: those active before are `replaced` from `today`.
    `pending` is the liaison an application proposed: it becomes the active one. Every change is
    written to the history; they are returned too."""
    changes = []
    for old in active_liaisons(session, unit):
        old.status, old.ended_on = LiaisonStatus.REPLACED, today
        changes.append(
            record_change(session, unit, "liaison", old.id or 0, "status", "active", "replaced", now, why, audit_id)
        )
    if pending is not None:
        if pending.unit_id != unit.id:
            changes.append(
                record_change(session, unit, "liaison", pending.id or 0, "unit_id", str(pending.unit_id),
                              str(unit.id), now, why, audit_id)
            )  # fmt: skip
            pending.unit_id = unit.id or 0
        pending.status, pending.started_on, pending.ended_on = LiaisonStatus.ACTIVE, today, None
        changes.append(
            record_change(session, unit, "liaison", pending.id or 0, "status", "pending", "active", now, why, audit_id)
        )
        return pending, changes
    liaison = Liaison(
        unit_id=unit.id or 0, name=name, email=email, phone=phone or None, position=position or None,
        status=LiaisonStatus.ACTIVE, created_at=now, started_on=today,
    )  # fmt: skip
    session.add(liaison)
    session.flush()
    created = f"{liaison.name} <{liaison.email}>"
    changes.append(
        record_change(session, unit, "liaison", liaison.id or 0, "created", None, created, now, why, audit_id)
    )
    return liaison, changes


def propose(
    session: Session, unit: Unit, name: str, email: str, *, phone: str = "", position: str = "", now: datetime,
    why: str,
) -> Liaison:  # fmt: skip
    """A liaison an application names, `pending` until the secretariat decides (kept in the history)."""
    liaison = Liaison(
        unit_id=unit.id or 0, name=name, email=email, phone=phone or None, position=position or None,
        status=LiaisonStatus.PENDING, created_at=now,
    )  # fmt: skip
    session.add(liaison)
    session.flush()
    record_change(
        session, unit, "liaison", liaison.id or 0, "created", None, f"{name} <{email}>（待审核）", now, why, None
    )
    return liaison


def withdraw(session: Session, liaison: Liaison, *, now: datetime, today: date, why: str, audit_id: int | None) -> None:
    """A pending liaison whose application was returned: retired, with the date, never active."""
    unit = session.get(Unit, liaison.unit_id)
    old = liaison.status
    liaison.status, liaison.ended_on = LiaisonStatus.RETIRED, today
    if unit is not None:
        record_change(session, unit, "liaison", liaison.id or 0, "status", old, "retired", now, why, audit_id)


def record_change(
    session: Session, unit: Unit, kind: str, subject_id: int, name: str, old: str | None, new: str | None,
    now: datetime, why: str, audit_id: int | None,
) -> Change:  # fmt: skip
    """One line of a unit's history: a field of the unit or of one of its liaisons, old -> new."""
    change = Change(
        at=now, kind=kind, subject_id=subject_id, unit_id=unit.id or 0, field=name, old=old, new=new, why=why[:300],
        audit_id=audit_id,
    )  # fmt: skip
    session.add(change)
    return change


def _problem(row: UnitRow, kind: str, zh: str, en: str) -> RowProblem:
    return RowProblem(row.row, kind, f"第 {row.row} 行：{zh}", f"row {row.row}: {en}")
