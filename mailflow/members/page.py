"""A table as a standalone web page: UTF-8, every cell escaped, printable on A4 with the header on every page."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from mailflow.members.files import Cell

_STYLE = """
body { font-family: "Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "SimSun", sans-serif; margin: 2em; }
h1 { font-size: 1.4em; text-align: center; margin: 0 0 .3em; }
p.note { text-align: center; color: #444; margin: 0 0 1em; }
table { border-collapse: collapse; width: 100%; font-size: .95em; }
th, td { border: 1px solid #444; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #eee; white-space: nowrap; }
td.n { text-align: right; white-space: nowrap; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; }
@page { size: A4 landscape; margin: 1.5cm; }
@media print { body { margin: 0; } th { background: none; } }
"""


def html_page(
    title: str, header: Sequence[str], rows: Sequence[Sequence[Cell]], *, note: str = "", lang: str = "zh-CN"
) -> str:
    """The page: `title` as its heading, `note` under it, then the table. Every text is escaped."""
    head = "".join(f"<th>{escape(name)}</th>" for name in header)
    body = "\n".join(
        "<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows
    )  # one line per row: a 5,000-row page stays readable as source
    note_html = f'<p class="note">{escape(note)}</p>\n' if note else ""
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(lang)}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{note_html}"
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n</body>\n</html>\n"
    )


def _cell(value: Cell) -> str:
    if isinstance(value, int):
        return f'<td class="n">{value}</td>'
    return f"<td>{escape(value)}</td>"
