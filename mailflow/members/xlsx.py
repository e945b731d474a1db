"""The worksheets of an .xlsx, streamed row by row through openpyxl's read-only mode.

Two things openpyxl does not tell in that mode are read from the sheet's XML directly, with a scan
far cheaper than parsing it:

- Formulas without a value. Values are read as last calculated (`data_only`); a file written by a
  program that never calculated it (a report generator, a script) holds the formula alone, which
  reads as an empty cell. The scan finds those cells, so a row says which cell to fix instead of
  quietly losing a value. It runs only when the sheet has a formula at all.
- Where the data ends. The recorded used range is not trusted (WPS and exporters write none or a
  wrong one), and a sheet formatted down to row 1,048,576 stores every one of those rows. After a
  run of EMPTY_RUN empty rows the scan finds the last row that holds anything, and reading stops
  there instead of parsing a million empty rows.
"""

from __future__ import annotations

import re
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import ParseError

from mailflow.members.files import SheetError

EMPTY_RUN = 1000
_CHUNK = 1 << 20
_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c|v|is|f)(?=[\s/>])([^>]*)>")
_ANY_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")
_ROW_NUMBER = re.compile(rb'\sr="(\d+)"')
_CELL_REF = re.compile(rb'\sr="([A-Z]{1,3})(\d+)"')
_DAMAGED = (zipfile.BadZipFile, zlib.error, ParseError, KeyError, EOFError, ValueError)


@dataclass
class Scan:
    """What the XML of one worksheet holds: the last row with a value or formula, and the cells,
    as (row, column) from 1, whose formula has no calculated value."""

    last_row: int = 0
    bare_formulas: set[tuple[int, int]] = field(default_factory=set)


def column_number(letters: bytes | str) -> int:
    number = 0
    for char in letters.upper() if isinstance(letters, str) else letters.decode().upper():
        number = number * 26 + ord(char) - 64
    return number


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    """The XML in pieces that each end before a tag, so that no tag is cut in two."""
    rest = b""
    while block := stream.read(_CHUNK):
        data = rest + block
        cut = data.rfind(b"<")
        data, rest = (data[:cut], data[cut:]) if cut > data.rfind(b">") else (data, b"")
        yield data
    yield rest


def scan(stream: IO[bytes]) -> Scan:
    found = Scan()
    row = column = 0
    cell: tuple[int, int] | None = None
    formula = value = False

    def close_cell() -> None:
        if cell is not None and formula:
            found.last_row = max(found.last_row, cell[0])
            if not value:
                found.bare_formulas.add(cell)

    for chunk in _chunks(stream):
        for match in _TAG.finditer(chunk):
            tag, attributes = match.group(1), match.group(2)
            if tag == b"row":
                close_cell()
                cell = None
                number = _ROW_NUMBER.search(attributes)
                row, column = (int(number.group(1)) if number else row + 1), 0
            elif tag == b"c":
                close_cell()
                ref = _CELL_REF.search(attributes)
                column = column_number(ref.group(1)) if ref else column + 1
                cell, formula, value = ((row, column), False, False)
                if attributes.endswith(b"/"):
                    cell = None
            elif tag == b"f":
                formula = True
            elif not attributes.endswith(b"/"):  # a value: <v> or an inline string <is>
                value = True
                found.last_row = max(found.last_row, row)
    close_cell()
    return found


def has_formula(stream: IO[bytes]) -> bool:
    return any(_ANY_FORMULA.search(chunk) for chunk in _chunks(stream))


class XlsxSheet:
    """One worksheet: its title, whether it is hidden, its rows from row 1, and its formula cells
    without a value."""

    def __init__(self, path: Path, archive: zipfile.ZipFile, worksheet: Any) -> None:
        self.title = str(worksheet.title)
        self.hidden = worksheet.sheet_state != "visible"
        self._path, self._archive, self._worksheet = path, archive, worksheet
        self._part = str(getattr(worksheet, "_worksheet_path", "")).lstrip("/")  # openpyxl names no public way
        self._scan: Scan | None = None

    def _scanned(self) -> Scan:
        if self._scan is None:
            with self._archive.open(self._part) as stream:
                self._scan = scan(stream)
        return self._scan

    def bare_formulas(self) -> set[tuple[int, int]]:
        if self._part not in self._archive.NameToInfo:
            return set()  # a part openpyxl found and this cannot: the scan is left out, the rows are still read
        with self._archive.open(self._part) as stream:
            return self._scanned().bare_formulas if has_formula(stream) else set()

    def rows(self) -> Iterator[Sequence[object]]:
        number = empty = 0
        last: int | None = None
        self._worksheet.reset_dimensions()  # the recorded used range may be wrong; read every row there is
        try:
            for values in self._worksheet.iter_rows(values_only=True):
                number += 1
                if last is not None and number > last:
                    return
                if any(value is not None and value != "" for value in values):
                    empty = 0
                elif (empty := empty + 1) >= EMPTY_RUN and last is None and self._part in self._archive.NameToInfo:
                    last = self._scanned().last_row
                    if number > last:
                        return
                yield values
        except _DAMAGED as exc:
            raise SheetError(
                f"{self._path.name} 的工作表“{self.title}”在第 {number + 1} 行附近已损坏，无法读取（{exc}）",
                f"{self._path.name}: the sheet {self.title!r} is damaged near row {number + 1} ({exc})",
            ) from exc


@contextmanager
def open_xlsx(path: Path) -> Iterator[list[XlsxSheet]]:
    """The worksheets of the workbook, open while the block runs."""
    from openpyxl import load_workbook

    with ExitStack() as stack:
        try:
            # Opened as files, not by name: openpyxl refuses a name that does not end in .xlsx, and
            # the content has already said that it is one.
            file = stack.enter_context(path.open("rb"))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions it does not need here
                book = load_workbook(file, read_only=True, data_only=True)
            stack.callback(book.close)
            archive = stack.enter_context(zipfile.ZipFile(path))
        except (*_DAMAGED, OSError, TypeError) as exc:
            raise SheetError(
                f"无法打开 {path.name}：文件已损坏，或不是 Excel/WPS 保存的 .xlsx 文件（{exc}）",
                f"cannot open {path.name}: it is damaged, or not an .xlsx saved by Excel or WPS ({exc})",
            ) from exc
        yield [XlsxSheet(path, archive, sheet) for sheet in book.worksheets]
