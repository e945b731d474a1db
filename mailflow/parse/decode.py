"""Turn the bytes mail clients really send (mislabelled charsets, raw 8-bit headers, RFC 2047/2231) into text."""

from __future__ import annotations

import binascii
import codecs
import re
from email.utils import getaddresses
from functools import lru_cache
from urllib.parse import unquote_to_bytes

from mailflow.parse.model import Address

_GB = "gb18030"  # superset of GB2312 and GBK: Chinese clients label GBK text "gb2312"
_BIG5 = "big5hkscs"  # superset of Big5 as Hong Kong and Taiwan clients send it
_KR = "cp949"  # what Outlook means by ks_c_5601-1987 and euc-kr

# Labels Python does not know, or knows as a narrower codec than senders actually use.
_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        "gb2312 gbk cp936 ms936 windows-936 gb_2312-80 gb_2312 gb-2312 gb2312-80 euc-cn csgb2312 chinese"
        " iso-ir-58 csiso58gb231280 gb18030 x-mac-chinesesimp".split(),
        _GB,
    ),
    **dict.fromkeys("big5 big-5 cn-big5 csbig5 big5-hkscs cp950 x-mac-chinesetrad".split(), _BIG5),
    **dict.fromkeys("ks_c_5601-1987 ks_c_5601 ksc5601 ksc_5601 euc-kr korean cp949".split(), _KR),
    **dict.fromkeys("shift_jis shift-jis sjis ms_kanji windows-31j cp932".split(), "cp932"),
    **dict.fromkeys("iso-2022-jp csiso2022jp iso2022jp".split(), "iso2022_jp_2"),
    **dict.fromkeys("unicode ucs-2 ucs2 utf-16".split(), "utf-16"),
    **dict.fromkeys("unicodebig unicodefffe ucs-2be utf-16be".split(), "utf-16-be"),
    **dict.fromkeys("unicodelittle ucs-2le utf-16le".split(), "utf-16-le"),
    **dict.fromkeys("iso-8859-1 latin1 latin-1 iso8859-1 l1 windows-1252".split(), "cp1252"),
    **dict.fromkeys("tis-620 windows-874 iso-8859-11".split(), "cp874"),
    "baltic": "iso8859_13",
    "iso-8859-8-i": "iso8859_8",
    "iso-8859-6-i": "iso8859_6",
    "utf8": "utf-8",
}

# When a label decodes strictly with errors, its usual superset or sibling gets a try before guessing.
_SIBLINGS: dict[str, tuple[str, ...]] = {_BIG5: ("cp950",), "cp1252": ("latin-1",), "iso2022_jp_2": ("iso2022_jp_ext",)}

# Legacy CJK codecs, whose short strings are sometimes valid UTF-8 by accident.
_MULTIBYTE = frozenset(
    [_GB, _BIG5, _KR]
    + "cp950 cp932 gb2312 gbk big5 euc_kr johab euc_jp euc_jis_2004 euc_jisx0213 shift_jis shift_jis_2004".split()
)

# Codecs that exist in Python but are no charset a mail could be written in.
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "mbcs", "oem"})

# Codecs in which 7-bit bytes do not simply mean ASCII.
_NOT_ASCII_BASED = ("utf-16", "utf-32", "utf-7", "iso2022", "hz")
_HIGH_BYTES = bytes(range(0x80, 0x100))
_LABEL_TOKEN = re.compile(r"[a-z0-9._:-]+")


@lru_cache(maxsize=512)  # a mailbox sees a few dozen distinct labels; resolving one costs a codec lookup
def codec_for(label: str | None) -> str | None:
    """The Python codec for a charset label as written in mail, or None when it names nothing usable."""
    if not label:
        return None
    match = _LABEL_TOKEN.search(label.strip().strip("\"'").lower())
    if match is None:
        return None
    name = match.group().strip("._-")  # "_iso-2022-jp$ESC" -> "iso-2022-jp"
    for candidate in (name, name[2:] if name.startswith("x-") else None):
        if not candidate:
            continue
        if candidate in _ALIASES:
            return _ALIASES[candidate]
        try:
            info = codecs.lookup(candidate)
        except LookupError:
            continue
        if getattr(info, "_is_text_encoding", True) and info.name not in _NOT_CHARSETS:
            return _ALIASES.get(info.name, info.name)
    return None


