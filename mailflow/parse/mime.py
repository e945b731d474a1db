"""Raw bytes -> ParsedMail: one fast compat32 parse for structure, then our own decoding of every value."""

from __future__ import annotations

import binascii
import email
import html as html_lib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

from mailflow.errors import ParseError
from mailflow.parse.decode import decode_addresses, decode_base64, decode_header, decode_text, split_params
from mailflow.parse.limits import ParseLimits, deadline, precheck
from mailflow.parse.model import Address, Attachment, ParsedMail
from mailflow.parse.sender import strict_sender
from mailflow.parse.tree import fast_tree
from mailflow.reasons import Reason

_CHARSET_PARAM = re.compile(rb'charset[ \t]*=[ \t]*"?([^\s";]+)', re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset[ \t]*=[ \t]*["']?[ \t]*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_UUENCODE = frozenset({"x-uuencode", "uuencode", "uue", "x-uue"})


_DEFAULT_LIMITS = ParseLimits()


def parse(raw: bytes, limits: ParseLimits = _DEFAULT_LIMITS) -> ParsedMail:
    """Parse one message; raises ParseError (or ParseTimeout) and nothing else.

    An empty message is not an error here: it parses to a ParsedMail with no sender, and the
    pipeline decides what to tell the liaison.
    """
    try:
        raw = _normalise(raw)
        if not raw or raw.isspace():
            return ParsedMail(message_id=None, subject="", from_=None, defects=("empty message",))
        precheck(raw, limits)
        with deadline(limits.timeout_seconds):
            return _parse(raw, limits)
    except ParseError:
        raise
    except Exception as exc:  # hostile input finds odd corners of the stdlib; callers get one error type
        detail = f"{type(exc).__name__}: {exc}"[:200]
        raise ParseError(Reason("parse_failed", {"detail": detail})) from exc


def _normalise(raw: bytes) -> bytes:
    """Undo what would make the stdlib misread the headers; copies the bytes only when it must."""
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM from a Windows editor would hide the first header
    if b"\n" not in raw and b"\r" in raw:
        raw = raw.replace(b"\r", b"\n")  # classic Mac mail: the stdlib would see one endless header line
    if raw[:1] in (b"\r", b"\n"):
        raw = raw.lstrip(b"\r\n")  # a blank line before the headers would make them all body
    return raw


@dataclass(frozen=True)
class _Leaf:
    """A part that holds content rather than other parts."""

    message: Message
    content_type: str
    headers: dict[str, list[bytes]]


def _parse(raw: bytes, limits: ParseLimits) -> ParsedMail:
    # compat32 (several times faster than policy.default), built without the line-by-line feedparser
    # where the structure allows it.
    tree = fast_tree(raw)
    message = tree if tree is not None else email.message_from_bytes(raw)
    leaves = _leaves(message, limits)
    hint = _charset_hint(leaves)
    single_part = len(leaves) == 1 and leaves[0].message is message
    headers = leaves[0].headers if single_part else _raw_headers(message)
    defects: list[str] = []
    newline = b"\r\n" if raw.find(b"\r\n", 0, 4096) >= 0 else b"\n"  # forwarded mail is rebuilt alike
    plain, html, attachments = _contents(leaves, hint, newline, defects)
    for part in message.walk():
        defects.extend(type(defect).__name__ for defect in part.defects)
    sender, sender_problem = strict_sender(headers.get("from", []), hint)
    return ParsedMail(
        message_id=_message_id(_first(headers, "message-id", hint)),
        subject=_first(headers, "subject", hint),
        from_=sender,
        sender_problem=sender_problem,
        to=_address_list(headers, "to", hint),
        cc=_address_list(headers, "cc", hint),
        reply_to=_address_list(headers, "reply-to", hint),
        date=_date(_first(headers, "date", hint)),
        in_reply_to=_message_id(_first(headers, "in-reply-to", hint)),
        references=_references(_first(headers, "references", hint)),
        headers={name: decode_header(values[0], hint) for name, values in headers.items()},
        auth_results=tuple(decode_header(value) for value in headers.get("authentication-results", ())),
        text=_body_text(plain, html),
        html="\n".join(html) if html else None,
        attachments=tuple(attachments),
        defects=tuple(dict.fromkeys(defects)),
    )


def _leaves(message: Message, limits: ParseLimits) -> list[_Leaf]:
    """The content parts in reading order; enforces the part and depth limits on the real tree."""
    leaves: list[_Leaf] = []
    stack: list[tuple[Message, int]] = [(message, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > limits.max_parts:
            raise ParseError(Reason("too_many_parts", {"parts": f"{seen}+", "limit": limits.max_parts}))
        content_type = part.get_content_type()
        payload = _stored_payload(part)
        if content_type.startswith("multipart/") and isinstance(payload, list):
            if depth + 1 > limits.max_depth:
                raise ParseError(Reason("too_deep", {"depth": depth + 1, "limit": limits.max_depth}))
            stack.extend((child, depth + 1) for child in reversed(payload))
            continue
        if content_type.startswith("multipart/"):
            content_type = "text/plain"  # a multipart without a usable boundary is one text body
        leaves.append(_Leaf(part, content_type, _raw_headers(part)))
    return leaves


def _raw_headers(part: Message) -> dict[str, list[bytes]]:
    """Header values as the bytes on the wire (compat32 keeps 8-bit bytes as surrogate escapes)."""
    headers: dict[str, list[bytes]] = {}
    for name, value in part.raw_items():
        key = name.strip().lower()
        if key.isascii():
            headers.setdefault(key, []).append(_to_bytes(value))
    return headers


def _to_bytes(value: object) -> bytes:
    text = str(value)
    try:
        return text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def _charset_hint(leaves: list[_Leaf]) -> str | None:
    """The first charset a text part declares: the best guess for raw 8-bit header bytes."""
    for leaf in leaves:
        for value in leaf.headers.get("content-type", ())[:1]:
            match = _CHARSET_PARAM.search(value)
            if match and match.group(1).lower() not in (b"us-ascii", b"ascii", b"utf-8", b"utf8"):
                return match.group(1).decode("latin-1")
    return None


def _contents(
    leaves: list[_Leaf], hint: str | None, newline: bytes, defects: list[str]
) -> tuple[list[str], list[str], list[Attachment]]:
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    for number, leaf in enumerate(leaves, start=1):
        _, ct_params = split_params(_first_raw(leaf.headers, "content-type"), hint)
        disposition, cd_params = split_params(_first_raw(leaf.headers, "content-disposition"), hint)
        filename = cd_params.get("filename") or ct_params.get("name") or ""
        is_body = leaf.content_type in ("text/plain", "text/html") and disposition != "attachment"
        if is_body and not filename:
            data = _payload_bytes(leaf)
            labels = [ct_params.get("charset")]
            if leaf.content_type == "text/html":
                labels.append(_meta_charset(data))
            text, note = decode_text(data, *labels, hint=hint)
            if note:
                defects.append(f"part {number} {leaf.content_type}: {note}")
            (html if leaf.content_type == "text/html" else plain).append(_unify_newlines(text))
        else:
            attachments.append(_attachment(leaf, filename, disposition, hint, newline))
    return plain, html, attachments


def _first_raw(headers: dict[str, list[bytes]], name: str) -> bytes:
    values = headers.get(name)
    return values[0] if values else b""


def _first(headers: dict[str, list[bytes]], name: str, hint: str | None) -> str:
    values = headers.get(name)
    return decode_header(values[0], hint) if values else ""


def _transfer_encoding(leaf: _Leaf) -> str:
    value = _first_raw(leaf.headers, "content-transfer-encoding").decode("latin-1")
    return (re.split(r"[\s;]", value.strip().lower(), maxsplit=1) or [""])[0]


def _payload_bytes(leaf: _Leaf) -> bytes:
    """The part's content with its transfer encoding undone; an unknown encoding counts as 8bit."""
    encoding = _transfer_encoding(leaf)
    if encoding in _UUENCODE:
        decoded = leaf.message.get_payload(decode=True)
        return decoded if isinstance(decoded, bytes) else b""
    return _undo_transfer_encoding(_raw_payload(leaf.message), encoding)


def _stored_payload(message: Message) -> object:
    # get_payload() decodes 8-bit text with the declared charset and errors="replace" (and raises on
    # some labels), get_payload(decode=True) knows only exact transfer-encoding names: read what the
    # parser stored, a str of surrogate-escaped bytes or a list of sub-messages.
    return getattr(message, "_payload", None)


def _raw_payload(message: Message) -> bytes:
    payload = _stored_payload(message)
    return _to_bytes(payload) if isinstance(payload, str) else b""


def _undo_transfer_encoding(data: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        decoded = decode_base64(data)
        return decoded if decoded is not None else data
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    return data


def _meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data, 0, 4096)
    return match.group(1).decode("ascii") if match else None


def _unify_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _attachment(leaf: _Leaf, filename: str, disposition: str, hint: str | None, newline: bytes) -> Attachment:
    content_id = _message_id(_first(leaf.headers, "content-id", hint))
    if leaf.content_type.startswith("message/"):
        data, subject = _embedded(leaf, hint, newline)
        if not filename and leaf.content_type == "message/rfc822":
            filename = f"{subject or 'message'}.eml"
    else:
        data = _payload_bytes(leaf)
    inline = disposition == "inline" or (not disposition and content_id is not None)
    return Attachment(filename, leaf.content_type, data, inline=inline, content_id=content_id)


def _embedded(leaf: _Leaf, hint: str | None, newline: bytes) -> tuple[bytes, str]:
    """The bytes and subject of a forwarded message (message/rfc822 and other message/* parts)."""
    payload = _stored_payload(leaf.message)
    encoding = _transfer_encoding(leaf)
    parts = payload if isinstance(payload, list) else []
    inner = parts[0] if parts else None
    if inner is None or (encoding in ("base64", "quoted-printable") and not inner.keys()):
        # Encoded wrappers (against RFC 2046, but sent) hide the message from the parser: unwrap it.
        data = _undo_transfer_encoding(_raw_payload(inner if inner is not None else leaf.message), encoding)
        headers = _raw_headers(BytesHeaderParser(policy=compat32).parsebytes(data))
    else:
        data = b"".join(_flatten(part, newline) for part in parts)
        headers = _raw_headers(inner)
    return data, _first(headers, "subject", hint)


def _flatten(message: Message, newline: bytes) -> bytes:
    """Rebuild a parsed message from the raw header values and payloads the parser kept.

    The stdlib generator re-encodes 8-bit text parts and fails on some damaged trees; this cannot
    fail and gives back the sender's bytes apart from line endings and boundary-line whitespace.
    """
    out = [_to_bytes(name) + b": " + _to_bytes(value) + newline for name, value in message.raw_items()]
    out.append(newline)
    payload = _stored_payload(message)
    if isinstance(payload, str):
        out.append(_to_bytes(payload))
    elif isinstance(payload, list) and message.get_content_maintype() == "multipart":
        boundary = _to_bytes(message.get_boundary() or "")
        if message.preamble:
            out.append(_to_bytes(message.preamble) + newline)
        for part in payload:
            out += [b"--", boundary, newline, _flatten(part, newline), newline]
        out += [b"--", boundary, b"--", newline]
        if message.epilogue:
            out.append(_to_bytes(message.epilogue))
    elif isinstance(payload, list):
        out += [_flatten(part, newline) for part in payload]
    return b"".join(out)


def _body_text(plain: list[str], html: list[str]) -> str:
    if any(text.strip() for text in plain) or not html:
        return "\n".join(plain)
    return html_to_text("\n".join(html))


def _address_list(headers: dict[str, list[bytes]], name: str, hint: str | None) -> tuple[Address, ...]:
    # Every occurrence counts: some clients write To twice rather than folding one long line.
    found = [address for value in headers.get(name, ()) for address in decode_addresses(value, hint)]
    return tuple(address for address in found if address.email)


def _message_id(value: str) -> str | None:
    match = re.search(r"<([^<>]*)>", value)
    found = (match.group(1) if match else value).strip().strip("<>").strip()
    return found or None


def _references(value: str) -> tuple[str, ...]:
    found = re.findall(r"<([^<>]+)>", value) or re.split(r"[\s,]+", value)
    return tuple(ref.strip() for ref in found if ref.strip())


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class _TextExtractor(HTMLParser):
    """Collects readable text: no scripts or styles, one line per block element or <br>."""

    # Not "head": mail often leaves it unclosed, and outside title/style/script it holds no text.
    _SKIP = frozenset({"script", "style", "title", "template"})
    _BLOCKS = frozenset(
        "p div tr li ul ol dl dt dd table blockquote pre hr h1 h2 h3 h4 h5 h6 section article header footer"
        " center address form body".split()
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "br":
            self.chunks.append("\n")
        elif tag in self._BLOCKS:
            self._line_break()
        elif tag in ("td", "th"):
            self.chunks.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self._SKIP:  # <script/> opens nothing to skip
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self._line_break()

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            # Source line breaks are spaces in HTML; U+3000 indentation in Chinese text is kept.
            self.chunks.append(re.sub(r"[ \t\r\n\f\v\xa0]+", " ", data))

    def _line_break(self) -> None:
        if self.chunks and not self.chunks[-1].endswith("\n"):
            self.chunks.append("\n")


def html_to_text(html: str) -> str:
    """Readable text of an HTML body, for mail that has no text/plain part."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
        text = "".join(extractor.chunks)
    except AssertionError:  # HTMLParser asserts on some broken markup; crude stripping still reads
        text = html_lib.unescape(re.sub(r"<[^>]*>", " ", html))
    lines = (re.sub(r"[ \t\xa0]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
