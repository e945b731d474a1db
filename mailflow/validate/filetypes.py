"""Tell what a file really is from its first bytes, and whether that fits what its name declares.

Types are short keys ("jpeg", "docx", "ole2", ...). Detection reads a header and, for the two container
formats, a directory: the zip central directory (never a member's data) or the OLE2 stream names.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from collections.abc import Callable

IMAGE_TYPES = frozenset({"jpeg", "png", "gif", "webp", "bmp", "tiff"})

# The extension each type is saved with; several extensions may name one type.
EXTENSION_TYPES: dict[str, str] = {
    "jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "png": "png", "gif": "gif", "webp": "webp",
    "bmp": "bmp", "tif": "tiff", "tiff": "tiff", "pdf": "pdf", "doc": "doc", "docx": "docx",
    "xls": "xls", "xlsx": "xlsx", "ppt": "ppt", "pptx": "pptx", "rtf": "rtf", "txt": "txt",
    "eml": "eml", "zip": "zip", "exe": "exe",
}  # fmt: skip

CONTENT_TYPES: dict[str, str] = {
    "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/pjpeg": "jpeg", "image/png": "png",
    "image/gif": "gif", "image/webp": "webp", "image/bmp": "bmp", "image/x-ms-bmp": "bmp",
    "image/tiff": "tiff", "application/pdf": "pdf", "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/rtf": "rtf", "text/rtf": "rtf", "text/plain": "txt", "message/rfc822": "eml",
    "application/zip": "zip", "application/x-zip-compressed": "zip",
}  # fmt: skip

# Declared type -> detected types accepted besides itself. Everything else is a type mismatch, so a
# PNG named .jpg is one, and so is a PDF named .docx.
ACCEPTED_AS: dict[str, frozenset[str]] = {
    # Word opens any of these whatever the extension, and "save as .doc" often writes RTF or HTML.
    "doc": frozenset({"docx", "rtf", "ole2", "txt"}),
    # A password-protected docx/xlsx/pptx is an OLE2 container ("ole2": no Word/Excel/PowerPoint stream).
    "docx": frozenset({"doc", "ole2"}),
    # OA systems export HTML or CSV tables under .xls.
    "xls": frozenset({"xlsx", "ole2", "txt"}),
    "xlsx": frozenset({"xls", "ole2"}),
    "ppt": frozenset({"pptx", "ole2"}),
    "pptx": frozenset({"ppt", "ole2"}),
    # A forwarded message is text; our header heuristic may not recognise every one.
    "eml": frozenset({"txt"}),
    "txt": frozenset({"eml"}),
}

_TEXT_SAMPLE = 64 * 1024
_DIB_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
_HEADER_LINE = re.compile(rb"[A-Za-z][A-Za-z0-9-]*:[ \t]")
_OLE2_STREAMS = (  # stream names as UTF-16LE directory entries
    ("doc", "WordDocument".encode("utf-16-le")),
    ("xls", "Workbook".encode("utf-16-le")),
    ("xls", "Book".encode("utf-16-le")),  # Excel 5/95
    ("ppt", "PowerPoint Document".encode("utf-16-le")),
)


def types_match(declared: str, detected: str) -> bool:
    return detected == declared or detected in ACCEPTED_AS.get(declared, frozenset())


def label(file_type: str) -> str:
    """How a type is named to the sender: "JPEG", "DOCX", "OLE2"."""
    return file_type.upper()


def detect_type(data: bytes) -> str | None:
    """The type key of `data` by its content, or None when it is none of the types we know."""
    for detector in _DETECTORS:
        found = detector(data)
        if found:
            return found
    return None


def _by_magic(data: bytes) -> str | None:
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if b"%PDF-" in data[:1024]:  # readers accept a PDF header anywhere in the first kilobyte
        return "pdf"
    return None


def _bmp(data: bytes) -> str | None:
    # "BM" alone is too common at the start of text; also require a known DIB header size.
    if data[:2] == b"BM" and int.from_bytes(data[14:18], "little") in _DIB_HEADER_SIZES:
        return "bmp"
    return None


def _exe(data: bytes) -> str | None:
    if data[:2] == b"MZ" and len(data) >= 64:
        pe = int.from_bytes(data[60:64], "little")
        if data[pe : pe + 4] == b"PE\x00\x00":
            return "exe"
    return None


def _ooxml(data: bytes) -> str | None:
    if data[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()  # the central directory only; nothing is decompressed
    except (zipfile.BadZipFile, OSError, ValueError):
        return "zip"
    for prefix, file_type in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
        if any(name.startswith(prefix) for name in names):
            return file_type
    return "zip"


def _ole2(data: bytes) -> str | None:
    if not data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return None
    for file_type, stream in _OLE2_STREAMS:
        if stream in data:
            return file_type
    return "ole2"


def _eml(data: bytes) -> str | None:
    head, blank, _ = data[:8192].replace(b"\r\n", b"\n").partition(b"\n\n")
    if not blank or not _is_text(data):
        return None
    lines = head.split(b"\n")
    fields = {line.split(b":", 1)[0].lower() for line in lines if _HEADER_LINE.match(line)}
    unfolded = all(_HEADER_LINE.match(line) or line[:1] in (b" ", b"\t") for line in lines)
    if unfolded and b"from" in fields and fields & {b"date", b"message-id", b"subject", b"mime-version"}:
        return "eml"
    return None


def _text(data: bytes) -> str | None:
    return "txt" if _is_text(data) else None


def _is_text(data: bytes) -> bool:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with a byte-order mark, as Notepad saves it
        return True
    sample = data[:_TEXT_SAMPLE]
    if not sample or b"\x00" in sample:
        return False
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            # final=False: the sample may end in the middle of a character.
            codecs.getincrementaldecoder(encoding)().decode(sample, final=len(data) <= _TEXT_SAMPLE)
        except UnicodeDecodeError:
            continue
        return True
    return False


# Order matters: signatures first, then the container directories, and text last because a header
# heuristic is weaker than a signature.
_DETECTORS: tuple[Callable[[bytes], str | None], ...] = (_by_magic, _bmp, _exe, _ooxml, _ole2, _eml, _text)
