"""The checks on each row of a member-unit sheet, and across its rows.

A row that fails a check does not become a `UnitRow`; it gets one `RowProblem` per fault instead,
named by the row number its spreadsheet shows and, where a cell is at fault, by the cell (J5) and
the header the office wrote over it. A cell is refused when what it holds is not what the office
typed: a formula whose value the file never saved, an error value (#REF!), a date or a TRUE/FALSE
where text belongs (Excel turns "1-2" into a date), a 统一社会信用代码 or a phone number stored as a
number that lost digits or its leading 0. Then the text is checked: a unit name; well-formed emails;
a code of 18 characters with the right check character (`uscc`). Across rows: no code twice, and no
email shared by two different units (an email identifies the unit a letter comes from). Rows that
conflict with each other are all refused: which of them is right is for the secretariat to say.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from mailflow.members.files import cell_text, column_letter
from mailflow.members.uscc import code_fault, normalise_code

_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}$"
)
_EXPONENT = re.compile(r"^\d(?:\.\d+)?E\+?\d+$", re.IGNORECASE)
_WHO = {"leader": ("负责人", "leader"), "liaison": ("联络员", "liaison")}
ERROR_VALUES = frozenset(
    ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!", "#CALC!")
)
_RETYPE = ("请将该列设为文本格式后重新填写", "format the column as text and type it again")


@dataclass(frozen=True, slots=True)
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
    kind: str  # missing_name, bad_email, bad_code, code_as_number, phone_as_number, phone_lost_zero,
    # duplicate_code, shared_email, formula_without_value, error_value, not_text (and the registry's own)
    zh: str
    en: str
    field: str = ""


def problem(row: int, kind: str, zh: str, en: str, field: str = "") -> RowProblem:
    return RowProblem(row, kind, f"第 {row} 行：{zh}", f"row {row}: {en}", field)


@dataclass(frozen=True)
class Layout:
    """Where the fields are: field -> column (from 0) and field -> the header as the office wrote it."""

    columns: Mapping[str, int]
    headers: Mapping[str, str]

    def cell(self, field: str, row: int) -> tuple[str, str]:
        """("J5 单元格（联络员手机）", "cell J5 (联络员手机)") for messages."""
        ref = f"{column_letter(self.columns[field] + 1)}{row}"
        return f"{ref} 单元格（{self.headers[field]}）", f"cell {ref} ({self.headers[field]})"


def _cell_fault(value: object, field: str) -> tuple[str, str, str] | None:
    """(kind, zh, en) when a cell does not hold the text the office typed."""
    if value is None or (isinstance(value, str) and not value.startswith("#")):
        return None  # most cells
    if isinstance(value, bool):
        return (
            "not_text",
            f"是逻辑值 {cell_text(value)}，不是文字；{_RETYPE[0]}",
            f"is the logical value {cell_text(value)}, not text; {_RETYPE[1]}",
        )
    if isinstance(value, datetime | date | time):
        shown = cell_text(value)
        return (
            "not_text",
            f"是日期或时间 {shown}，不是文字（Excel 会把“1-2”这类内容自动变成日期）；{_RETYPE[0]}",
            f'is the date or time {shown}, not text (Excel turns the likes of "1-2" into dates); {_RETYPE[1]}',
        )
    if isinstance(value, str) and value.strip() in ERROR_VALUES:
        return (
            "error_value",
            f"是错误值 {value.strip()}；请在表中改正",
            f"holds the error {value.strip()}; correct it in the sheet",
        )
    if field.endswith("_phone") and isinstance(value, int | float) and _lost_zero(value):
        shown = cell_text(value)
        return (
            "phone_lost_zero",
            f"存成了数字 {shown}，开头的 0 可能已丢失（如区号 028）；{_RETYPE[0]}",
            f"was stored as the number {shown} and may have lost its leading 0 (an area code like 028); {_RETYPE[1]}",
        )
    return None


def _lost_zero(number: float) -> bool:
    """A number in a phone column that cannot be a mobile (11 digits from 1), a local number
    (7 or 8 digits), a 400/800 service number (10) or one with a country code (12 digits or more):
    a 0 in front went missing."""
    if number < 0 or (isinstance(number, float) and not number.is_integer()):
        return False
    digits = str(int(number))
    if len(digits) == 10 and digits[:3] in ("400", "800"):
        return False
    return len(digits) in (9, 10) or (len(digits) == 11 and not digits.startswith("1"))


def check_row(
    number: int, raw: Mapping[str, object], layout: Layout, bare_formulas: Collection[str] = ()
) -> tuple[UnitRow, list[RowProblem]]:
    """The row's values, normalised, and what is wrong with it on its own."""
    problems: list[RowProblem] = []
    values: dict[str, str] = {}
    for field, value in raw.items():
        fault = (
            ("formula_without_value", "是公式，但文件里没有保存它的计算结果（文件可能由其他程序生成）；请用 Excel 或 WPS 打开、保存后再导入",
             "is a formula whose result the file does not hold (another program wrote it); open and save it in "
             "Excel or WPS, then import again")
            if field in bare_formulas else _cell_fault(value, field)
        )  # fmt: skip
        if fault is not None:
            where_zh, where_en = layout.cell(field, number)
            problems.append(problem(number, fault[0], f"{where_zh}{fault[1]}", f"{where_en} {fault[2]}", field))
        values[field] = cell_text(value)
    checked = {problem.field for problem in problems}
    if not values.get("name") and "name" not in checked:
        problems.append(problem(number, "missing_name", "缺少单位名称", "the unit name is missing", "name"))
    code_text, raw_code = values.get("code", ""), raw.get("code")
    values["code"] = normalise_code(code_text)
    if "code" in checked:
        pass
    elif (isinstance(raw_code, float) and raw_code >= 1e15) or _EXPONENT.match(values["code"]):
        problems.append(
            problem(
                number,
                "code_as_number",
                f"统一社会信用代码被存成了数字（{code_text}），末几位已丢失；{_RETYPE[0]}",
                f"the 统一社会信用代码 was stored as a number ({code_text}) and lost its last digits; {_RETYPE[1]}",
                "code",
            )
        )
    elif values["code"] and (wrong := code_fault(values["code"])) is not None:
        problems.append(
            problem(
                number,
                "bad_code",
                f"统一社会信用代码“{code_text}”{wrong[0]}",
                f'the code "{code_text}": {wrong[1]}',
                "code",
            )
        )
    for person, (zh_who, en_who) in _WHO.items():
        problems.extend(_person_problems(number, values, person, zh_who, en_who, checked))
    return UnitRow(row=number, **values), problems


