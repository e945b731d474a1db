"""Office files written part by part, as producers other than openpyxl write them: WPS and exporters'
.xlsx (shared or inline strings, formula results, no or a wrong used range), and the OLE2 containers
of an old .xls and of a password-protected .xlsx ([MS-CFB], with [MS-OFFCRYPTO]'s stream names)."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"


class Num(str):
    """A number cell's XML text exactly as a producer wrote it (e.g. 9.1110000100004403E+17)."""


@dataclass(frozen=True)
class Formula:
    """A formula cell; `value` is its cached result (None: the file never saved one), `kind` its t=."""

    formula: str
    value: str | None = None
    kind: str = "str"


@dataclass(frozen=True)
class Raw:
    """A cell's XML as is, for what the other kinds do not cover (a date's style, an error)."""

    xml: str


@dataclass(frozen=True)
class Part:
    """One worksheet: title, rows, and how it is written."""

    title: str
    rows: Sequence[Sequence[object]]
    state: str = "visible"
    merge: str = ""
    tail: str = ""  # raw XML appended to sheetData (e.g. a million empty rows)


def _cell(ref: str, value: object, strings: list[str] | None) -> str:
    if isinstance(value, Raw):
        return value.xml.replace("{ref}", ref)
    if isinstance(value, Formula):
        cached = f"<v>{escape(value.value)}</v>" if value.value is not None else ""
        kind = f' t="{value.kind}"' if value.value is not None else ""
        return f'<c r="{ref}"{kind}><f>{escape(value.formula)}</f>{cached}</c>'
    if isinstance(value, Num) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return f'<c r="{ref}"><v>{value}</v></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if not value:
        return ""
    text = escape(str(value))
    if strings is None:
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
    strings.append(text)
    return f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>'


