"""What a file handed in as a spreadsheet really is, told from its bytes rather than its name.

Offices rename files and systems export under any extension, so the content decides: a zip holding
`xl/workbook.xml` is an .xlsx whatever it is called; an OLE2 container (the D0 CF 11 E0 magic) is a
password-protected Office file when its directory names an `EncryptionInfo` stream (Office encrypts
.xlsx that way, not as a zip), else an old .xls (a `Workbook` or `Book` stream) or a Word .doc; text
is a CSV only under a CSV name. Everything that cannot be read gets a `SheetError` saying what the
file is and what to do with it in Excel or WPS.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

from mailflow.members.files import SheetError

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
_END, _FREE = 0xFFFFFFFE, 0xFFFFFFFF
_KNOWN_STREAMS = ("EncryptionInfo", "EncryptedPackage", "Workbook", "Book", "WordDocument")


def _refuse(path: Path, zh: str, en: str) -> SheetError:
    return SheetError(f"无法导入 {path.name}：{zh}", f"cannot import {path.name}: {en}")


def _save_as_xlsx(path: Path, what_zh: str, what_en: str) -> SheetError:
    return _refuse(
        path,
        f"{what_zh}；请在 Excel 或 WPS 中打开，点“文件 → 另存为”，保存类型选“Excel 工作簿 (*.xlsx)”，再导入新文件",
        f'{what_en}; open it in Excel or WPS, Save As "Excel Workbook (*.xlsx)" and import that',
    )


def kind_of(path: Path) -> str:
    """ "xlsx" or "csv" for a file that can be read; SheetError naming what it is otherwise."""
    if not path.is_file():
        raise SheetError(f"找不到文件 {path}", f"no such file: {path}")
    with path.open("rb") as file:
        head = file.read(4096)
    if not head:
        raise _refuse(path, "文件是空的（0 字节）", "the file is empty (0 bytes)")
    if head.startswith(ZIP_MAGIC):
        return _zip_kind(path)
    if head.startswith(OLE_MAGIC):
        raise _ole_refusal(path, ole_stream_names(path))
    if path.suffix.lower() in TEXT_SUFFIXES:
        return "csv"
    raise _text_refusal(path, head)


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise _refuse(
            path, f"文件已损坏，无法解压（{exc}）", f"the file is damaged and cannot be unzipped ({exc})"
        ) from exc
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "xl/workbook.bin" in names:
        raise _save_as_xlsx(path, "这是 Excel 二进制工作簿（.xlsb）", "it is an Excel binary workbook (.xlsb)")
    if "word/document.xml" in names:
        raise _refuse(path, "这是 Word 文档，不是表格", "it is a Word document, not a spreadsheet")
    if "ppt/presentation.xml" in names:
        raise _refuse(path, "这是 PowerPoint 演示文稿，不是表格", "it is a PowerPoint presentation, not a spreadsheet")
    if "content.xml" in names:
        raise _save_as_xlsx(path, "这是 OpenDocument 表格（.ods）", "it is an OpenDocument spreadsheet (.ods)")
    raise _refuse(
        path,
        f"这是一个压缩包（含 {len(names)} 个文件），不是表格",
        f"it is a zip archive of {len(names)} file(s), not a spreadsheet",
    )


def _ole_refusal(path: Path, names: set[str]) -> SheetError:
    if "EncryptionInfo" in names or "EncryptedPackage" in names:
        return _refuse(
            path,
            "文件设置了打开密码；请输入密码打开后取消密码（Excel：“文件 → 信息 → 保护工作簿 → 用密码进行加密”；"
            "WPS：“文件 → 文档加密 → 密码加密”；清空密码），保存后再导入",
            "it is password protected; open it with its password and remove the password (Excel: File → Info → "
            "Protect Workbook → Encrypt with Password; WPS: File → Document Encryption → Password Encryption; clear "
            "it), save, and import that",
        )
    if "Workbook" in names or "Book" in names:
        return _save_as_xlsx(
            path, "这是旧版 Excel 97-2003 格式（.xls）", "it is in the old Excel 97-2003 format (.xls)"
        )
    if "WordDocument" in names:
        return _refuse(path, "这是 Word 文档（.doc），不是表格", "it is a Word document (.doc), not a spreadsheet")
    return _save_as_xlsx(path, "这是旧版 Office 格式的文件", "it is an old-format Office file")


def _text_refusal(path: Path, head: bytes) -> SheetError:
    sample = head.lower()
    if b"<html" in sample or b"<table" in sample or b"<?xml" in sample[:100]:
        return _save_as_xlsx(
            path,
            "这是网页（HTML/XML）格式的文件，只是扩展名像表格（常见于从网站或系统“导出 Excel”）",
            "it is a web page (HTML/XML) with a spreadsheet's name, as systems that 'export to Excel' write",
        )
    if _is_text(head):
        return _refuse(
            path,
            f"这是文本文件，不是 {path.suffix or '表格'} 文件；如果它是 CSV，请把扩展名改为 .csv 再导入",
            f"it is a text file, not {path.suffix or 'a spreadsheet'}; if it is a CSV, rename it to .csv",
        )
    return _refuse(
        path, "无法识别的文件内容，不是 .xlsx 或 .csv 表格", "its content is not an .xlsx or .csv spreadsheet"
    )


def _is_text(head: bytes) -> bool:
    """UTF-16 with its BOM, or bytes without the control characters no text holds."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    return not head.translate(None, b"\t\n\r\f\x1a").translate(None, bytes(range(32, 256)))


def ole_stream_names(path: Path) -> set[str]:
    """The names in an OLE2 (Compound File Binary, [MS-CFB]) directory; names found by a plain byte
    search when the container is too damaged to walk."""
    data = path.read_bytes()
    try:
        return _directory_names(data)
    except (struct.error, IndexError, ValueError):
        return {name for name in _KNOWN_STREAMS if name.encode("utf-16-le") in data}


def _directory_names(data: bytes) -> set[str]:
    shift, fat_sectors, first_dir = struct.unpack_from("<H", data, 0x1E)[0], *struct.unpack_from("<2I", data, 0x2C)
    size = 1 << shift
    if size not in (512, 4096):
        raise ValueError(f"sector size {size}")
    difat = list(struct.unpack_from("<109I", data, 0x4C))
    next_difat, difat_count = struct.unpack_from("<2I", data, 0x44)
    for _ in range(difat_count):  # more FAT sectors than the header's 109 slots: a DIFAT chain
        entries = struct.unpack_from(f"<{size // 4}I", data, (next_difat + 1) * size)
        difat.extend(entries[:-1])
        next_difat = entries[-1]
    fat: list[int] = []
    for sector in difat[:fat_sectors]:
        fat.extend(struct.unpack_from(f"<{size // 4}I", data, (sector + 1) * size))
    names: set[str] = set()
    sector, seen = first_dir, 0
    while sector not in (_END, _FREE):
        seen += 1
        if seen > len(fat):
            raise ValueError("the directory chain loops")
        base = (sector + 1) * size
        for offset in range(base, base + size, 128):
            length, kind = struct.unpack_from("<HB", data, offset + 0x40)
            if kind in (1, 2) and 2 <= length <= 64:  # a storage or a stream
                names.add(data[offset : offset + length - 2].decode("utf-16-le", "replace"))
        sector = fat[sector]
    return names
