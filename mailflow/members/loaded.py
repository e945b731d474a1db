"""The registry held in memory for one import: every unit and active liaison read in two queries,
instead of a few queries per row, and what the import adds written in batches.

`Loaded` keeps itself current while rows are applied, so that a row sees what the rows before it
did, as it would if each row queried the database. It holds table objects when the import edits
what it finds (the session writes those edits), and plain records when it only compares: a table
object costs tens of microseconds to make, which a list of thousands of units turns into seconds.
New units and liaisons are plain records too, inserted by `write` through the session's connection
in batches of BATCH, with RETURNING for the ids their history lines need.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy import select as columns
from sqlmodel import Session, SQLModel, col, select

from mailflow.members.rows import UnitRow
from mailflow.store.storable import storable
from mailflow.store import Change, Liaison, LiaisonStatus, Unit

BATCH = 2000  # rows per insert: bounded memory for the statement's parameters, few round trips


@dataclass(slots=True)
class PlainUnit:
    """A unit as plain attributes: one the import creates, or one loaded only to be compared."""

    name: str
    code: str
    member_class: str | None
    leader_name: str | None
    leader_email: str | None
    leader_phone: str | None
    address: str | None
    created_at: datetime | None
    id: int | None = None


@dataclass(slots=True)
class PlainLiaison:
    """A liaison likewise; `unit` is the unit it belongs to (its id comes with the unit's insert)."""

    unit: Unit | PlainUnit
    name: str
    email: str
    phone: str | None
    position: str | None
    created_at: datetime | None
    started_on: date | None
    status: str = LiaisonStatus.ACTIVE
    ended_on: date | None = None
    id: int | None = None


_SOMEONE = PlainUnit("", "", None, None, None, None, None, None)  # a liaison's unit until it is looked up
AnyUnit = Unit | PlainUnit
AnyLiaison = Liaison | PlainLiaison
_UNIT_NAMES = tuple(f.name for f in fields(PlainUnit))
_LIAISON_NAMES = tuple(f.name for f in fields(PlainLiaison))[1:]  # all but the unit


def _objects(session: Session) -> tuple[Iterable[AnyUnit], Iterable[tuple[int, AnyLiaison]]]:
    """Units and active liaisons as table objects, whose edits the session writes."""
    units = session.exec(select(Unit).order_by(col(Unit.id)))
    query = select(Liaison).where(Liaison.status == LiaisonStatus.ACTIVE).order_by(col(Liaison.id))
    return units, ((liaison.unit_id, liaison) for liaison in session.exec(query))


def _records(session: Session) -> tuple[Iterable[AnyUnit], Iterable[tuple[int, AnyLiaison]]]:
    """Units and active liaisons as plain records, read column by column."""
    session.flush()  # as a query through the session would, so that what it holds is seen
    connection = session.connection()
    unit, liaison = _table(Unit), _table(Liaison)
    query = columns(*(unit.c[name] for name in _UNIT_NAMES)).order_by(unit.c.id)
    units = (PlainUnit(*row) for row in connection.execute(query))
    query = columns(liaison.c.unit_id, *(liaison.c[name] for name in _LIAISON_NAMES))
    query = query.where(liaison.c.status == LiaisonStatus.ACTIVE).order_by(liaison.c.id)
    return units, ((row[0], PlainLiaison(_SOMEONE, *row[1:])) for row in connection.execute(query))


@dataclass(slots=True)
class Entry:
    """A unit and its active liaisons, oldest first."""

    unit: AnyUnit
    active: list[AnyLiaison] = field(default_factory=list)

    def liaison(self, email: str) -> AnyLiaison | None:
        """The active liaison with this email (any case), else None."""
        wanted = email.lower()
        return next((x for x in self.active if x.email.lower() == wanted), None)


class Loaded:
    """Units by code and by name (the first by id, as a query's first row), and active liaisons by email."""

    def __init__(self, session: Session, *, editable: bool) -> None:
        self.by_code: dict[str, Entry] = {}
        self.by_name: dict[str, Entry] = {}
        self.by_email: dict[str, tuple[AnyLiaison, Entry]] = {}  # lower-case email -> the first active liaison
        by_id: dict[int, Entry] = {}
        units, liaisons = _objects(session) if editable else _records(session)
        for unit in units:
            by_id[unit.id or 0] = self.add(unit)
        for unit_id, liaison in liaisons:
            entry = by_id.get(unit_id)
            if entry is not None:
                if isinstance(liaison, PlainLiaison):
                    liaison.unit = entry.unit
                entry.active.append(liaison)
                self.by_email.setdefault(liaison.email.lower(), (liaison, entry))

    def add(self, unit: AnyUnit) -> Entry:
        entry = Entry(unit)
        self.by_code.setdefault(unit.code, entry)
        self.by_name.setdefault(unit.name, entry)
        return entry

    def find(self, row: UnitRow) -> Entry | None:
        """As `registry.find_unit`: by code, else by name."""
        if row.code and (entry := self.by_code.get(row.code)) is not None:
            return entry
        return self.by_name.get(row.name)

    def renamed(self, entry: Entry, name: str, old: str | None) -> None:
        """The unit's code or name changed: find it by the new one from now on."""
        index = self.by_code if name == "code" else self.by_name
        if old is not None and index.get(old) is entry:
            del index[old]
        index.setdefault(getattr(entry.unit, name), entry)


History = tuple[AnyUnit, str, Unit | PlainUnit | AnyLiaison, str, str | None, str | None]


@dataclass
class Pending:
    """What applying the rows adds: new units and liaisons, and the history lines in the order the
    rows made them (unit, kind, subject, field, old, new)."""

    units: list[PlainUnit] = field(default_factory=list)
    liaisons: list[PlainLiaison] = field(default_factory=list)
    history: list[History] = field(default_factory=list)


def _batches(items: Iterable[Any]) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def _table(model: type[SQLModel]) -> Table:
    return model.metadata.tables[str(model.__tablename__)]


def _insert(
    connection: Connection,
    table: Table,
    made: Sequence[PlainUnit | PlainLiaison],
    key: tuple[str, ...],
    extra: str = "",
) -> None:
    """Insert `made` in batches and give each its id; `extra` names a column filled from the unit.
    Columns a plain record does not have get their defaults. The ids come back named by `key`
    (columns unique among the rows): asked for in the rows' order (sort_by_parameter_order),
    SQLite would get one INSERT per row instead of one per batch."""
    if not made:
        return
    known = {f.name for f in fields(made[0])}
    columns = [name for name in table.columns.keys() if name != "id" and name in known]
    statement = table.insert().returning(table.c.id, *(table.c[name] for name in key))
    for batch in _batches(made):
        rows = []
        for thing in batch:
            row = {name: getattr(thing, name) for name in columns if name != extra}
            if extra:
                row[extra] = thing.unit.id
            rows.append(row)
        ids = {tuple(found[1:]): found[0] for found in connection.execute(statement, rows)}
        for thing, row in zip(batch, rows, strict=True):
            thing.id = ids[tuple(_stored(row[name]) for name in key)]


def _stored(value: Any) -> Any:
    """A key's value as the database gives it back (text is cleaned on its way in: store.storable)."""
    return storable(value) if isinstance(value, str) else value


def write(session: Session, pending: Pending, *, now: datetime, why: str, audit_id: int | None) -> None:
    """Insert the new units, their liaisons and every history line; the edits to table objects
    already there are the session's to flush."""
    connection = session.connection()
    _insert(connection, _table(Unit), pending.units, ("code",))
    _insert(connection, _table(Liaison), pending.liaisons, ("unit_id", "email"), extra="unit_id")
    lines = (
        {"at": now, "kind": kind, "subject_id": subject.id or 0, "unit_id": unit.id or 0, "field": name, "old": old,
         "new": new, "why": why[:300], "audit_id": audit_id}
        for unit, kind, subject, name, old, new in pending.history
    )  # fmt: skip
    for batch in _batches(lines):
        connection.execute(_table(Change).insert(), batch)
