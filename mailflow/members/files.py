"""Spreadsheet cells as text, CSV files as sheets in the encodings offices use, and the sheet written back.

A CSV is UTF-8 (with or without a BOM), UTF-16 (Excel's "Unicode text", with a BOM, tab-separated; or
without a BOM), or GB18030 (a superset of GBK and GB2312), which Excel on Chinese Windows writes without
any marker. (.xlsx files are read by `xlsx`; `sniff` tells which a file is.)

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
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

from mailflow.errors import MailflowError

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
    if value.__class__ is str:  # most cells: the others' checks skipped
        text = value.strip()  # type: ignore[attr-defined]
        return _SPACES.sub(" ", unwrap(text) if text.startswith('="') else text).strip()
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


def decode_csv(data: bytes) -> str:
    """The text of a CSV file: a BOM decides; otherwise UTF-8 when it decodes, else GB18030."""
    if data.startswith(codecs.BOM_UTF8):
        encoding, data = "utf-8", data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in data[:4096]:
        encoding = _utf16_without_bom(data[:4096])
    else:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "gb18030"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _unknown_encoding() from exc


def _unknown_encoding() -> SheetError:
    return SheetError(
        "无法识别 CSV 文件的编码（支持 UTF-8、UTF-16 和 GBK/GB18030）；请在 Excel 或 WPS 中另存为 .xlsx 或“CSV UTF-8”后再导入",
        "the CSV file's encoding is none of UTF-8, UTF-16 or GBK/GB18030; save it as .xlsx or CSV UTF-8 and import that",
    )


def _utf16_without_bom(head: bytes) -> str:
    """UTF-16 written without a BOM shows as a zero byte beside each ASCII character (digits,
    commas, line ends): after it in little-endian, before it in big-endian. A few Chinese characters
    hold a zero byte too (一 is 00 4E), so the side with far more zeros decides; zero bytes spread
    evenly are no text at all."""
    odd, even = head[1::2].count(0), head[0::2].count(0)
    if odd > 3 * even:
        return "utf-16-le"
    if even > 3 * odd:
        return "utf-16-be"
    raise _unknown_encoding()


class CsvSheet:
    """A CSV file as the one sheet it is: records numbered from 1, as Excel shows them."""

    title = ""
    hidden = False

    def __init__(self, path: Path) -> None:
        self._path = path

    def bare_formulas(self) -> set[tuple[int, int]]:
        return set()  # a CSV holds values only

    def rows(self) -> Iterator[Sequence[object]]:
        text = decode_csv(self._path.read_bytes())
        first = next((line for line in io.StringIO(text) if line.strip()), "")
        delimiter = "\t" if first.count("\t") > first.count(",") else ","
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            yield from reader
        except csv.Error as exc:
            number = reader.line_num
            raise SheetError(
                f"{self._path.name} 第 {number} 行无法读取（{exc}）",
                f"{self._path.name}: row {number} cannot be read ({exc})",
            ) from exc


def column_letter(number: int) -> str:
    """The column's letters as Excel shows them: 1 is A, 27 is AA."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


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
