"""The grammar of the secretariat's command lines: `#重发 12`, `#resend 12`, `＃更正邮箱　１２ new@unit.cn`.

Pure (no I/O, nothing of mailflow), so every rule below is tested line by line, and it only reads:
which verbs exist, and what they do, is for the caller, which also reports the verbs it does not know.

Width. Chinese input methods type `＃`, digits and letters in full width, so the verb and the
arguments are compared after folding U+FF01-U+FF5E to ASCII and the ideographic space (and the
no-break and zero-width spaces that HTML leaves) to a space. NFKC is not applied: it also rewrites
compatibility characters (①, ㈠, ﹣, compatibility ideographs) in text a person reads again. A
reason (`#退回 DJ-2026-0007 证明材料不清晰，请重新扫描`) is taken as written, from `rest_after`:
the fold would turn the Chinese comma, colon and brackets (，：（）, same block) into ASCII ones.

Where reading stops. Only what the sender wrote counts: the body ends at the first quoted or
forwarded part (`>` lines; the separators and header blocks of Outlook, Foxmail, QQ Mail and
NetEase; the attribution lines of Gmail and Apple Mail) or at a signature (`-- `), so a command
quoted back in a reply is never executed twice.

Bounds. One line-anchored pattern, whose repeats are possessive or plain scans to the end of the
line, finds the few lines worth a look, and only those get string tests: a 5 MB body costs one
pass. At most MAX_COMMANDS commands are read (reading stops at the next one) and a command line
longer than MAX_LINE_CHARS is not read (reading goes on); either way `Commands.truncated` is set,
so the caller can say that command lines went unread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

MAX_COMMANDS = 50
MAX_LINE_CHARS = 1000

# Everything str.isspace() calls a space, plus the zero-width characters HTML-to-text leaves behind.
_BLANKS = (
    "\t\n\v\f\r \x1c\x1d\x1e\x1f\x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000\u200b\u200c\u200d\u2060\ufeff"
)
# One character for one character, so a position in the folded line is the same position as written.
_FOLD = {code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)} | {ord(c): " " for c in _BLANKS}
_ONE_LINE = {ord(c): " " for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}
_TOKEN = re.compile(r"\S++")
_DATE_OR_ADDRESS = re.compile(r"[0-9@]")
# Reply and forward prefixes, after the fold: `Re:`, `RE[2]:`, `回复：`, `答复:`, `Fwd:`, `转发:`, `自动回复：`.
_PREFIX = re.compile(
    r"(?:re|fwd?|aw|wg|sv|回复|答复|回覆|转发|轉寄|自动回复|自動回覆)(?:\[\d++\]|\(\d++\))?+ *+:", re.I
)
_TAGS = {"[": "]", "【": "】"}  # [EXTERNAL], 【自动回复】; `［］` fold to `[]`
_FORWARD_MARKS = ("原始邮件", "原邮件", "转发邮件", "转发的邮件", "originalmessage", "forwardedmessage")
_FORWARD_LINES = {"begin forwarded message", "开始转发的邮件", "转发的邮件"}  # Apple Mail, ends in `:`
_FROM_KEYS = {"from", "发件人", "寄件者"}
_HEADER_KEYS = {"sent", "date", "to", "cc", "subject", "发送时间", "发送日期", "时间", "日期", "收件人", "抄送", "主题"}
_HEADER_KEYS |= {"傳送時間", "寄件日期", "收件者", "副本", "主旨"}
_HEADER_LOOKAHEAD = 5  # lines after `From:` that may hold `Sent:`/`To:`
_ATTRIBUTION_ENDS = ("wrote:", "写道:", "寫道:")
_SPACE = re.escape(_BLANKS.replace("\n", ""))  # inside a character class
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af"
# The lines that may be a command (`#` and a verb's first letter) or where the quoted part starts
# (`>`, `--`, Outlook's rule, `From:`/`发件人：`, `... wrote:`/`... 写道：`, `Begin forwarded message:`).
# Every other line is passed over here, by one scan with no nested or competing repeats.
_CANDIDATE = re.compile(
    f"^[{_SPACE}]*+(?:[#＃][{_SPACE}]*+[A-Za-zＡ-Ｚａ-ｚ{_HAN}]|[>＞]|[-－]{{2}}|[_＿]{{10}}"
    f"|[*＊{_SPACE}]*+(?:from|发件人|寄件者)|[^\\n]*?(?:wrote|写道|寫道|转发的邮件|forwarded message))",
    re.M | re.I,
)


def _fold(text: str) -> str:
    """Full-width ASCII to ASCII, every space (U+3000, no-break, zero-width) to " "; same length."""
    return text.translate(_FOLD)


@dataclass(frozen=True)
class CommandLine:
    """One command as read: where it was, what it says (folded for comparing), and the text as written."""

    number: int  # 1-based, in reading order (subject first)
    where: Literal["subject", "body"]
    line: int  # line number in the body, 1-based; 0 for the subject
    text: str  # the line as written, stripped, on one line: for the report
    verb: str  # folded, ASCII lower-cased, `_` as `-`: "重发", "resend", "fix-address"
    args: tuple[str, ...]  # folded, split on any space
    arg_text: str  # everything after the verb as written (one separating `:` or `,` dropped)
    duplicate_of: int | None = None  # number of an earlier command with the same verb and args

    def rest_after(self, n: int) -> str:
        """The arguments after the first `n` as written, spaces and Chinese punctuation kept ('' if none)."""
        if n < 0:
            raise ValueError("n must be 0 or more")
        for index, token in enumerate(_TOKEN.finditer(_fold(self.arg_text))):
            if index == n:
                return self.arg_text[token.start() :]
        return ""


class Commands(tuple[CommandLine, ...]):
    """The commands of one mail in reading order: a tuple, plus `truncated`, set when command lines
    went unread (past MAX_COMMANDS, or longer than MAX_LINE_CHARS). Compares as a plain tuple."""

    truncated: bool

    def __new__(cls, lines: Iterable[CommandLine] = (), *, truncated: bool = False) -> Commands:
        self = super().__new__(cls, lines)
        object.__setattr__(self, "truncated", truncated)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Commands is immutable ({name})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Commands is immutable ({name})")

    def __repr__(self) -> str:
        return f"Commands({tuple(self)!r}, truncated={self.truncated})"


def read_commands(subject: str, body: str) -> Commands:
    """The command lines of a mail: the subject (after Re:/回复：/[tags]) first, then the body up to
    the quoted part. Identical commands are all returned, the repeats with `duplicate_of` set."""
    reader = _Reader()
    reader.take(_subject_core(subject), "subject", 0)
    for number, line in _own_lines(body):
        if reader.full:
            break
        reader.take(line, "body", number)
    return Commands(reader.lines, truncated=reader.truncated)


def _parse_verb(folded: str) -> tuple[str, int] | None:
    """(verb, where the arguments start) when a folded, stripped line is a command, else None.

    The verb is a run of Chinese characters, or an ASCII letter then letters, digits, `-`, `_`.
    A Chinese verb may run straight into its argument (`#重发12`); an ASCII one must be followed by
    a space, `:`, `,`, a non-ASCII character or the end, so `#1`, `##`, `#!`, `#x.y` are not
    commands, and neither is a topic tag (`#话题#`)."""
    if not folded.startswith("#"):
        return None
    end = len(folded)
    at = _skip_spaces(folded, 1)
    start = at
    if at < end and _is_han(folded[at]):
        while at < end and _is_han(folded[at]):
            at += 1
        if folded.startswith("#", at):
            return None
        verb = folded[start:at]
    elif at < end and folded[at].isascii() and folded[at].isalpha():
        while at < end and folded[at].isascii() and (folded[at].isalnum() or folded[at] in "-_"):
            at += 1
        if at < end and folded[at].isascii() and folded[at] not in " :,":
            return None
        verb = folded[start:at].lower().replace("_", "-")
    else:
        return None
    at = _skip_spaces(folded, at)
    if folded.startswith((":", ","), at):
        at += 1
    return verb, at


class _Reader:
    def __init__(self) -> None:
        self.lines: list[CommandLine] = []
        self.first: dict[tuple[str, tuple[str, ...]], int] = {}
        self.truncated = False
        self.full = False  # a command past the cap was seen: read no more

    def take(self, line: str, where: Literal["subject", "body"], number: int) -> None:
        """Read one stripped line as written, when it is a command."""
        if not line or line[0] not in "#＃":
            return
        if len(line) > MAX_LINE_CHARS:
            self.truncated = self.truncated or _parse_verb(_fold(line[:64])) is not None
            return
        text = line.translate(_ONE_LINE)
        folded = _fold(text)
        parsed = _parse_verb(folded)
        if parsed is None:
            return
        if len(self.lines) == MAX_COMMANDS:
            self.truncated = self.full = True
            return
        verb, start = parsed
        args = tuple(token.group() for token in _TOKEN.finditer(folded, start))
        key = (verb, args)
        command = CommandLine(
            number=len(self.lines) + 1,
            where=where,
            line=number,
            text=text,
            verb=verb,
            args=args,
            arg_text=text[start:].strip(_BLANKS),
            duplicate_of=self.first.get(key),
        )
        self.first.setdefault(key, command.number)
        self.lines.append(command)


def _subject_core(subject: str) -> str:
    """The subject as written, stripped, without any number of reply/forward prefixes and [tags]."""
    folded = _fold(subject)
    at, end = 0, len(folded)
    while True:
        at = _skip_spaces(folded, at)
        if at < end and folded[at] in _TAGS:
            close = folded.find(_TAGS[folded[at]], at, at + 64)
        else:
            prefix = _PREFIX.match(folded, at)
            close = prefix.end() - 1 if prefix else -1
        if close < 0:
            return subject[at:].strip(_BLANKS)
        at = close + 1


def _own_lines(body: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) of the lines that may matter, up to the first quoted, forwarded or
    signature line. One pattern passes over all other lines, with no step in Python for each."""
    text = _newlines(body)
    number, counted = 1, 0  # line `number` starts at `counted`
    for start, line in _candidates(text):
        if not line:
            return
        number, counted = number + text.count("\n", counted, start), start
        yield number, line