def decode_text(data: bytes, *labels: str | None, hint: str | None = None) -> tuple[str, str | None]:
    """Decode bytes trying the declared labels, then UTF-8, the hint and GB18030; never raises.

    Returns the text and a note when the declared label did not fit (None when it did). Text that no
    candidate decodes cleanly is decoded with the closest one, its bad runs repaired one by one (GB18030,
    UTF-8, cp1252, latin-1), so U+FFFD appears only where the sender wrote it.
    """
    declared = [c for c in dict.fromkeys(map(codec_for, labels)) if c]
    if data.isascii() and (not declared or not declared[0].startswith(_NOT_ASCII_BASED)):
        # The common case: 7-bit text, which reads the same in every ASCII-based charset.
        return _decode_seven_bit(data), None
    candidates = _candidates(declared, hint)
    if declared and not data.isascii() and _is_mislabelled_utf8(data, declared[0]):
        candidates.insert(0, "utf-8")
    for codec in candidates:
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            if codec == "utf-8" and _mostly_utf8(data):
                # One damaged byte must not hand the text to GB18030, which would accept it as nonsense.
                note = f"{_shown(labels)}, decoded as utf-8 with damaged bytes repaired"
                return data.decode(codec, _REPAIR).removeprefix("\ufeff"), note
            continue
        return text.removeprefix("\ufeff"), _note(labels, declared, codec)
    return _best_effort(data, candidates, labels)


def _mostly_utf8(data: bytes) -> bool:
    decoded = data.decode("utf-8", "replace")
    errors = decoded.count("\ufffd")
    valid_non_ascii = len(decoded) - len(data.translate(None, _HIGH_BYTES)) - errors
    return valid_non_ascii >= 10 * errors


def _decode_seven_bit(data: bytes) -> str:
    if b"\x1b" in data:
        try:
            return data.decode("iso2022_jp_2")
        except UnicodeDecodeError:
            pass
    return data.decode("ascii")


def _candidates(declared: list[str], hint: str | None) -> list[str]:
    order = [*declared]
    for codec in declared:
        order += _SIBLINGS.get(codec, ())
    order += ["utf-8", *(c for c in (codec_for(hint),) if c), _GB]
    return list(dict.fromkeys(order))


def _is_mislabelled_utf8(data: bytes, declared: str) -> bool:
    """True when text labelled with a legacy charset is really UTF-8.

    Legacy text is almost never valid UTF-8 once it holds a few non-ASCII characters (GBK: 2% of
    two-character strings, none of ten-character ones), while UTF-8 Chinese labelled gb2312 decodes
    "successfully" as GB18030 nine times in ten, into nonsense. Short CJK strings keep their label.
    """
    if declared == "utf-8" or declared.startswith(_NOT_ASCII_BASED):
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return len(data) - len(text) >= (8 if declared in _MULTIBYTE else 1)


def _note(labels: tuple[str | None, ...], declared: list[str], used: str) -> str | None:
    if declared and (used == declared[0] or used in _SIBLINGS.get(declared[0], ())):
        return None
    return f"{_shown(labels)}, decoded as {used}"


def _shown(labels: tuple[str | None, ...]) -> str:
    shown = next((label for label in labels if label), None)
    return f"labelled {shown!r}" if shown else "no charset"


def _best_effort(data: bytes, candidates: list[str], labels: tuple[str | None, ...]) -> tuple[str, str]:
    """Nothing decodes strictly: decode with the closest candidate and repair each bad run."""
    errors = {codec: _count_errors(data, codec) for codec in candidates}
    best = min(candidates, key=errors.__getitem__)
    note = f"{_shown(labels)}, decoded as {best} with {errors[best]} undecodable run(s) repaired"
    return data.decode(best, _REPAIR).removeprefix("\ufeff"), note