def write_xlsx_parts(
    path: Path, parts: Sequence[Part], *, shared_strings: bool = False, dimension: str | None = "A1",
    date_style: bool = False,
) -> None:  # fmt: skip
    """An .xlsx written part by part. WPS writes shared strings; exporters inline strings; both may
    record no used range (`dimension=None`) or a wrong one. Empty rows are left out, as producers do."""
    strings: list[str] | None = [] if shared_strings else None
    sheets_xml = []
    for part in parts:
        xml_rows = []
        for r, values in enumerate(part.rows, 1):
            cells = "".join(_cell(f"{get_column_letter(c)}{r}", value, strings) for c, value in enumerate(values, 1))
            if cells:
                xml_rows.append(f'<row r="{r}">{cells}</row>')
        dim = f'<dimension ref="{dimension}"/>' if dimension else ""
        merges = f'<mergeCells count="1"><mergeCell ref="{part.merge}"/></mergeCells>' if part.merge else ""
        sheets_xml.append(
            f'<worksheet xmlns="{MAIN}">{dim}<sheetData>{"".join(xml_rows)}{part.tail}</sheetData>{merges}</worksheet>'
        )
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{sheet_type}"/>'
        for n in range(1, len(parts) + 1)
    )
    if strings is not None:
        overrides += (
            '<Override PartName="/xl/sharedStrings.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        )
    if date_style:
        overrides += (
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        )
    links = [
        f'<Relationship Id="rId{n}" Type="{REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
        for n in range(1, len(parts) + 1)
    ]
    if strings is not None:
        links.append(f'<Relationship Id="rIdS" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>')
    if date_style:
        links.append(f'<Relationship Id="rIdY" Type="{REL}/styles" Target="styles.xml"/>')
    entries = "".join(
        f'<sheet name="{escape(part.title)}" sheetId="{n}" r:id="rId{n}"'
        + (f' state="{part.state}"' if part.state != "visible" else "")
        + "/>"
        for n, part in enumerate(parts, 1)
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            f"{overrides}</Types>",
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{PKG}"><Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml", f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>{entries}</sheets></workbook>'
        )
        archive.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{PKG}">{"".join(links)}</Relationships>')
        if strings is not None:
            items = "".join(f'<si><t xml:space="preserve">{text}</t></si>' for text in strings)
            archive.writestr(
                "xl/sharedStrings.xml",
                f'<sst xmlns="{MAIN}" count="{len(strings)}" uniqueCount="{len(strings)}">{items}</sst>',
            )
        if date_style:  # style 1 is the built-in date format 14 (yyyy/m/d)
            archive.writestr(
                "xl/styles.xml",
                f'<styleSheet xmlns="{MAIN}"><fonts count="1"><font/></fonts><fills count="1"><fill/></fills>'
                '<borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs>'
                '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>',
            )
        for n, xml in enumerate(sheets_xml, 1):
            archive.writestr(f"xl/worksheets/sheet{n}.xml", xml)


def wps_xlsx(path: Path, sheets: list[tuple[str, Sequence[Sequence[object]]]], merge: str = "") -> None:
    """An .xlsx with inline strings, number cells and a wrong used range, as exporters write it."""
    write_xlsx_parts(path, [Part(title, rows, merge=merge if n == 0 else "") for n, (title, rows) in enumerate(sheets)])


# --- OLE2 (Compound File Binary) -----------------------------------------------------------------

_FREE, _END, _FAT, _NONE = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
_SECTOR, _MINI, _CUTOFF = 512, 64, 4096


def _chain(fat: list[int], start: int, count: int) -> None:
    for n in range(start, start + count):
        fat[n] = n + 1 if n < start + count - 1 else _END


def _entry(name: str, kind: int, start: int, size: int, right: int = _NONE, child: int = _NONE) -> bytes:
    encoded = name.encode("utf-16-le") + b"\x00\x00"
    return (
        encoded.ljust(64, b"\x00")
        + struct.pack("<HBB3I", len(encoded), kind, 1, _NONE, right, child)
        + bytes(16 + 4 + 16)
        + struct.pack("<IQ", start, size)
    )


def write_cfb(path: Path, streams: Mapping[str, bytes]) -> None:
    """A version-3 compound file holding `streams` at its root, small ones in the mini stream as the
    format requires. Siblings form a chain ordered as [MS-CFB] orders names (length, then upper case)."""
    names = sorted(streams, key=lambda name: (len(name), name.upper()))
    mini = b"".join(
        streams[n].ljust(-(-len(streams[n]) // _MINI) * _MINI, b"\x00") for n in names if len(streams[n]) < _CUTOFF
    )
    big = [n for n in names if len(streams[n]) >= _CUTOFF]

    def sectors(size: int) -> int:
        return -(-size // _SECTOR)

    dir_sectors = sectors((len(names) + 1) * 128)
    minifat_sectors = sectors(len(mini) // _MINI * 4) if mini else 0
    layout = [("fat", 1), ("dir", dir_sectors), ("minifat", minifat_sectors), ("ministream", sectors(len(mini)))]
    layout += [(n, sectors(len(streams[n]))) for n in big]
    start: dict[str, int] = {}
    at = 0
    for name, count in layout:
        start[name], at = at, at + count
    assert at <= _SECTOR // 4, "one FAT sector is enough for a test file"
    fat = [_FREE] * (_SECTOR // 4)
    fat[0] = _FAT
    for name, count in layout[1:]:
        if count:
            _chain(fat, start[name], count)
    minifat = [_FREE] * (minifat_sectors * _SECTOR // 4)
    entries, mini_at = [], 0
    for index, name in enumerate(names, 1):
        data = streams[name]
        right = index + 1 if index < len(names) else _NONE
        if len(data) < _CUTOFF:
            count = -(-len(data) // _MINI)
            _chain(minifat, mini_at, count)
            entries.append(_entry(name, 2, mini_at, len(data), right))
            mini_at += count
        else:
            entries.append(_entry(name, 2, start[name], len(data), right))
    root = _entry("Root Entry", 5, start["ministream"] if mini else _END, len(mini), child=1 if names else _NONE)
    directory = b"".join([root, *entries]).ljust(dir_sectors * _SECTOR, b"\x00")
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16)
        + struct.pack("<HHHHH6sIIIIIIIII", 0x3E, 3, 0xFFFE, 9, 6, bytes(6), 0, 1, start["dir"], 0, _CUTOFF,
                      start["minifat"] if mini else _END, minifat_sectors, _END, 0)
        + struct.pack("<109I", 0, *([_FREE] * 108))
    )  # fmt: skip
    body = [
        struct.pack(f"<{len(fat)}I", *fat),
        directory,
        struct.pack(f"<{len(minifat)}I", *minifat),
        mini.ljust(sectors(len(mini)) * _SECTOR, b"\x00"),
        *(streams[n].ljust(sectors(len(streams[n])) * _SECTOR, b"\x00") for n in big),
    ]
    path.write_bytes(header + b"".join(body))


def encrypted_xlsx(path: Path) -> None:
    """What Excel and WPS save when a workbook gets an open password: an OLE2 container with the
    agile EncryptionInfo (version 4.4) and the encrypted package, no zip at all."""
    info = struct.pack("<HHI", 4, 4, 0x40) + (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n<encryption '
        b'xmlns="http://schemas.microsoft.com/office/2006/encryption"><keyData saltSize="16" blockSize="16" '
        b'keyBits="256" hashSize="64" cipherAlgorithm="AES" cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512"/>'
        b"</encryption>"
    )
    package = struct.pack("<Q", 9000) + bytes(range(256)) * 36
    write_cfb(path, {"EncryptionInfo": info, "EncryptedPackage": package})


def old_xls(path: Path) -> None:
    """An Excel 97-2003 workbook's container: a BIFF8 Workbook stream and the summary stream."""
    bof = struct.pack("<HHHHHHII", 0x0809, 16, 0x0600, 0x0005, 0x1FA2, 0x07CD, 0x000100C1, 0x00000406)
    write_cfb(path, {"Workbook": bof.ljust(5000, b"\x00"), "\x05SummaryInformation": bytes(200)})
