"""The secretariat's member-unit spreadsheet, read into checked rows and written back in the same layout.

Reading streams: the header is looked for in the first rows of each sheet (`columns`), then the
chosen sheet's rows are checked one at a time (`rows`), so a sheet of 100,000 rows is never held as a
grid. The sheet read is the first visible one with a header row (a hidden one only when no visible
one has a header); the others with a header are named, so the office knows what was left out.
An import can apply the good rows and send the secretariat the list of rows to fix, by the row
number its spreadsheet shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from itertools import chain, islice
from pathlib import Path
from typing import Protocol

from mailflow.members.columns import HEADERS, SCAN_ROWS, Header, find_header
from mailflow.members.files import CsvSheet, SheetError, cell_text, write_csv, write_xlsx
from mailflow.members.rows import Layout, RowProblem, UnitRow, check_row, duplicate_codes, shared_emails
from mailflow.members.sniff import kind_of
from mailflow.members.xlsx import open_xlsx

__all__ = ["RowProblem", "SheetResult", "UnitRow", "read_units", "write_units"]

PROGRESS_EVERY = 1000  # rows between two calls of a progress callback


class Source(Protocol):
    title: str
    hidden: bool

    def rows(self) -> Iterator[Sequence[object]]: ...

    def bare_formulas(self) -> set[tuple[int, int]]: ...


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
    hidden: bool = False  # the sheet read is hidden in Excel

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Chosen:
    source: Source
    rows: Iterator[Sequence[object]]
    head: list[Sequence[object]]
    header: Header


@contextmanager
def _sources(path: Path) -> Iterator[Sequence[Source]]:
    if kind_of(path) == "csv":
        yield [CsvSheet(path)]
        return
    with open_xlsx(path) as sheets:
        yield sheets


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and cell_text(value) == "")


def _is_empty(values: Sequence[object]) -> bool:
    return all(_blank(value) for value in values)


def _choose(path: Path, sources: Sequence[Source]) -> tuple[_Chosen, list[str]]:
    """The sheet to read and the titles of the others that have a header row too."""
    chosen: _Chosen | None = None
    skipped: list[str] = []
    blank = 0
    for source in sorted(sources, key=lambda source: source.hidden):  # visible ones first, in their order
        rows = source.rows()
        head = list(islice(rows, SCAN_ROWS))
        blank += all(_is_empty(line) for line in head)
        header = find_header([[cell_text(value) for value in line] for line in head])
        if header is None:
            continue
        if chosen is None:
            chosen = _Chosen(source, rows, head, header)
        else:
            skipped.append(source.title)
    if chosen is not None:
        return chosen, skipped
    if blank == len(sources):
        raise SheetError(f"{path.name} 是空的：表中没有任何内容", f"{path.name} is empty: its sheets hold nothing")
    titles = "、".join(f"“{source.title}”" for source in sources if source.title)
    raise SheetError(
        f"{path.name} 中找不到表头行：前 {SCAN_ROWS} 行中至少要有“单位名称”和另一列（如“统一社会信用代码”）"
        + (f"；已查看工作表 {titles}" if titles else ""),
        f"{path.name} has no header row: within its first {SCAN_ROWS} rows, one must name 单位名称 / Unit name "
        "and at least one more column",
    )


def read_units(path: Path, progress: Callable[[int], None] | None = None) -> SheetResult:
    """Read the sheet with a recognisable header row (see `columns`); SheetError when none has one.
    `progress`, when given, is called with the row number reached every PROGRESS_EVERY rows."""
    with _sources(path) as sources:
        chosen, skipped = _choose(path, sources)
        header, source = chosen.header, chosen.source
        layout = Layout(header.columns, header.texts)
        bare = source.bare_formulas()
        found: list[UnitRow] = []
        problems: list[RowProblem] = []
        first = header.index + 2  # the row number, as Excel shows it, of the first row under the header
        for number, line in enumerate(chain(chosen.head[header.index + 1 :], chosen.rows), start=first):
            if progress is not None and number % PROGRESS_EVERY == 0:
                progress(number)
            raw = {name: (line[col] if col < len(line) else None) for name, col in header.columns.items()}
            formulas = [name for name, col in header.columns.items() if (number, col + 1) in bare] if bare else []
            if not formulas and all(_blank(value) for value in raw.values()):
                continue  # an empty row, or one with only a 序号 or other unmapped cells filled in
            row, faults = check_row(number, raw, layout, formulas)
            found.append(row)
            problems.extend(faults)
    if not found:
        raise SheetError(
            f"{path.name}：第 {header.index + 1} 行是表头，但表头下面没有任何单位",
            f"{path.name}: row {header.index + 1} is the header, but no unit is listed under it",
        )
    problems.extend(duplicate_codes(found))
    problems.extend(shared_emails(found))
    refused = {problem.row for problem in problems}
    return SheetResult(
        rows=tuple(row for row in found if row.row not in refused),
        problems=tuple(sorted(problems, key=lambda problem: problem.row)),
        columns=dict(header.texts),
        ignored=header.ignored,
        header_row=header.index + 1,
        sheet=source.title,
        skipped_sheets=tuple(skipped),
        hidden=source.hidden,
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
