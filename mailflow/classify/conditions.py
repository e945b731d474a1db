"""Rule conditions: each has a name and one verb, `check(facts) -> Hit` that explains itself.

Patterns are strings. One starting with `re:` is a regular expression (case-insensitive);
otherwise text conditions match a case-insensitive substring and address conditions a
shell-style glob (`*@example.com`). A list of patterns matches when any of them does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Protocol

from mailflow.parse import ParsedMail


@dataclass(frozen=True)
class Facts:
    """What a condition may look at: the parsed mail plus what the pipeline learned so far."""

    mail: ParsedMail
    sender_role: str = "unknown"  # liaison | leader | secretariat | unknown
    is_ours: Callable[[str], bool] = lambda _mid: False  # a Message-ID of mail we sent


@dataclass(frozen=True)
class Hit:
    matched: bool
    why: str


class Condition(Protocol):
    name: str

    def check(self, facts: Facts) -> Hit: ...


class Pattern:
    """One compiled pattern; `glob` decides how a plain (non-`re:`) pattern matches."""

    def __init__(self, source: str, *, glob: bool) -> None:
        self.source = source
        if source.startswith("re:"):
            self._regex: re.Pattern[str] | None = re.compile(source[3:], re.IGNORECASE)
        else:
            self._regex = None
        self._glob = glob
        self._folded = source.casefold()

    def matches(self, value: str) -> bool:
        if self._regex is not None:
            return self._regex.search(value) is not None
        if self._glob:
            return fnmatchcase(value.casefold(), self._folded)
        return self._folded in value.casefold()

    def __repr__(self) -> str:
        return repr(self.source)


def _first(patterns: list[Pattern], values: Iterable[str]) -> tuple[Pattern, str] | None:
    for value in values:
        for pattern in patterns:
            if pattern.matches(value):
                return pattern, value
    return None


class _PatternCondition:
    name = ""
    glob = False
    what = ""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = [Pattern(p, glob=self.glob) for p in patterns]

    def values(self, facts: Facts) -> list[str]:
        raise NotImplementedError

    def check(self, facts: Facts) -> Hit:
        values = self.values(facts)
        found = _first(self.patterns, values)
        if found:
            return Hit(True, f"{self.what} {_short(found[1])!r} matches {found[0]!r}")
        shown = ", ".join(repr(_short(v)) for v in values[:3]) or "nothing"
        return Hit(False, f"{self.what} ({shown}) matches none of {self.patterns}")


class FromCondition(_PatternCondition):
    name, glob, what = "from", True, "sender"

    def values(self, facts: Facts) -> list[str]:
        return [facts.mail.from_.email] if facts.mail.from_ and facts.mail.from_.email else []


class ToCondition(_PatternCondition):
    name, glob, what = "to", True, "recipient"

    def values(self, facts: Facts) -> list[str]:
        return _recipients(facts.mail)


class ToTagCondition(_PatternCondition):
    """The tag of a plus-address: mishuchu+baosong@example.org has the tag `baosong`."""

    name, glob, what = "to_tag", True, "recipient tag"

    def values(self, facts: Facts) -> list[str]:
        tags = []
        for address in _recipients(facts.mail):
            local = address.partition("@")[0]
            if "+" in local:
                tags.append(local.partition("+")[2])
        return tags


class SubjectCondition(_PatternCondition):
    name, what = "subject", "subject"

    def values(self, facts: Facts) -> list[str]:
        return [facts.mail.subject]


class BodyCondition(_PatternCondition):
    name, what = "body", "body"

    def values(self, facts: Facts) -> list[str]:
        return [facts.mail.text]

    def check(self, facts: Facts) -> Hit:
        hit = super().check(facts)
        if hit.matched:
            return hit
        return Hit(False, f"body contains none of {self.patterns}")


class AttachmentNameCondition(_PatternCondition):
    name, glob, what = "attachment_name", True, "attachment"

    def values(self, facts: Facts) -> list[str]:
        return [a.filename for a in facts.mail.attachments if a.filename]


class SenderRoleCondition(_PatternCondition):
    name, glob, what = "sender_role", True, "sender role"

    def values(self, facts: Facts) -> list[str]:
        return [facts.sender_role]


class HasAttachmentsCondition:
    name = "has_attachments"

    def __init__(self, wanted: bool) -> None:
        self.wanted = wanted

    def check(self, facts: Facts) -> Hit:
        count = sum(1 for a in facts.mail.attachments if not a.inline)
        return Hit((count > 0) == self.wanted, f"{count} attachment(s), wanted {'some' if self.wanted else 'none'}")


class ReplyToOursCondition:
    """In-Reply-To or References names a message we sent."""

    name = "reply_to_ours"

    def __init__(self, wanted: bool) -> None:
        self.wanted = wanted

    def check(self, facts: Facts) -> Hit:
        refs = [r for r in (facts.mail.in_reply_to, *facts.mail.references) if r]
        ours = next((r for r in refs if facts.is_ours(r)), None)
        if ours:
            return Hit(self.wanted, f"refers to our message <{ours}>")
        return Hit(not self.wanted, "refers to none of our messages")


class HeaderCondition:
    """`header: {x-mailer: ["Foxmail*"]}`: a named header matches one of the patterns."""

    name = "header"

    def __init__(self, spec: dict[str, list[str]]) -> None:
        self.spec = {k.lower(): [Pattern(p, glob=False) for p in v] for k, v in spec.items()}

    def check(self, facts: Facts) -> Hit:
        for header, patterns in self.spec.items():
            value = facts.mail.header(header)
            if value is None or _first(patterns, [value]) is None:
                return Hit(False, f"header {header} ({_short(value or '')!r}) matches none of {patterns}")
        return Hit(True, "headers " + ", ".join(self.spec) + " match")


def _recipients(mail: ParsedMail) -> list[str]:
    found = [a.email for a in mail.recipients if a.email]
    for header in ("delivered-to", "x-original-to"):
        value = mail.header(header)
        if value:
            found.append(value.strip().strip("<>").lower())
    return found


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Condition key in rules/*.yaml -> (factory, expected value kind)
PATTERN_CONDITIONS: dict[str, type[_PatternCondition]] = {
    c.name: c
    for c in (
        FromCondition,
        ToCondition,
        ToTagCondition,
        SubjectCondition,
        BodyCondition,
        AttachmentNameCondition,
        SenderRoleCondition,
    )
}
FLAG_CONDITIONS: dict[str, type[HasAttachmentsCondition | ReplyToOursCondition]] = {
    "has_attachments": HasAttachmentsCondition,
    "reply_to_ours": ReplyToOursCondition,
}
CONDITION_KEYS = (*PATTERN_CONDITIONS, *FLAG_CONDITIONS, "header")


def build(key: str, value: Any) -> Condition:
    """Make the condition for `key: value`; raise ValueError with what is wrong."""
    if key in PATTERN_CONDITIONS:
        return PATTERN_CONDITIONS[key](_pattern_list(value))
    if key in FLAG_CONDITIONS:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return FLAG_CONDITIONS[key](value)
    if key == "header":
        if not isinstance(value, dict) or not value:
            raise ValueError("must map header names to patterns")
        return HeaderCondition({str(k): _pattern_list(v) for k, v in value.items()})
    raise ValueError(f"unknown condition (known: {', '.join(CONDITION_KEYS)})")


def _pattern_list(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        raise ValueError("must be a pattern or a list of patterns")
    for item in items:
        if item.startswith("re:"):
            try:
                re.compile(item[3:])
            except re.error as exc:
                raise ValueError(f"bad regular expression {item[3:]!r}: {exc}") from None
    return items
