"""Find the header row of a member-unit sheet and which column holds which field.

Offices name and order their columns freely, so headers are matched by meaning, not by position:

1. A header is normalised before matching: NFKC (full-width to half-width), lower case, and every
   character that is not a letter, a digit or a CJK character dropped ("* 负责人 E-mail：" becomes
   "负责人email"). A note in brackets ("统一社会信用代码（18位）") is dropped too; when the note is a
   person ("邮箱（联络员）"), it says whose email it is.
2. Unit columns match a fixed list of names exactly (`UNIT_FIELDS`): 单位名称, 单位全称, 企业名称,
   统一社会信用代码, 信用代码, 会员类别, 地址 ..., and English ones (Unit name, USCC, Address ...).
   Exact matching keeps a title row such as "成都市机械制造业商会会员单位名录（2026年）" from matching.
3. Person columns are a person word and an attribute: 负责人/法定代表人/主要负责人/leader (the
   unit's leader) or 联络员/联系人/liaison, followed by nothing (the name), 姓名, 邮箱/电子邮箱/email,
   手机/手机号码/联系电话/mobile or 职务/position ("联络员手机", "Leader email").
4. An attribute alone (邮箱, 手机, 职务, 姓名) belongs to the person named by the nearest column to its
   left, or by a group row above it (a two-row header with 负责人 and 联络员, or 联络员信息, merged over
   their columns; unit columns, 序号 or 备注 merged down over both rows). With no person to its left
   it is ignored (and reported as not used), as is a leader's 职务, which the model does not keep.
5. The header row is the row, among the first 30, that maps the most fields and at least the unit name
   and one other field; earlier rows (titles, notes) are skipped. A column whose field an earlier
   column already took, and every column that matches nothing, is reported as ignored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# Field names in the order the sheet is written, with the header written for each.
HEADERS: dict[str, str] = {
    "name": "单位名称",
    "code": "统一社会信用代码",
    "member_class": "会员类别",
    "leader_name": "负责人",
    "leader_email": "负责人邮箱",
    "leader_phone": "负责人手机",
    "address": "地址",
    "liaison_name": "联络员",
    "liaison_email": "联络员邮箱",
    "liaison_phone": "联络员手机",
    "liaison_position": "职务",
}

UNIT_FIELDS: dict[str, tuple[str, ...]] = {
    "name": (
        "单位名称", "单位全称", "企业名称", "企业全称", "公司名称", "公司全称", "会员单位", "会员单位名称",
        "会员名称", "名称", "unitname", "unit", "memberunit", "company", "companyname", "organization",
        "organisation", "organizationname", "organisationname",
    ),
    "code": (
        "统一社会信用代码", "社会信用代码", "信用代码", "统一信用代码", "统一代码", "uscc",
        "unifiedsocialcreditcode", "socialcreditcode", "creditcode",
    ),
    "member_class": (
        "会员类别", "会员类型", "会员级别", "会员等级", "类别", "memberclass", "membertype",
        "membershipclass", "membership", "class",
    ),
    "address": (
        "地址", "单位地址", "通讯地址", "联系地址", "办公地址", "注册地址", "详细地址", "address",
        "officeaddress", "mailingaddress",
    ),
}  # fmt: skip

PERSONS: dict[str, tuple[str, ...]] = {
    "leader": (
        "负责人", "单位负责人", "企业负责人", "主要负责人", "法定代表人", "法人代表", "法人", "leader",
        "head", "legalrepresentative",
    ),
    "liaison": ("联络员", "联系人", "liaison", "liaisonofficer", "contact", "contactperson"),
}  # fmt: skip

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "name": ("", "姓名", "name"),
    "email": ("邮箱", "电子邮箱", "电子邮件", "邮件", "邮箱地址", "email", "mail", "emailaddress"),
    "phone": (
        "手机", "手机号", "手机号码", "移动电话", "联系电话", "电话", "联系方式", "mobile", "mobileno",
        "mobilephone", "cellphone", "phone", "tel", "telephone",
    ),
    "position": ("职务", "职位", "position", "title", "jobtitle"),
}  # fmt: skip

SCAN_ROWS = 30

_UNIT = {alias: field for field, aliases in UNIT_FIELDS.items() for alias in aliases}
_PERSON = {alias: person for person, aliases in PERSONS.items() for alias in aliases}
_ATTRIBUTE = {alias: attribute for attribute, aliases in ATTRIBUTES.items() for alias in aliases}
# Longest first, so that 主要负责人 is not read as 主要 + 负责人.
_PERSON_WORDS = sorted(_PERSON, key=len, reverse=True)
_NOTE = re.compile(r"[(（\[【](.*?)[)）\]】]")
_DROP = re.compile(r"[^0-9a-z\u3400-\u9fff]+")


@dataclass(frozen=True)
class Header:
    """The header row found: its index in the grid, field -> column, and the columns left unused."""

    index: int
    columns: dict[str, int]
    texts: dict[str, str]
    ignored: tuple[str, ...]


def normalise(text: str) -> str:
    """A header reduced to what matters for matching (see rule 1)."""
    return _DROP.sub("", unicodedata.normalize("NFKC", text).lower())


def _person(key: str) -> tuple[str, str] | None:
    """(person, attribute) for a person column like 联络员邮箱, else None."""
    for word in _PERSON_WORDS:
        if key.startswith(word) and key[len(word) :] in _ATTRIBUTE:
            return _PERSON[word], _ATTRIBUTE[key[len(word) :]]
    return None


def classify_header(text: str, group: str | None, context: str | None) -> tuple[str | None, str | None]:
    """(field or None, person now in context) for one header cell."""
    outer = _unit_key(text)
    notes = [normalise(note) for note in _NOTE.findall(text)]
    if outer in _UNIT:
        return _UNIT[outer], context
    found = _person(outer)
    person: str | None
    if found is not None:
        person, attribute = found
        context = person
    elif outer in _ATTRIBUTE and outer:
        noted = next((_PERSON[note] for note in notes if note in _PERSON), None)
        person, attribute = noted or group or context, _ATTRIBUTE[outer]
    else:
        return None, context
    if person is None or (person == "leader" and attribute == "position"):
        return None, context
    return f"{person}_{attribute}", context


_GROUP_SUFFIXES = ("", "信息", "情况", "资料", "联系方式", "info", "details", "contact")


def _group_person(text: str) -> str | None:
    """The person a group cell names: 联络员, or 联络员信息 and the like."""
    key = _unit_key(text)
    for word in _PERSON_WORDS:
        if key.startswith(word) and key[len(word) :] in _GROUP_SUFFIXES:
            return _PERSON[word]
    return None


def _groups(above: Sequence[str]) -> list[str | None]:
    """The person each column sits under in a group row (merged cells are empty after the first)."""
    groups: list[str | None] = []
    current: str | None = None
    for text in above:
        if text:
            current = _group_person(text)
        groups.append(current)
    return groups


def _unit_key(text: str) -> str:
    return normalise(_NOTE.sub("", text))


def _is_group_row(above: Sequence[str]) -> bool:
    """The upper row of a two-row header: person groups (联络员 merged over 姓名, 邮箱, 手机), beside unit
    columns and others (序号, 备注) merged down over both rows; no cell of it is a column of its own
    that names an attribute (邮箱, 联络员邮箱), which would make it a header row itself."""
    texts = [text for text in above if text]
    if not any(_group_person(text) for text in texts):
        return False
    return not any(
        (key := _unit_key(text)) and key not in _PERSON and (key in _ATTRIBUTE or _person(key) is not None)
        for text in texts
    )


def match_row(cells: Sequence[str], above: Sequence[str] = ()) -> Header:
    """Map one candidate header row; `above` is the row over it, used when it is a group row."""
    grouped = _is_group_row(above)
    groups = _groups(above) if grouped else []
    columns: dict[str, int] = {}
    texts: dict[str, str] = {}
    ignored: list[str] = []
    context: str | None = None
    for index in range(max(len(cells), len(above)) if grouped else len(cells)):
        text = cells[index] if index < len(cells) else ""
        if not text and grouped and index < len(above) and _group_person(above[index]) is None:
            text = above[index]  # a column merged down over both rows of a two-row header (单位名称, 序号)
        if not text:
            continue
        group = groups[min(index, len(groups) - 1)] if groups else None  # merged cells past the end are left out
        field, context = classify_header(text, group, context)
        if field is None or field in columns:
            ignored.append(text)
            continue
        columns[field] = index
        texts[field] = text
    return Header(-1, columns, texts, tuple(ignored))


def find_header(grid: Sequence[Sequence[str]]) -> Header | None:
    """The best header row among the first SCAN_ROWS rows, or None when no row names the unit."""
    best: Header | None = None
    for index, cells in enumerate(grid[:SCAN_ROWS]):
        above = grid[index - 1] if index else ()
        header = match_row(cells, above)
        if "name" not in header.columns or len(header.columns) < 2:
            continue
        if best is None or len(header.columns) > len(best.columns):
            best = Header(index, header.columns, header.texts, header.ignored)
    return best
