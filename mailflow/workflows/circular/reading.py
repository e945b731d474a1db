"""What a circular mail asks for: the `#通知 …` line (its audience and units), the subject and the text
as the secretariat wrote them, and that text cut for the letter.

Pure: no database, no mail objects. The line is read with the command grammar (mailflow.commands),
so it is found where a command would be (the subject, or a line of the body above the quoted part),
full-width forms and all: `＃通知　全体联络员`, `#circular leaders HD001,HD002`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailflow.commands import CommandLine, read_commands
from mailflow.outbound.render import MAX_VALUE
from mailflow.reasons import Reason

VERBS = frozenset({"通知", "circular"})
LIAISONS, LEADERS, ALL = "liaisons", "leaders", "all"
AUDIENCES = (LIAISONS, LEADERS, ALL)
# The words a `#通知` line may name its audience with (folded, lower case).
WORDS = {
    "全体联络员": LIAISONS, "联络员": LIAISONS, "liaisons": LIAISONS, "liaison": LIAISONS,
    "全体负责人": LEADERS, "全体单位负责人": LEADERS, "单位负责人": LEADERS, "负责人": LEADERS,
    "leaders": LEADERS, "leader": LEADERS,
    "全体": ALL, "全部": ALL, "all": ALL,
}  # fmt: skip
LABELS = {
    LIAISONS: ("全体联络员", "all liaisons"),
    LEADERS: ("全体单位负责人", "all unit leaders"),
    ALL: ("全体联络员及单位负责人", "all liaisons and unit leaders"),
}
_CODES = re.compile(r"[\s,;，、；]+")


@dataclass(frozen=True)
class Reading:
    subject: str  # as written, without a leading `#通知 …`
    body: str  # as written, without the `#通知` lines
    audience: str | None  # what the line names; None when no line names one
    units: tuple[str, ...]  # codes the line limits it to (upper case); () for every unit
    found: bool  # a `#通知` line was found in the sender's own text
    problems: tuple[Reason, ...]


def read_circular(subject: str, body: str) -> Reading:
    """The circular in a mail: the first `#通知` line decides the audience; every `#通知` line is
    taken out of the text, and any other command line is a problem (it would go to every unit)."""
    lines = read_commands(subject, body)
    ours = [line for line in lines if line.verb in VERBS]
    others = [line.text for line in lines if line.verb not in VERBS]
    problems: list[Reason] = []
    if others:
        problems.append(Reason("circular_with_commands", {"lines": "、".join(others[:3])}))
    audience: str | None = None
    units: tuple[str, ...] = ()
    if ours:
        audience, units, problem = _audience(ours[0])
        problems += [problem] if problem else []
    if ours and ours[0].where == "subject":
        subject = _title(ours[0])
    drop = {line.line for line in ours if line.where == "body"}
    kept = [text for n, text in enumerate(_lines(body), start=1) if n not in drop]
    return Reading(subject.strip(), "\n".join(kept).strip("\n"), audience, units, bool(ours), tuple(problems))


def _audience(line: CommandLine) -> tuple[str | None, tuple[str, ...], Reason | None]:
    """(audience, unit codes, problem) of a `#通知` line. In the subject the words after the audience
    are the title; in the body they are the units' codes."""
    if not line.args:
        return None, (), None
    audience = WORDS.get(line.args[0].lower())
    if line.where == "subject":
        return audience, (), None
    if audience is None:
        return None, (), Reason("circular_audience", {"word": line.args[0][:60]})
    codes = tuple(dict.fromkeys(c.upper() for c in _CODES.split(" ".join(line.args[1:])) if c))
    return audience, codes, None


def _title(line: CommandLine) -> str:
    """The subject after `#通知` and its audience word, as written."""
    named = bool(line.args) and line.args[0].lower() in WORDS
    return line.rest_after(1) if named else line.rest_after(0)


def _lines(text: str) -> list[str]:
    """The body's lines, numbered as the command grammar numbers them."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def letter_lines(body: str, width: int = MAX_VALUE) -> list[list[str]]:
    """The text as the letter prints it: its lines, blank ones kept, each in pieces of at most
    `width` characters (the renderer prints no longer value), cut where no space is lost."""
    return [_pieces(line.rstrip(), width) for line in _lines(body)]


def _pieces(line: str, width: int) -> list[str]:
    if not line.strip():
        return []
    pieces, start = [], 0
    while len(line) - start > width:
        cut = start + width
        # Between two characters that are not spaces: each piece is printed as one plain line,
        # stripped, and the pieces are printed side by side, so a space at a cut would be lost.
        while cut > start + 1 and (line[cut - 1].isspace() or line[cut].isspace()):
            cut -= 1
        if cut <= start + 1:
            cut = start + width  # a run of one-letter words: one space may go
        pieces.append(line[start:cut])
        start = cut
    pieces.append(line[start:])
    return pieces