def _person_problems(
    number: int, values: dict[str, str], person: str, zh_who: str, en_who: str, checked: set[str]
) -> list[RowProblem]:
    """Normalise one person's email and phone in `values`; their problems."""
    problems = []
    email_field, phone_field = f"{person}_email", f"{person}_phone"
    typed = values.get(email_field, "")
    values[email_field] = unicodedata.normalize("NFKC", typed).strip().lower()
    if values[email_field] and email_field not in checked and not _EMAIL.match(values[email_field]):
        problems.append(
            problem(
                number,
                "bad_email",
                f"{zh_who}邮箱“{typed}”不是有效的邮箱地址",
                f'the {en_who} email "{typed}" is not a valid address',
                email_field,
            )
        )
    values[phone_field] = unicodedata.normalize("NFKC", values.get(phone_field, "")).strip()
    if phone_field not in checked and _EXPONENT.match(values[phone_field]):
        problems.append(
            problem(
                number,
                "phone_as_number",
                f"{zh_who}手机“{values[phone_field]}”是科学计数法，号码已丢失；{_RETYPE[0]}",
                f'the {en_who} mobile "{values[phone_field]}" is in scientific notation and lost its digits; {_RETYPE[1]}',
                phone_field,
            )
        )
    return problems


def _rows_text(rows: Sequence[int]) -> str:
    return "、".join(str(row) for row in rows)


def duplicate_codes(rows: Sequence[UnitRow]) -> list[RowProblem]:
    by_code: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        if row.code:
            by_code[row.code].append(row.row)
    problems = []
    for code, numbers in by_code.items():
        for number in numbers if len(numbers) > 1 else ():
            others = [other for other in numbers if other != number]
            problems.append(
                problem(
                    number,
                    "duplicate_code",
                    f"统一社会信用代码 {code} 与第 {_rows_text(others)} 行重复",
                    f"the code {code} is also on row {', '.join(map(str, others))}",
                    "code",
                )
            )
    return problems


def shared_emails(rows: Sequence[UnitRow]) -> list[RowProblem]:
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
                problem(
                    number,
                    "shared_email",
                    f"邮箱 {email} 也是第 {_rows_text(others)} 行另一家单位的邮箱",
                    f"the email {email} is also another unit's, on row {', '.join(map(str, others))}",
                    email_field,
                )
            )
    return problems
