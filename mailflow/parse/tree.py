"""The stdlib's compat32 message tree, built faster for mail whose structure is plain.

`email.feedparser` passes every body line through Python code: a 200 KB photo is 2,700 lines and
most of the time mailflow spends on a message. For plain structures this builds the very tree
the stdlib would (headers, payloads, preambles, epilogues, defects) by finding boundary lines
with one regex search per multipart and handing only header blocks to the stdlib parser.

Where the stdlib's judgement is subtle it is asked instead (`fast_tree` returns None): message/*
parts and multipart/digest, a body with no blank line after the headers, repeated boundary
lines, a multipart with no start boundary, one boundary the prefix of an enclosing one, deep
nesting. `tests/parse/test_parse_tree.py` compares both parsers on the corpus and on mutated mail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import errors
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

# The feedparser's own rules: what starts a header line, and what a line is (\r\n, \r or \n).
_HEADER_LINE = re.compile(r"From |[\041-\071\073-\176]*:|[\t ]")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")
_MAX_DEPTH = 20


class _Unsure(Exception):
    """The structure needs the stdlib parser's judgement."""


@dataclass(frozen=True)
class _BoundaryLine:
    start: int
    end: int  # after the line's own line ending
    close: bool


def fast_tree(raw: bytes) -> Message | None:
    """The tree `email.message_from_bytes(raw)` gives, or None where only the stdlib can tell."""
    text = raw.decode("ascii", "surrogateescape")
    try:
        return _part(text, 0, len(text), ())
    except _Unsure:
        return None


def _part(text: str, start: int, end: int, enclosing: tuple[str, ...]) -> Message:
    """The part that fills text[start:end]; `end` is the first line of an enclosing boundary."""
    header_end, body_start = _header_block(text, start, end)
    message = HeaderParser(policy=compat32).parsestr(text[start:header_end])
    if getattr(message, "_payload", None):  # the stdlib gave a header line back to the body ("From " last)
        raise _Unsure
    if message.get_content_maintype() == "message" or message.get_content_type() == "multipart/digest":
        raise _Unsure
    if message.get_content_maintype() == "multipart":
        _multipart(message, text, body_start, end, enclosing)
        if enclosing and message.epilogue is not None:  # RFC 2046: the final line ending belongs
            message.epilogue = _strip_eol(message.epilogue) if message.epilogue else None  # to the next boundary
    else:
        body = text[body_start:end]
        message.set_payload(_strip_eol(body) if enclosing else body)
    return message


def _header_block(text: str, start: int, end: int) -> tuple[int, int]:
    """(end of the header lines, start of the body); the blank line between is skipped."""
    pos = start
    while pos < end and _HEADER_LINE.match(text, pos):
        line = _LINE.match(text, pos)
        assert line is not None  # the pattern matches everywhere
        pos = line.end()
    if pos >= end:
        return end, end
    if text[pos] == "\r" or text[pos] == "\n":
        return pos, pos + (2 if text.startswith("\r\n", pos) else 1)
    raise _Unsure  # body text straight after the headers: the stdlib notes a defect and re-reads it


def _multipart(message: Message, text: str, start: int, end: int, enclosing: tuple[str, ...]) -> None:
    boundary = message.get_boundary()
    if boundary is None or len(enclosing) >= _MAX_DEPTH:
        raise _Unsure
    if any(outer.startswith(boundary) or boundary.startswith(outer) for outer in enclosing):
        raise _Unsure
    if str(message.get("content-transfer-encoding", "8bit")).lower() not in ("7bit", "8bit", "binary"):
        message.defects.append(errors.InvalidMultipartContentTransferEncodingDefect())
    lines = _boundary_lines(text, start, end, boundary)
    if not lines or lines[0].close:
        raise _Unsure  # no start boundary: the whole body is one payload, with defects
    if lines[0].start > start:
        message.preamble = _strip_eol(text[start : lines[0].start])
    inner = (*enclosing, boundary)
    parts: list[Message | str] = []
    message.set_payload(parts)
    for index, separator in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else None
        if separator.end >= end or (following is not None and following.start == separator.end):
            raise _Unsure  # an empty part or repeated boundary lines
        parts.append(_part(text, separator.end, following.start if following else end, inner))
        if following is None:
            message.defects.append(errors.CloseBoundaryNotFoundDefect())
            return
        if following.close:
            message.epilogue = text[following.end : end]
            return


def _boundary_lines(text: str, start: int, end: int, boundary: str) -> list[_BoundaryLine]:
    """This multipart's boundary lines up to and including its close line."""
    pattern = re.compile(re.escape("--" + boundary) + r"(--)?[ \t]*(?:\r\n|\r|\n|\Z)")
    found: list[_BoundaryLine] = []
    for match in pattern.finditer(text, start, end):
        at = match.start()
        if at != start and text[at - 1] != "\n" and text[at - 1] != "\r":
            continue  # not at the start of a line
        found.append(_BoundaryLine(at, match.end(), match.group(1) is not None))
        if found[-1].close:
            break
    return found


def _strip_eol(value: str) -> str:
    """One final line ending off (CRLF counts as one), as the stdlib strips it, without its regex scan."""
    if value.endswith("\r\n"):
        return value[:-2]
    return value[:-1] if value.endswith(("\r", "\n")) else value
