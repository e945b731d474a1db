"""The bytes of an outgoing letter: its headers, its text and HTML, and the parts it carries.

A letter without parts is multipart/alternative (text, HTML). A letter with parts nests only the
layers it needs, the way mail clients read them::

    multipart/mixed                  attachments, and the copy of an invitation (invite.ics)
      multipart/related              inline images, which the HTML names as cid:<Content-ID>
        multipart/alternative        text, HTML, and an invitation (text/calendar; method=REQUEST)

An invitation (text/calendar with a method, RFC 6047) goes twice, as Google Calendar and Thunderbird
send theirs. As the last alternative it is what Outlook, Gmail and Thunderbird show as a meeting
request, with its accept and decline buttons; a lone .ics attachment gets no buttons there. As an
attachment it is what clients that look for an invitation only among the attachments can still
add to a calendar. The copy is application/ics, not text/calendar, so that no client counts
two invitations. Every part is base64: iCalendar's CRLF line ends survive every relay, and each
file arrives with the bytes it was stored with. A file name beyond ASCII is written twice: as
RFC 2231 (filename*=utf-8''…), which current clients read, and as RFC 2047 words in the
Content-Type's name=, which is all that older Outlook reads.
"""

from __future__ import annotations

import base64
import functools
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import collapse_rfc2231_value, format_datetime
from typing import Protocol
from urllib.parse import quote

from mailflow.outbound.render import one_line

INVITE = "invite.ics"  # the name of an invitation's attachment copy when the part has none
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # RFC 2045: no space, control or tspecial
_PLAIN = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII that needs no escape in a quoted string
_CONTENT_ID = re.compile(r"[!-;=?A-~]+@[!-;=?A-~]+")  # printable ASCII but <, > and @ on each side
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ATTR_SAFE = "!#$&+^`{|}"  # RFC 2231 attribute-chars beyond letters, digits and -._~
_LINE = 76  # the longest header line written where there is a choice (RFC 5322 asks for 78)


@dataclass(frozen=True)
class OutgoingPart:
    """A part a letter carries: its content (a blob, named by sha256), its file name, its media type
    with parameters (`text/calendar; method=REQUEST`), and whether it is shown inline; an inline
    image that the HTML names as `cid:…` has a `content_id`."""

    sha256: str
    filename: str = ""
    content_type: str = "application/octet-stream"
    inline: bool = False
    content_id: str | None = None

    def __post_init__(self) -> None:
        # Checked when a workflow makes it, not when the letter is built: a bad part fails its queueing.
        if not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"not a sha256 in hex: {self.sha256!r}")
        _media(self.content_type)
        if self.content_id is not None and not _CONTENT_ID.fullmatch(self.content_id):
            raise ValueError(f"a Content-ID is left@right, without <> or spaces: {self.content_id!r}")

    @property
    def cid(self) -> str:
        """How the HTML names it: <img src="cid:…">."""
        return f"cid:{self.content_id}"


@dataclass(frozen=True)
class WirePart:
    """A part with its content as it goes on the wire, base64 in lines: encoded once for every
    letter that carries it."""

    part: OutgoingPart
    body: str


def wire_part(part: OutgoingPart, data: bytes) -> WirePart:
    return WirePart(part, _base64_lines(data))


class Sendable(Protocol):
    """What building a letter reads from its outbox row (an Outbox, or a row of a Core query)."""

    id: int | None
    recipients: list[str]
    subject: str
    text: str
    html: str
    message_id: str
    in_reply_to: str | None
    references: str | None
    auto_submitted: str
    created_at: datetime | None


