"""The secretariat's member-unit spreadsheet, read into checked rows and written back in the same layout.

A row that fails a check does not become a `UnitRow`; it gets one `RowProblem` per fault instead, so an
import can apply the good rows and send the secretariat the list of rows to fix, by the row number its
spreadsheet shows. Checks: a unit name; a well-formed leader and liaison email; a 统一社会信用代码 of 18
characters with the right check character (`uscc`), not stored as a number that lost digits; phone
numbers not in scientific notation; no code twice in the file; no email shared by two different units
(an email identifies the unit a letter comes from). Rows that conflict with each other are all refused:
which of them is right is for the secretariat to say.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

from mailflow.members.columns import HEADERS, Header, find_header
from mailflow.members.files import SheetError, cell_text, load_sheets, write_csv, write_xlsx
from mailflow.members.uscc import code_fault, normalise_code

_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}$"
)
_EXPONENT = re.compile(r"^\d(?:\.\d+)?E\+?\d+$", re.IGNORECASE)
_WHO = {"leader": ("负责人", "leader"), "liaison": ("联络员", "liaison")}


@dataclass(frozen=True)
class UnitRow:
    """One member unit as the sheet gives it; every field is text, "" when empty."""

    row: int
    name: str
    code: str = ""
    member_class: str = ""
    leader_name: str = ""
    leader_email: str = ""
    leader_phone: str = ""
    address: str = ""
    liaison_name: str = ""
    liaison_email: str = ""
    liaison_phone: str = ""
    liaison_position: str = ""


@dataclass(frozen=True)
class RowProblem:
    """Why a row was refused, in zh-CN and en, each sentence starting with the row number."""

    row: int
    kind: str  # missing_name, bad_email, bad_code, code_as_number, phone_as_number, duplicate_code, shared_email
    zh: str
    en: str
    field: str = ""


@dataclass(frozen=True)
class SheetResult:
    """The rows read, the problems found, field -> header as written, and the headers not used."""

    rows: tuple[UnitRow, ...]
    problems: tuple[RowProblem, ...]
    columns: Mapping[str, str]
    ignored: tuple[str, ...]
    header_row: int
    sheet: str = ""
    skipped_sheets: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def _problem(row: int, kind: str, zh: str, en: str, field: str = "") -> RowProblem:
    return RowProblem(row, kind, f"第 {row} 行：{zh}", f"row {row}: {en}", field)


def _rows_text(rows: Sequence[int]) -> str:
    return "、".join(str(row) for row in rows)


def _email(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def _check_row(number: int, cells: Mapping[str, str], raw_code: object) -> tuple[UnitRow, list[RowProblem]]:
    """The row's values, normalised, and what is wrong with it on its own."""
    values = dict(cells)
    problems: list[RowProblem] = []
    if not values.get("name"):
        problems.append(_problem(number, "missing_name", "缺少单位名称", "the unit name is missing", "name"))
    code_text = values.get("code", "")
    values["code"] = normalise_code(code_text)
    if (isinstance(raw_code, float) and raw_code >= 1e15) or _EXPONENT.match(values["code"]):
        problems.append(
            _problem(
                number,
                "code_as_number",
                f"统一社会信用代码被存成了数字（{code_text}），末几位已丢失；请将该列设为文本格式后重新填写",
                f"the 统一社会信用代码 was stored as a number ({code_text}) and lost its last digits; "
                "format the column as text and type it again",
                "code",
            )
        )
    elif values["code"] and (fault := code_fault(values["code"])) is not None:
        zh, en = fault
        problems.append(
            _problem(number, "bad_code", f"统一社会信用代码“{code_text}”{zh}", f'the code "{code_text}": {en}', "code")
        )
    for person, (zh_who, en_who) in _WHO.items():
        email_field, phone_field = f"{person}_email", f"{person}_phone"
        values[email_field] = _email(values.get(email_field, ""))
        if values[email_field] and not _EMAIL.match(values[email_field]):
            problems.append(
                _problem(
                    number,
                    "bad_email",
                    f"{zh_who}邮箱“{cells[email_field]}”不是有效的邮箱地址",
                    f'the {en_who} email "{cells[email_field]}" is not a valid address',
                    email_field,
                )
            )
        values[phone_field] = unicodedata.normalize("NFKC", values.get(phone_field, "")).strip()
        if _EXPONENT.match(values[phone_field]):
            problems.append(
                _problem(
                    number,
                    "phone_as_number",
                    f"{zh_who}手机“{values[phone_field]}”是科学计数法，号码已丢失；请将该列设为文本格式后重新填写",
                    f'the {en_who} mobile "{values[phone_field]}" is in scientific notation and lost its digits; '
                    "format the column as text and type it again",
                    phone_field,
                )
            )
    return UnitRow(row=number, **values), problems


