"""Spreadsheet files as grids of cell values: .xlsx through openpyxl, .csv in the encodings offices use.

Reading is lenient about how a file was produced. Excel and WPS both write .xlsx, with shared or inline
strings and numbers for anything that looks like one; some producers record a wrong used range, so the
range is recomputed rather than trusted. A CSV is UTF-8 (with or without a BOM), UTF-16 with a BOM, or
GB18030 (a superset of GBK and GB2312), which Excel on Chinese Windows writes without any marker.

Writing targets Excel first: a CSV gets a UTF-8 BOM (without one, Excel reads it as GBK and shows
mojibake), and a value Excel would turn into a number and damage (a leading zero; 11 digits or more,
which is a mobile number that a column of the default width shows as 1.38E+10, and from 16 on loses
digits; a leading = + - @) is written as the text formula ="...", which Excel shows as the text itself
and which `unwrap` reads back.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from mailflow.errors import MailflowError

Grid = list[list[Any]]
TEXT_FORMAT = "@"  # Excel's number format "Text": what is typed later in the column stays text too
SHEET_TITLE = "会员单位"

_SPACES = re.compile(r"[\s\u200b\ufeff]+")
_FORMULA_TEXT = re.compile(r'^="(.*)"$', re.DOTALL)
_NEEDS_PROTECTION = re.compile(r"^(?:0\d+|\d{11,})$|^[=+\-@]")


class SheetError(MailflowError):
    """The file cannot be read as a member-unit sheet at all; zh and en say why."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh = zh
        self.en = en
        super().__init__(en)


def unwrap(text: str) -> str:
    """The text of a ="..." cell as Excel and this module write it in a CSV, else the text itself."""
    match = _FORMULA_TEXT.match(text)
    return match.group(1).replace('""', '"') if match else text


def cell_text(value: object) -> str:
    """A cell as the text it shows: integral numbers without .0 or an exponent, spaces trimmed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() else format(Decimal(repr(value)), "f")
    elif isinstance(value, datetime):
        text = value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    elif isinstance(value, date | time):
        text = value.isoformat()
    else:
        text = unwrap(str(value).strip())
    return _SPACES.sub(" ", text).strip()


def load_sheets(path: Path) -> list[tuple[str, Grid]]:
    """Every worksheet of the file as (title, rows of values); a CSV is one sheet titled ""."""
    if not path.is_file():
        raise SheetError(f"找不到文件 {path}", f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _load_xlsx(path)
    if suffix in (".csv", ".txt"):
        return [("", _load_csv(path))]
    if suffix in (".xls", ".et", ".ods", ".numbers"):
        raise SheetError(
            f"无法读取 {path.name}：请在 Excel 或 WPS 中“另存为”.xlsx 格式后再导入",
            f"cannot read {path.name}: save it as .xlsx (Save As in Excel or WPS) and import that",
        )
    raise SheetError(
        f"无法读取 {path.name}：只支持 .xlsx 和 .csv 文件", f"cannot read {path.name}: only .xlsx and .csv are read"
    )


def _load_xlsx(path: Path) -> list[tuple[str, Grid]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        raise SheetError(
            f"无法打开 {path.name}：文件已损坏、已加密或不是 .xlsx 文件（{exc}）",
            f"cannot open {path.name}: it is damaged, encrypted or not an .xlsx file ({exc})",
        ) from exc
    try:
        sheets: list[tuple[str, Grid]] = []
        for sheet in book.worksheets:
            sheet.reset_dimensions()  # the recorded used range may be wrong; read every row there is
            sheets.append((str(sheet.title), [list(row) for row in sheet.iter_rows(min_row=1, values_only=True)]))
        return sheets
    finally:
        book.close()


def decode_csv(data: bytes) -> str:
    """The text of a CSV file: a BOM decides; otherwise UTF-8 when it decodes, else GB18030."""
    if data.startswith(codecs.BOM_UTF8):
        encoding, data = "utf-8", data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "gb18030"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SheetError(
            "无法识别 CSV 文件的编码（应为 UTF-8 或 GBK/GB18030）",
            "the CSV file's encoding is neither UTF-8 nor GBK/GB18030",
        ) from exc


def _load_csv(path: Path) -> Grid:
    text = decode_csv(path.read_bytes())
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    return [list(row) for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


def _protect(text: str) -> str:
    """Text Excel would change on opening a CSV, written so that it shows as is."""
    return '="' + text.replace('"', '""') + '"' if _NEEDS_PROTECTION.search(text) else text


Cell = str | int  # what the writers take: text (kept text, whatever it looks like) or a whole number


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Cell]], *, title: str = "") -> bytes:
    """A CSV as Excel opens it: UTF-8 with a BOM, CRLF, `title` (when given) as a row above the header."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    if title:
        writer.writerow([title])
    writer.writerow(header)
    writer.writerows([value if isinstance(value, int) else _protect(value) for value in row] for row in rows)
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Cell]], *, title: str = "") -> None:
    path.write_bytes(csv_bytes(header, rows, title=title))


def _width(text: str) -> int:
    """Columns a text takes in Excel: a CJK character is about two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def xlsx_bytes(
    header: Sequence[str], rows: Sequence[Sequence[Cell]], *, title: str = "", sheet_title: str = SHEET_TITLE
) -> bytes:
    """A workbook of one sheet: `title` (when given) bold over the table, the header bold and repeated on
    every printed page, text cells formatted as text (a phone number stays a phone number), numbers as numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = sheet_title[:31]  # Excel's limit for a sheet's name
    if title:
        sheet.append([title])
        sheet.cell(row=1, column=1).font = Font(bold=True, size=14)
        sheet.cell(row=1, column=1).alignment = Alignment(horizontal="center")
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(len(header), 1))
    first = 2 if title else 1  # the header's row
    sheet.append(list(header))
    for cell in sheet[first]:
        cell.font = Font(bold=True)
    for number, values in enumerate(rows, start=first + 1):
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=number, column=column, value=value if isinstance(value, int) else value or None)
            if isinstance(value, int):
                continue
            cell.number_format = TEXT_FORMAT
            if value.startswith("="):
                cell.data_type = "s"  # text, never a formula
    for column, name in enumerate(header, start=1):
        widest = max([_width(name), *(_width(str(values[column - 1])) for values in rows)])
        sheet.column_dimensions[get_column_letter(column)].width = min(max(widest + 2, 8), 60)
    sheet.freeze_panes = f"A{first + 1}"
    sheet.print_title_rows = f"{first}:{first}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_xlsx(
    path: Path,
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    title: str = "",
    sheet_title: str = SHEET_TITLE,
) -> None:
    path.write_bytes(xlsx_bytes(header, rows, title=title, sheet_title=sheet_title))