def own_text(body: str) -> str:
    """The sender's own text: the body up to the first quoted, forwarded or signature line."""
    text = _newlines(body)
    for start, line in _candidates(text):
        if not line:
            return text[:start]
    return text


def _newlines(body: str) -> str:
    return body.replace("\r\n", "\n").replace("\r", "\n")


def _candidates(text: str) -> Iterator[tuple[int, str]]:
    """(start, stripped line) of each candidate line; last, (start, "") where the quoted part starts."""
    clear = 0  # no Sent:/To: line before `clear`
    for candidate in _CANDIDATE.finditer(text):
        start = candidate.start()
        stop = text.find("\n", start)
        stop = len(text) if stop < 0 else stop
        line = text[start:stop].strip(_BLANKS)
        if _quote_starts(line, text, start):
            yield start, ""
            return
        if _header_key(_fold(line[:24])) in _FROM_KEYS:
            found, clear = _header_follows(text, stop + 1, clear)
            if found:
                yield start, ""
                return
        yield start, line


def _quote_starts(line: str, text: str, start: int) -> bool:
    """Whether the sender's own text ends at this (non-empty, stripped) line, which starts at `start`."""
    if line[0] in ">＞":
        return True
    if line[0] in "#＃" or len(line) > MAX_LINE_CHARS:  # a command is the sender's own text
        return False
    folded = _fold(line)
    lowered = folded.casefold()
    if folded == "--" or (len(folded) >= 10 and not folded.strip("_")):  # signature; Outlook's rule
        return True
    if folded.startswith("--") and len(folded) <= 80:  # -----原始邮件-----, ---- 回复的原邮件 ----
        label = lowered.strip("- ").replace(" ", "")
        return any(mark in label for mark in _FORWARD_MARKS)
    if lowered.endswith(":") and lowered[:-1].strip() in _FORWARD_LINES:
        return True
    if not lowered.endswith(_ATTRIBUTION_ENDS):
        return False
    if _DATE_OR_ADDRESS.search(folded):  # On ... wrote:, 在 ... 写道：, ... 于 ... 写道：
        return True
    if not start:
        return False
    head = text.rfind("\n", 0, start - 1) + 1  # Gmail wraps `On ... <a@b.cn>` / `wrote:`
    previous = _fold(text[head : min(start - 1, head + 16)].lstrip(_BLANKS)).casefold()
    return previous.startswith(("on ", "在", "at "))


def _header_follows(text: str, at: int, clear: int) -> tuple[bool, int]:
    """Whether one of the few lines from `at` is a Sent:/Date:/To: line of a quoted header block, and
    where the lines known not to be end; lines before `clear` are not looked at again."""
    left = _HEADER_LOOKAHEAD
    if clear > at:
        left, at = left - text.count("\n", at, clear), clear
    for _ in range(left):
        if at >= len(text):
            break
        stop = text.find("\n", at)
        stop = len(text) if stop < 0 else stop
        if _header_key(_fold(text[at : min(stop, at + 80)].strip(_BLANKS))) in _HEADER_KEYS:
            return True, at
        at = stop + 1
    return False, at


def _header_key(folded: str) -> str:
    """`from` for `From: ...` or `**From:** ...`, `发件人` for `发件人：...`; '' for other lines."""
    head = folded[:24].lstrip("* ")
    colon = head.find(":")
    return head[:colon].rstrip("* ").casefold() if colon > 0 else ""


def _skip_spaces(folded: str, at: int) -> int:
    while at < len(folded) and folded[at] == " ":
        at += 1
    return at


def _is_han(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x323AF
    )