def _repair_run(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: decode a bad run as GB18030, UTF-8 or cp1252 instead of emitting U+FFFD.

    Real mail mixes encodings (a GBK quote pasted into a UTF-8 reply, a latin-1 signature), and a
    truncated message ends mid-character; either way the reader gets text, not replacement marks.
    """
    if not isinstance(error, UnicodeDecodeError):
        raise error
    data, start = error.object, error.start
    end = error.end
    while end < len(data) and data[end] > 0x7F and not _char_starts(data, end, error.encoding):
        end += 1
    run = bytes(data[start:end])
    if end == len(data) and len(run) < 4 and _incomplete(run, error.encoding):
        return "", end  # the message was cut off inside the last character
    for codec in (_GB, "utf-8", "cp1252"):
        if codec != error.encoding:
            try:
                return run.decode(codec), end
            except UnicodeDecodeError:
                continue
    return run.decode("latin-1"), end


def _char_starts(data: bytes, pos: int, encoding: str) -> bool:
    """Whether a whole character of `encoding` begins at `pos`, i.e. the bad run ends there."""
    decoder = codecs.getincrementaldecoder(encoding)()
    for size in range(1, 5):
        try:
            if decoder.decode(data[pos + size - 1 : pos + size], final=False):
                return True
        except UnicodeDecodeError:
            return False
    return False


def _incomplete(tail: bytes, encoding: str) -> bool:
    try:
        return codecs.getincrementaldecoder(encoding)().decode(tail, final=False) == ""
    except (UnicodeDecodeError, LookupError):
        return False


_REPAIR = "mailflow.repair"
codecs.register_error(_REPAIR, _repair_run)  # a named handler is the only way to hook a C decoder


def _count_errors(data: bytes, codec: str) -> int:
    try:
        return data.decode(codec, "replace").count("\ufffd")
    except LookupError:
        return len(data)


# RFC 2047 encoded-word. Encoded text cannot hold "?", so allowing spaces (which broken encoders
# leave in Q text) cannot run past the closing "?=".
_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\r\n]*)\?=")
_FOLD = re.compile(rb"\r?\n[ \t]+|[\r\n]")


def decode_header(raw: bytes, hint: str | None = None) -> str:
    """Unfold a raw header value and decode its encoded-words and raw 8-bit bytes."""
    raw = _unfold(raw).strip()
    if b"=?" not in raw:
        return raw.decode("ascii") if raw.isascii() else decode_text(raw, hint=hint)[0]
    return "".join(decode_text(data, charset, hint=hint)[0] for charset, data in _header_chunks(raw))


def _unfold(raw: bytes) -> bytes:
    return _FOLD.sub(b" ", raw) if b"\n" in raw or b"\r" in raw else raw


def _header_chunks(raw: bytes) -> list[tuple[str | None, bytes]]:
    """Split a header into (charset, bytes) runs; adjacent encoded-words of one charset are joined.

    Joining before decoding is what repairs a multi-byte character split across two encoded-words,
    as Outlook and Foxmail do when they fold a long Chinese subject.
    """
    chunks: list[tuple[str | None, bytes]] = []
    pos = 0
    for match in _ENCODED_WORD.finditer(raw):
        between = raw[pos : match.start()]
        follows_word = bool(chunks) and chunks[-1][0] is not None
        if between and not (follows_word and between.isspace()):
            chunks.append((None, between))  # whitespace between two encoded-words is not text
        charset, data = _decode_word(match)
        if data is None:
            chunks.append((None, match.group()))
        elif chunks and chunks[-1][0] is not None and codec_for(chunks[-1][0]) == codec_for(charset):
            chunks[-1] = (chunks[-1][0], chunks[-1][1] + data)
        else:
            chunks.append((charset, data))
        pos = match.end()
    if pos < len(raw):
        chunks.append((None, raw[pos:]))
    return chunks


def _decode_word(match: re.Match[bytes]) -> tuple[str, bytes | None]:
    charset = match.group(1).decode("ascii", "replace").partition("*")[0]  # RFC 2231 adds "*lang"
    text = match.group(3)
    if match.group(2) in b"qQ":
        return charset, binascii.a2b_qp(text, header=True)
    return charset, decode_base64(text.strip())


def decode_base64(data: bytes) -> bytes | None:
    """Decode base64 that may have lost its padding or carry stray characters; None if hopeless."""
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        pass
    clean = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    if len(clean) % 4 == 1:
        clean = clean[:-1]  # a lone trailing sextet carries no whole byte
    try:
        return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))
    except binascii.Error:
        return None


# One "; name=value" parameter; a quoted value may hold ";" and escaped quotes.
_PARAM = re.compile(rb'\s*([^=\s;"]+)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;]*)', re.DOTALL)
_SECTION = re.compile(r"(.*?)(?:\*(\d+))?(\*)?", re.DOTALL)


def split_params(raw: bytes, hint: str | None = None) -> tuple[str, dict[str, str]]:
    """Split a Content-Type or Content-Disposition value into its lower-case value and decoded params.

    Handles RFC 2231 (``name*=charset'lang'%XX``, ``name*0*=`` continuations) and what clients send
    instead: RFC 2047 encoded-words in quoted or bare values, and raw 8-bit GBK or UTF-8 bytes.
    """
    value, _, rest = _unfold(raw).partition(b";")
    sections: dict[str, list[tuple[int | None, bool, bytes]]] = {}
    for match in _PARAM.finditer(rest):
        name = match.group(1).decode("latin-1").lower()
        base, index, star = _SECTION.fullmatch(name).groups()  # type: ignore[union-attr]  # always matches
        number = int(index) if index is not None else None
        sections.setdefault(base, []).append((number, bool(star), _unquote(match.group(2))))
    params = {base: _join_sections(parts, hint) for base, parts in sections.items()}
    return value.strip().decode("latin-1").lower(), params


def _unquote(value: bytes) -> bytes:
    value = value.strip()
    if value.startswith(b'"'):
        value = value[1:-1] if value.endswith(b'"') and len(value) > 1 else value[1:]
        return re.sub(rb"\\(.)", rb"\1", value) if b"\\" in value else value
    return value


def _join_sections(parts: list[tuple[int | None, bool, bytes]], hint: str | None) -> str:
    extended = [p for p in parts if p[1] or p[0] is not None]
    if not extended:
        return decode_header(parts[0][2], hint)
    extended.sort(key=lambda p: p[0] or 0)
    charset: str | None = None
    escaped = b""
    for position, (_, star, value) in enumerate(extended):
        if star and position == 0 and value.count(b"'") >= 2:
            label, _, value = value.partition(b"'")
            charset = label.decode("latin-1")
            value = value.partition(b"'")[2]
        # Percent-decode once over the joined sections: some clients split a %XX between two sections.
        escaped += value if star else value.replace(b"%", b"%25")
    data = unquote_to_bytes(escaped)
    if charset is None and b"=?" in data:
        return decode_header(data, hint)  # Outlook splits long encoded-words across name*0, name*1
    return decode_text(data, charset, hint=hint)[0]


_ENCODED_WORD_TEXT = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\r\n]*\?=")


def decode_addresses(raw: bytes, hint: str | None = None) -> tuple[Address, ...]:
    """Parse an address-list header, decoding display names; groups and garbage yield no entries."""
    text = _unfold(raw).decode("ascii", "surrogateescape")
    # Hide encoded-words behind plain atoms so a comma or quote inside one cannot split the list.
    words = _ENCODED_WORD_TEXT.findall(text)
    for index, word in enumerate(words):
        text = text.replace(word, f"mfEW{index}x", 1)
    addresses = []
    for name, addr in _split_simple(text) or getaddresses([text]):
        for index, word in enumerate(words):
            name = name.replace(f"mfEW{index}x", word)
        display = decode_header(name.encode("ascii", "surrogateescape"), hint) if name else ""
        email = decode_text(addr.encode("ascii", "surrogateescape"))[0].strip().lower()
        if "@" not in email or " " in email:
            display, email = display or decode_header(addr.encode("ascii", "surrogateescape"), hint), ""
        if display or email:
            addresses.append(Address(name=display, email=email))
    return tuple(addresses)


# The shapes nearly every client writes: `"Name" <a@b>`, `Name <a@b>`, `<a@b>`, `a@b`, comma-separated.
_LIST_ITEM = re.compile(r'(?:"(?:[^"\\]|\\.)*"|<[^<>]*>|[^,"<>])+')
_NAME_ADDR = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^"<>()\[\]:;\\,]*?))\s*<\s*([^<>\s"()\[\]:;,\\]+)\s*>\s*')
_BARE_ADDR = re.compile(r'\s*([^<>\s"()\[\]:;,\\]+)\s*')


def _split_simple(text: str) -> list[tuple[str, str]] | None:
    """Split an address list without the stdlib's slow general parser; None for anything unusual.

    Comments, groups, routes and stray quotes go to email.utils.getaddresses instead.
    """
    if "(" in text or ":" in text or ";" in text:
        return None
    found = []
    for item in _LIST_ITEM.findall(text):
        if item.isspace():
            continue
        match = _NAME_ADDR.fullmatch(item)
        if match:
            quoted, bare, addr = match.groups()
            name = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else " ".join(bare.split())
            found.append((name, addr))
            continue
        match = _BARE_ADDR.fullmatch(item)
        if match is None:
            return None
        found.append(("", match.group(1)))
    return found or None