def wire_address(address: str) -> str:
    """An address as it goes on the wire: an internationalised domain in its IDNA form when the local
    part is ASCII (wangfang@xn--fsqu00a.xn--fiqs8s needs nothing of the server), otherwise as it is:
    a local part beyond ASCII (张三@例子.中国) can only go as UTF-8, with SMTPUTF8 (RFC 6531)."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii() or not local.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:  # not a name IDNA can write: the server judges it as it is
        return address


def build_message(
    row: Sendable,
    *,
    sender: str,
    sender_name: str,
    parts: Sequence[WirePart] = (),
    body: tuple[str, str] | None = None,
) -> bytes:
    """The bytes on the wire: UTF-8, our Message-ID, threading, Auto-Submitted, and the parts.

    The message is written directly: headers with RFC 2047 words (email.header) where they hold
    more than ASCII, every part in base64 with 76-character lines, CRLF line ends. The email
    package's generator takes ten times as long for the same bytes, which showed in every
    acknowledgement. An address beyond ASCII is written in UTF-8 (RFC 6532; encoded words are not
    allowed in an address): such a letter goes only with SMTPUTF8, which the transport asks for.
    `body` is the text and HTML when the row shares them (see outbox.queue_to_each).
    """
    name = one_line(sender_name)
    headers = [
        ("From", _mailbox(name, sender)),
        ("To", ", ".join([wire_address(r) for r in row.recipients])),
        ("Subject", _encoded(row.subject)),
        ("Date", format_datetime(row.created_at or datetime.now(UTC))),
        ("Message-ID", f"<{row.message_id}>"),
    ]
    if row.in_reply_to:
        headers.append(("In-Reply-To", f"<{one_line(row.in_reply_to)}>"))  # from the sender's mail: one line
    if row.references:
        headers.append(("References", "\r\n ".join(f"<{r}>" for r in row.references.split())))
    # RFC 3834: say that a program wrote this, so that well-behaved systems do not answer it;
    # the second header asks Exchange not to send its out-of-office replies either.
    headers += [("Auto-Submitted", row.auto_submitted), ("X-Auto-Response-Suppress", "All"), ("MIME-Version", "1.0")]
    lines = [f"{key}: {value}" for key, value in headers]
    text, html = body or (row.text, row.html)
    alternatives: list[Sequence[str]] = [_text_part("plain", text), _text_part("html", html)]
    if not parts:
        lines += _multipart("alternative", alternatives)
    else:
        lines += _with_parts(alternatives, parts)
    lines.append("")
    return "\r\n".join(lines).encode("utf-8")


def _with_parts(alternatives: list[Sequence[str]], parts: Sequence[WirePart]) -> list[str]:
    related: list[list[str]] = []
    mixed: list[list[str]] = []
    invited = False
    for wire in parts:
        part = wire.part
        kind, params = _media(part.content_type)
        if not invited and kind == "text/calendar" and "method" in dict(params):  # the first invitation
            invited = True
            if "charset" not in dict(params):
                params = (*params, ("charset", "utf-8"))  # iCalendar is UTF-8 (RFC 5545 3.1.4)
            alternatives.append(_leaf([_header("Content-Type", kind, [_param(k, v) for k, v in params])], wire.body))
            mixed.append(_part(wire, "application/ics", (), part.filename or INVITE, inline=False))
        else:
            shown = part.inline and part.content_id is not None
            (related if shown else mixed).append(_part(wire, kind, params, part.filename, part.inline))
    body = _multipart("alternative", alternatives)
    if related:
        body = _multipart("related", [body, *related], root="multipart/alternative")
    if mixed:
        body = _multipart("mixed", [body, *mixed])
    return body


def _multipart(subtype: str, children: Sequence[Sequence[str]], *, root: str | None = None) -> list[str]:
    """A multipart entity's lines, its Content-Type first: each child is its header lines, a blank
    line and its body. multipart/related names the type of its first part, the `root` (RFC 2387)."""
    boundary = f"=_mailflow_{secrets.token_hex(12)}"
    kind = f'multipart/{subtype};\r\n type="{root}"' if root else f"multipart/{subtype}"
    lines = [f'Content-Type: {kind};\r\n boundary="{boundary}"']
    for child in children:
        lines += ["", f"--{boundary}", *child]
    lines += ["", f"--{boundary}--"]
    return lines


@functools.lru_cache(maxsize=16)  # a circular's thousands of letters share their text
def _text_part(subtype: str, body: str) -> tuple[str, ...]:
    return tuple(_leaf([f'Content-Type: text/{subtype}; charset="utf-8"'], _base64_lines(body.encode("utf-8"))))


def _leaf(headers: list[str], body: str) -> list[str]:
    return [*headers, "Content-Transfer-Encoding: base64", "", body]


def _part(wire: WirePart, kind: str, params: Sequence[tuple[str, str]], filename: str, inline: bool) -> list[str]:
    """An attachment or an inline part: its media type, name, Content-ID and disposition, then its body."""
    headers = [_header("Content-Type", kind, [*[_param(k, v) for k, v in params], *_name_param(filename)])]
    if wire.part.content_id:
        headers.append(f"Content-ID: <{wire.part.content_id}>")
    headers.append(_header("Content-Disposition", "inline" if inline else "attachment", _filename_params(filename)))
    return _leaf(headers, wire.body)


@functools.lru_cache(maxsize=64)
def _media(content_type: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(type/subtype in lower case, its parameters): `name` is left out, as the file name gives it."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if not _MEDIA_TYPE.fullmatch(kind):
        raise ValueError(f"not a media type: {content_type!r}")
    header = Message()
    header["Content-Type"] = one_line(content_type)
    params = [(key.lower(), collapse_rfc2231_value(value)) for key, value in (header.get_params() or [])[1:]]
    if not all(_TOKEN.fullmatch(key) for key, _ in params):
        raise ValueError(f"not a media type's parameters: {content_type!r}")
    return kind, tuple((key, value) for key, value in params if key != "name")


def _header(name: str, value: str, params: list[str]) -> str:
    """A header with parameters, each on a line of its own once the line would grow too long."""
    text = f"{name}: {value}"
    for param in params:
        last = text.rsplit("\n", 1)[-1]
        text += f"; {param}" if "\n" not in param and len(last) + len(param) + 2 < _LINE else f";\r\n {param}"
    return text


def _param(key: str, value: str) -> str:
    """One parameter: a token as it is, printable ASCII quoted, anything else in RFC 2231."""
    if _TOKEN.fullmatch(value):
        return f"{key}={value}"
    if _PLAIN.fullmatch(value):
        return f'{key}="{value}"'
    return f"{key}*=utf-8''{_percent(value)}"


def _name_param(filename: str) -> list[str]:
    """The Content-Type's name=: the file name as older Outlook reads it, in RFC 2047 words when not ASCII."""
    if not filename:
        return []
    if _PLAIN.fullmatch(filename) and len(filename) < _LINE - len(' name="";'):
        return [f'name="{filename}"']
    return [f'name="{_words(filename.encode("utf-8"))}"']


