"""What a request mail (or command line) asks for: the `#征集 标题 截止 2026-12-15 全体联络员` line,
read into a title, a due date and the units asked; and the request text.

Pure: no database, no mail objects. The line is read with the command grammar (mailflow.commands),
so it is found where a command would be (the subject, or a line of the body above the quoted part),
full-width forms and all. In the body the title may be left out: the mail's subject is the title.
Dates are read as Chinese offices write them: 2026-12-15, 2026/12/15, 2026年12月15日, 12月15日,
12.15 (a date without a year is this year's, or next year's when this year's is long past).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from mailflow.commands import CommandLine, read_commands
from mailflow.reasons import Reason

VERBS = frozenset({"征集", "request"})
DUE_WORDS = ("截止日期", "截止时间", "截止", "截至", "deadline", "due")
# The words a line may name every unit with (folded, lower case); anything else is unit codes.
EVERYONE = frozenset({"全体联络员", "全体", "全部", "所有联络员", "各联络员", "all", "liaisons", "everyone"})
_FULL = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_SHORT = re.compile(r"(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_AFTER = re.compile(r"(之前|以前|前|止|为止|\(.{1,4}\)|（.{1,4}）)+$")  # 12月15日前, 2026-12-15（星期二）
_CODES = re.compile(r"[\s,;，、；]+")
_YEARLESS_GRACE = 60  # days: "11月20日" written on 24 November is a mistake, not next year's


@dataclass(frozen=True)
class Reading:
    title: str  # as written
    due: date | None
    units: tuple[str, ...]  # codes (upper case); () for every unit
    body: str  # the request text, without the `#征集` lines
    found: bool  # a `#征集` line was found in the sender's own text
    problems: tuple[Reason, ...]


def read_request(subject: str, body: str, today: date) -> Reading:
    """The request in a mail: the first `#征集` line; any other command line is a problem (it would
    go to every unit as the request's text)."""
    lines = read_commands(subject, body)
    ours = [line for line in lines if line.verb in VERBS]
    others = [line.text for line in lines if line.verb not in VERBS]
    drop = {line.line for line in ours if line.where == "body"}
    text = "\n".join(t for n, t in enumerate(_lines(body), start=1) if n not in drop).strip("\n")
    if not ours:
        return Reading(subject.strip(), None, (), text, False, (Reason("request_no_line"),))
    title, due_text, audience = split_line(ours[0])
    if not title and ours[0].where == "body":
        title = subject.strip()
    problems = [Reason("request_with_commands", {"lines": "、".join(others[:3])})] if others else []
    due, problem = read_due(due_text, today)
    units, no_audience = read_audience(audience)
    problems += [p for p in (problem, no_audience) if p is not None]
    problems += [] if title else [Reason("request_no_title")]
    problems += [] if text.strip() else [Reason("request_no_body")]
    return Reading(title, due, units, text, True, tuple(problems))


def split_line(line: CommandLine) -> tuple[str, str, str]:
    """(title as written, the due date's text, the audience's text) of a `#征集` line."""
    for index, token in enumerate(line.args):
        word = next((w for w in DUE_WORDS if token.lower().startswith(w)), None)
        after = token[len(word) :] if word else ""
        if word is None or (after and not after[0].isdigit() and after[0] not in ":："):
            continue  # "duel" is no due date
        title = line.rest_after(0)[: len(line.rest_after(0)) - len(line.rest_after(index))].strip()
        rest = [after.lstrip(":："), *line.args[index + 1 :]]
        rest = [t for t in rest if t]
        return title, rest[0] if rest else "", " ".join(rest[1:])
    return line.rest_after(0).strip(), "", ""


def read_due(text: str, today: date) -> tuple[date | None, Reason | None]:
    """The due date `text` names, or why it cannot be the due date (missing, unreadable, not after today)."""
    if not text:
        return None, Reason("request_no_due")
    due = read_date(text, today)
    if due is None:
        return None, Reason("request_bad_due", {"text": text[:40]})
    if due <= today:
        return None, Reason("request_due_passed", {"due": due.isoformat(), "today": today.isoformat()})
    return due, None


def read_date(text: str, today: date) -> date | None:
    """A date as written: 2026-12-15, 2026/12/15, 2026.12.15, 2026年12月15日, 12月15日, 12.15, 12-15."""
    core = _AFTER.sub("", text.strip())
    try:
        if found := _FULL.fullmatch(core):
            return date(int(found[1]), int(found[2]), int(found[3]))
        if found := _SHORT.fullmatch(core):
            month, day = int(found[1]), int(found[2])
            this_year = date(today.year, month, day)
            if (today - this_year).days > _YEARLESS_GRACE:
                return date(today.year + 1, month, day)
            return this_year
    except ValueError:  # 2月30日
        return None
    return None


def read_audience(text: str) -> tuple[tuple[str, ...], Reason | None]:
    """(codes, problem): () for every unit; a problem when the line names nobody."""
    words = [w for w in _CODES.split(text.strip()) if w]
    if not words:
        return (), Reason("request_no_audience")
    if any(w.lower() in EVERYONE for w in words):
        return (), None
    return tuple(dict.fromkeys(w.upper() for w in words)), None


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
