"""The Ch. 4 checks' settings (rules/*.yaml `submissions:`), as one frozen value; errors name file and key.

Phrases follow the rules files' vocabulary: a plain phrase is a substring, one starting with
"re:" a regular expression. A phrase written after a negation or a request (未/尚未/待/请/需 …,
`not_after`) does not count: "尚未经单位负责人审核" says the opposite of what it contains.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REVIEW_POLICIES = ("statement", "cc_leader", "none")

# How offices write that the unit head has seen a text: "已经单位负责人审核", "经总经理审阅同意",
# "领导已审阅", "审核：李建国". The families are regular expressions; rules/30-submissions.yaml
# carries the same list for the secretariat to extend.
_HEADS = "(?:主要)?(?:负责人|领导|总经理|副总经理|董事长|总裁|厂长|主任|经理|书记|一把手|老总|负责同志)"
_UNITS = "(?:单位|本单位|我单位|公司|本公司|我公司|集团|部门|企业|厂|分管|主管)?"
_ACTS = "(?:审核|审阅|审定|审查|审签|签批|核准|核定|把关|同意|批准|签发|过目)"
DEFAULT_PHRASES = (
    f"re:已经?(?:由|过|被)?{_UNITS}{_HEADS}{_ACTS}",
    f"re:经(?:过|由)?{_UNITS}{_HEADS}(?:[^，。,.；;\\n]{{0,6}}){_ACTS}",
    f"re:{_UNITS}{_HEADS}(?:已经?|均已|业已)(?:[^，。,.；;\\n]{{0,4}}){_ACTS}",
    "re:(?:已|业已|均已)(?:经)?(?:审核|审阅|审定|签批|核准)",
    f"re:{_HEADS}{_ACTS}(?:同意|通过|无误)",
    f"re:{_UNITS}{_HEADS}(?:审定|签批|审签|签发)",
    "re:(?:审核|审阅|审定|通过)(?:同意|通过|无误)",
    "re:(?m)^[ \\t\u3000]*(?:审核|审核人|审核领导|审定|审稿|签发|签发人|审签)[ \\t\u3000]*[:：][ \\t\u3000]*\\S{2,}",
    "re:(?i)(?:reviewed|approved|checked)\\s+by\\s+(?:our|the)\\s+(?:unit\\s+)?(?:head|director|manager|general manager|leader|ceo)",
)
# Words that, just before a phrase, turn it into its opposite or a request.
DEFAULT_NOT_AFTER = (
    "未", "尚未", "还未", "暂未", "并未", "没", "没有", "还没", "不", "待", "尚待", "等待", "有待",
    "请", "需", "需要", "须", "必须", "将", "拟", "应", "要", "准备", "是否", "能否",
    "not", "yet", "never", "to be", "awaiting", "pending",
)  # fmt: skip
# A unit leader's short answer to our letter that confirms the review.
DEFAULT_LEADER_APPROVALS = ("同意", "确认", "属实", "已阅", "可以发布", "同意报送", "同意发布", "approved", "confirmed")


@dataclass(frozen=True)
class Phrases:
    """Phrases of the rules files (substring or "re:" regex), with the words that cancel them."""

    patterns: tuple[str, ...]
    not_after: tuple[str, ...] = DEFAULT_NOT_AFTER
    compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = tuple(
            re.compile(p[3:]) if p.startswith("re:") else re.compile(re.escape(p), re.IGNORECASE) for p in self.patterns
        )
        object.__setattr__(self, "compiled", compiled)

    def found(self, text: str) -> str | None:
        """The first phrase the text says, not cancelled by a word just before it; None if none."""
        cancel = tuple(w.lower() for w in self.not_after)
        for pattern in self.compiled:
            for match in pattern.finditer(text):
                # "是否已经领导审核": the words before 已/经 are what cancels.
                before = text[max(0, match.start() - 8) : match.start()].lower().rstrip(" \t\u3000已经过由被")
                if not before.endswith(cancel):
                    return match.group(0).strip()
        return None


@dataclass(frozen=True)
class SubmissionPolicy:
    window_days: int = 7  # others: within one week of the event (Ch. 4)
    urgent_categories: tuple[str, ...] = ("event",)  # important meetings, activities, events: promptly
    urgent_window_days: int = 1  # "promptly": the same day or the next
    paragraphs: int = 2  # how many of the body's first paragraphs may give the event's date
    history_days: int = 365  # a date older than this is background ("成立于…"), not the event
    review: str = "statement"  # statement | cc_leader | none
    review_phrases: Phrases = field(default_factory=lambda: Phrases(DEFAULT_PHRASES))
    leader_approvals: Phrases = field(default_factory=lambda: Phrases(DEFAULT_LEADER_APPROVALS))
    revision_min_chars: int = 80  # new text, quotes left out, that makes a reply a new version

    def window(self, category: str | None) -> int:
        return self.urgent_window_days if self.is_urgent(category) else self.window_days

    def is_urgent(self, category: str | None) -> bool:
        return category in self.urgent_categories


KEYS = {
    "timeliness": ("window_days", "urgent_categories", "urgent_window_days", "paragraphs", "history_days"),
    "review": ("policy", "phrases", "not_after", "leader_approvals"),
    "revision": ("min_chars",),
}


def read_policy(where: str, data: Any, problems: list[str]) -> SubmissionPolicy | None:
    """`submissions:` of a rules file -> SubmissionPolicy; each problem names `where` and the key."""
    if not isinstance(data, Mapping):
        problems.append(f"{where}: submissions: must be a mapping")
        return None
    before = len(problems)
    values: dict[str, Any] = {}
    for section, content in data.items():
        path = f"{where}: submissions.{section}"
        if section not in KEYS:
            problems.append(f"{path}: unknown key (known: {', '.join(KEYS)})")
            continue
        if not isinstance(content, Mapping):
            problems.append(f"{path}: must be a mapping")
            continue
        for key, value in content.items():
            if key not in KEYS[section]:
                problems.append(f"{path}.{key}: unknown key (known: {', '.join(KEYS[section])})")
            else:
                _value(f"{path}.{key}", f"{section}.{key}", value, values, problems)
    if len(problems) > before:
        return None
    review_words = values.pop("not_after", DEFAULT_NOT_AFTER)
    values["review_phrases"] = Phrases(values.pop("review_phrases", DEFAULT_PHRASES), review_words)
    values["leader_approvals"] = Phrases(values.pop("leader_approvals", DEFAULT_LEADER_APPROVALS), review_words)
    return SubmissionPolicy(**values)


_WHOLE = {
    "timeliness.window_days": ("window_days", 0),
    "timeliness.urgent_window_days": ("urgent_window_days", 0),
    "timeliness.paragraphs": ("paragraphs", 1),
    "timeliness.history_days": ("history_days", 1),
    "revision.min_chars": ("revision_min_chars", 1),
}
_LISTS = {
    "timeliness.urgent_categories": "urgent_categories",
    "review.phrases": "review_phrases",
    "review.not_after": "not_after",
    "review.leader_approvals": "leader_approvals",
}


def _value(path: str, key: str, value: Any, values: dict[str, Any], problems: list[str]) -> None:
    if key in _WHOLE:
        name, least = _WHOLE[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            problems.append(f"{path}: must be a whole number, at least {least}")
        else:
            values[name] = value
    elif key == "review.policy":
        if value not in REVIEW_POLICIES:
            problems.append(f"{path}: must be one of {', '.join(REVIEW_POLICIES)}")
        else:
            values["review"] = value
    else:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problems.append(f"{path}: must be a list of phrases")
            return
        for item in value:
            if item.startswith("re:"):
                try:
                    re.compile(item[3:])
                except re.error as exc:
                    problems.append(f"{path}: {item!r} is not a valid regular expression: {exc}")
        values[_LISTS[key]] = tuple(value)