def _duplicate_codes(rows: Sequence[UnitRow]) -> list[RowProblem]:
    by_code: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        if row.code:
            by_code[row.code].append(row.row)
    problems = []
    for code, numbers in by_code.items():
        for number in numbers if len(numbers) > 1 else ():
            others = [other for other in numbers if other != number]
            problems.append(
                _problem(
                    number,
                    "duplicate_code",
                    f"统一社会信用代码 {code} 与第 {_rows_text(others)} 行重复",
                    f"the code {code} is also on row {', '.join(map(str, others))}",
                    "code",
                )
            )
    return problems


def _shared_emails(rows: Sequence[UnitRow]) -> list[RowProblem]:
    """An email on rows of different units (told apart by code, or by name without one)."""
    users: dict[str, dict[int, tuple[str, str]]] = defaultdict(dict)
    for row in rows:
        for email_field in ("leader_email", "liaison_email"):
            email = getattr(row, email_field)
            if email:
                users[email].setdefault(row.row, (row.code or row.name, email_field))
    problems = []
    for email, on_rows in users.items():
        if len({unit for unit, _ in on_rows.values()}) < 2:
            continue
        for number, (_, email_field) in on_rows.items():
            others = [other for other in on_rows if other != number]
            problems.append(
                _problem(
                    number,
                    "shared_email",
                    f"邮箱 {email} 也是第 {_rows_text(others)} 行另一家单位的邮箱",
                    f"the email {email} is also another unit's, on row {', '.join(map(str, others))}",
                    email_field,
                )
            )
    return problems


def _read_grid(texts: Sequence[Sequence[str]], raw: Sequence[Sequence[Any]], header: Header) -> SheetResult:
    found: list[UnitRow] = []
    problems: list[RowProblem] = []
    for index in range(header.index + 1, len(texts)):
        line = texts[index]
        cells = {name: (line[col] if col < len(line) else "") for name, col in header.columns.items()}
        if not any(cells.values()):
            continue  # an empty row, or one with only a 序号 or other unmapped cells filled in
        code_col = header.columns.get("code")
        raw_code = raw[index][code_col] if code_col is not None and code_col < len(raw[index]) else None
        row, faults = _check_row(index + 1, cells, raw_code)
        found.append(row)
        problems.extend(faults)
    problems.extend(_duplicate_codes(found))
    problems.extend(_shared_emails(found))
    refused = {problem.row for problem in problems}
    return SheetResult(
        rows=tuple(row for row in found if row.row not in refused),
        problems=tuple(sorted(problems, key=lambda problem: problem.row)),
        columns=dict(header.texts),
        ignored=header.ignored,
        header_row=header.index + 1,
    )


def read_units(path: Path) -> SheetResult:
    """Read the first worksheet with a recognisable header row (see `columns`); SheetError when none has."""
    chosen: tuple[str, list[list[str]], list[list[Any]], Header] | None = None
    skipped: list[str] = []
    for title, raw in load_sheets(path):
        texts = [[cell_text(value) for value in line] for line in raw]
        header = find_header(texts)
        if header is None:
            continue
        if chosen is None:
            chosen = (title, texts, raw, header)
        else:
            skipped.append(title)
    if chosen is None:
        raise SheetError(
            f"{path.name} 中找不到表头行（至少要有“单位名称”和另一列，如“统一社会信用代码”）",
            f"{path.name} has no header row (it needs 单位名称 / Unit name and at least one more column)",
        )
    title, texts, raw, header = chosen
    result = _read_grid(texts, raw, header)
    return SheetResult(
        result.rows, result.problems, result.columns, result.ignored, result.header_row, title, tuple(skipped)
    )


FIELDS = tuple(f.name for f in fields(UnitRow))[1:]
assert FIELDS == tuple(HEADERS), "UnitRow's fields and the written headers must stay in the same order"


def write_units(path: Path, rows: Sequence[UnitRow]) -> None:
    """Write the rows under the Chinese headers, as .xlsx (text cells) or as .csv (UTF-8 with a BOM)."""
    values = [[str(value) for value in astuple(row)[1:]] for row in rows]
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        write_xlsx(path, list(HEADERS.values()), values)
    elif suffix == ".csv":
        write_csv(path, list(HEADERS.values()), values)
    else:
        raise SheetError(
            f"只能写出 .xlsx 或 .csv 文件，不能写 {path.name}", f"can only write .xlsx or .csv, not {path.name}"
        )