def _filename_params(filename: str) -> list[str]:
    """The Content-Disposition's filename: quoted when it is plain ASCII and short, else in RFC 2231,
    in numbered sections (filename*0*, filename*1*…) when one line cannot hold it. A section ends
    between characters, never inside one's bytes."""
    if not filename:
        return []
    if _PLAIN.fullmatch(filename) and len(filename) < _LINE - len(' filename=""'):
        return [f'filename="{filename}"']
    encoded = _percent(filename)
    if len(encoded) + len(" filename*=utf-8''") < _LINE:
        return [f"filename*=utf-8''{encoded}"]
    sections = [""]
    for char in filename:
        piece = _percent(char)
        if len(sections[-1]) + len(piece) > _LINE - len(" filename*00*=utf-8'';"):
            sections.append("")
        sections[-1] += piece
    sections[0] = f"utf-8''{sections[0]}"
    return [f"filename*{n}*={section}" for n, section in enumerate(sections)]


def _percent(value: str) -> str:
    return quote(value.encode("utf-8"), safe=_ATTR_SAFE)


_WORD_BYTES = 39  # 52 characters of base64, 64 with =?utf-8?b?…?=, 75 after "Subject: "


@functools.lru_cache(maxsize=8)
def _mailbox(name: str, address: str) -> str:
    """The From header's value: the same for every letter of a sender, so made once."""
    if not name:
        return address
    phrase = _encoded(name) if not name.isascii() else f'"{name}"'
    separator = " " if len(phrase.rsplit("\n", 1)[-1]) + len(address) < 68 else "\r\n "
    return f"{phrase}{separator}<{address}>"


def _base64_lines(data: bytes) -> str:
    """`data` in base64, 76 characters a line, CRLF between lines (RFC 2045 6.8)."""
    text = base64.b64encode(data).decode("ascii")
    return "\r\n".join([text[i : i + 76] for i in range(0, len(text), 76)])


def _encoded(value: str) -> str:
    """A header value as RFC 2047 "B" encoded words when it is not plain ASCII, one per folded line."""
    return value if value.isascii() else _words(value.encode("utf-8"))


def _words(data: bytes) -> str:
    """UTF-8 text as RFC 2047 "B" encoded words, one per folded line.

    Each word holds whole characters (never half of one, which some clients show as garbage)
    and at most 39 bytes, so that a line stays under 78 columns after the header's name. The
    email package's Header does the same several times slower.
    """
    words: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # not inside a character's bytes
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return "\r\n ".join(words)
