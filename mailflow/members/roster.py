"""联络员名录: the roster of active liaisons by unit that the secretariat publishes (Art. 3), and its files.

What it shows. The roster goes to every liaison, so it carries what one liaison needs to reach another
unit's liaison, and no more: the unit, its 会员类别, the liaison's name, position, email and (unless the
chamber turns `phones` off) mobile number; the liaison registered for this role and these are the role's
contact details. The unit's leader (负责人) is left out: a leader's name, mobile and email were given to
the secretariat, not to every member, and the chamber writes to leaders itself. The credit code and the
address reach nobody and are left out too. A unit without an active liaison is not listed.

Order: 会员类别 as the chamber ranks them (会长单位 first; others after, then units without one), then the
unit's name in pinyin order as a Chinese office sorts a list. GB2312 orders its 3,755 common characters
by pinyin and the next 3,008 by radical, so a name's GB18030 bytes sort it so; characters outside GB2312
come after them. Then the unit's code and the liaison's id, so the same rows always come in one order.

The fingerprint is the sha256 of the published cells (not of the title's date, nor of a file's bytes,
which carry timestamps): two rosters that show the same thing have the same fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session, col

from mailflow.members.files import Cell, SheetError, csv_bytes, xlsx_bytes
from mailflow.members.page import html_page
from mailflow.store import Liaison, LiaisonStatus, Unit

CLASSES = ("会长单位", "副会长单位", "常务理事单位", "理事单位", "会员单位")  # the usual rank of 会员类别
SUFFIXES = (".xlsx", ".csv", ".html")
# The published columns after 序号, by field; "phone" only when the chamber publishes phones.
COLUMNS: dict[str, tuple[str, str]] = {
    "unit": ("单位名称", "Unit"),
    "member_class": ("会员类别", "Membership"),
    "name": ("联络员", "Liaison"),
    "position": ("职务", "Position"),
    "phone": ("联络员手机", "Mobile"),
    "email": ("联络员邮箱", "Email"),
}
NUMBER = ("序号", "No.")


@dataclass(frozen=True)
class Entry:
    """One active liaison of one unit, as the database holds them."""

    unit: str
    member_class: str
    name: str
    position: str
    phone: str
    email: str
    code: str
    liaison_id: int


@dataclass(frozen=True)
class Roster:
    """The roster as published: its title, header and numbered rows, and what identifies its content."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    units: int
    fingerprint: str
    english: bool = False

    @property
    def liaisons(self) -> int:
        return len(self.rows)

    @property
    def note(self) -> str:
        if self.english:
            return f"{self.units} member unit(s), {self.liaisons} liaison(s)"
        return f"共 {self.units} 家会员单位、{self.liaisons} 名联络员"

    def filename(self, suffix: str) -> str:
        """The title as a file name: 成都市机械制造业商会联络员名录（2026年12月1日）.xlsx."""
        return "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in self.title) + suffix

    def xlsx(self) -> bytes:
        return xlsx_bytes(self.header, self.rows, title=self.title, sheet_title=_sheet(self.english))

    def csv(self) -> bytes:
        return csv_bytes(self.header, self.rows, title=self.title)

    def html(self) -> str:
        return html_page(self.title, self.header, self.rows, note=self.note, lang="en" if self.english else "zh-CN")


def entries(session: Session) -> list[Entry]:
    """Every active liaison with their unit: one query, plain columns (no objects), whatever the count."""
    query = (
        select(
            col(Unit.name), col(Unit.member_class), col(Liaison.name), col(Liaison.position), col(Liaison.phone),
            col(Liaison.email), col(Unit.code), col(Liaison.id),
        )
        .join(Unit, col(Unit.id) == col(Liaison.unit_id))
        .where(col(Liaison.status) == LiaisonStatus.ACTIVE)
    )  # fmt: skip
    session.flush()  # rows added in this transaction count too (the query goes past the ORM)
    return [
        Entry(unit, cls or "", name, position or "", phone or "", email, code, liaison_id or 0)
        for unit, cls, name, position, phone, email, code, liaison_id in session.connection().execute(query)
    ]


def ordered(found: Iterable[Entry], classes: Sequence[str] = ()) -> list[Entry]:
    """By 会员类别 in the chamber's rank (`classes`, else CLASSES), then by name in pinyin order (see above)."""
    rank = {name: n for n, name in enumerate(classes or CLASSES)}
    unranked, empty = len(rank), len(rank) + 1

    def key(entry: Entry) -> tuple[int, tuple[bytes, ...], tuple[bytes, ...], str, int]:
        place = rank.get(entry.member_class, unranked if entry.member_class else empty)
        return place, collation(entry.member_class), collation(entry.unit), entry.code, entry.liaison_id

    return sorted(found, key=key)


def collation(text: str) -> tuple[bytes, ...]:
    """A sort key that puts Chinese text in pinyin order (GB2312's order), other characters after it."""
    return tuple(_character(c) for c in text)


def _character(char: str) -> bytes:
    encoded = char.encode("gb18030")
    if len(encoded) == 1 or (len(encoded) == 2 and 0xA1 <= encoded[0] <= 0xF7 and encoded[1] >= 0xA1):
        return encoded  # ASCII, GB2312's symbols, then its characters by pinyin (level 1) and radical (level 2)
    return b"\xf8" + encoded  # GBK's and GB18030's additions: after every GB2312 character


def make_roster(
    found: Iterable[Entry], *, chamber: str, on: date, english: bool = False, classes: Sequence[str] = (),
    phones: bool = True,
) -> Roster:  # fmt: skip
    """The roster of `found` (any order) as published on `on`."""
    listed = ordered(found, classes)
    fields = [name for name in COLUMNS if phones or name != "phone"]
    lines = [tuple(getattr(entry, name) for name in fields) for entry in listed]
    rows = tuple((number, *line) for number, line in enumerate(lines, start=1))
    pick = 1 if english else 0
    header = (NUMBER[pick], *(COLUMNS[name][pick] for name in fields))
    canonical = json.dumps([fields, lines], ensure_ascii=False, separators=(",", ":"))
    return Roster(
        title=title(chamber, on, english),
        header=header,
        rows=rows,
        units=len({entry.code for entry in listed}),
        fingerprint=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        english=english,
    )


def title(chamber: str, on: date, english: bool = False) -> str:
    if english:
        return f"Liaison roster of {chamber} ({on.isoformat()})"
    return f"{chamber}联络员名录（{on.year}年{on.month}月{on.day}日）"


def write_roster(path: Path, roster: Roster) -> None:
    """Write the roster as .xlsx, .csv (UTF-8 with a BOM, for Excel) or .html, by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        path.write_bytes(roster.xlsx())
    elif suffix == ".csv":
        path.write_bytes(roster.csv())
    elif suffix == ".html":
        path.write_text(roster.html(), encoding="utf-8")
    else:
        raise SheetError(
            f"只能写出 .xlsx、.csv 或 .html 文件，不能写 {path.name}",
            f"can only write .xlsx, .csv or .html, not {path.name}",
        )


def _sheet(english: bool) -> str:
    return "Liaisons" if english else "联络员名录"
