"""Ch. 4's unit-head review, read from a mail; and what a reply to our letter about a submission is.

The review shows in one of three ways, as the policy allows (rules/30-submissions.yaml):
- `statement`: the body says it ("已经单位负责人审核", "经总经理审阅同意", "审核：李建国");
- `cc_leader`: the unit's leader (Unit.leader_email) is in To or Cc, or sent it; a statement
  counts too;
- `none`: nothing is asked.

A reply to our letter about a submission (or a mail naming its BS- reference) is one of:
- a *revision*: it brings files, or at least `revision_min_chars` characters (80 by default) of its own text
  (quoted text and the signature's date left out) that differ from the latest version's text;
- a *confirmation* of the review: anything shorter that carries a review statement, or, from the
  unit's leader, an approval ("同意", "确认");
- otherwise a note for the secretariat, read in the letter's thread (a thank-you, an auto-reply).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mailflow.submissions.dates import first_paragraphs
from mailflow.submissions.policy import SubmissionPolicy

_QUOTE_START = re.compile(
    r"^\s*(?:-{2,}\s*(?:原始邮件|Original Message|转发邮件|Forwarded)|_{5,}|发件人\s*[:：]|From:\s|"
    r"在\s.*写道\s*[:：]?\s*$|On\s.*wrote:\s*$|-- ?$)",
    re.IGNORECASE,
)


def own_text(text: str) -> str:
    """What the writer wrote in this mail: the text before any quoted or forwarded part."""
    kept: list[str] = []
    for line in text.splitlines():
        if _QUOTE_START.match(line):
            break
        if not line.lstrip().startswith(">"):
            kept.append(line)
    return "\n".join(kept).strip()


def shown_review(
    policy: SubmissionPolicy, text: str, *, role: str, recipients: Iterable[str], leader: str | None
) -> str | None:
    """How this mail shows the unit head's review (statement | cc_leader | none), or None: missing."""
    if policy.review == "none":
        return "none"
    if policy.review_phrases.found(own_text(text)):
        return "statement"
    if policy.review == "cc_leader" and leader:
        if role == "leader" or leader.lower() in {r.lower() for r in recipients}:
            return "cc_leader"
    return None


def confirms(policy: SubmissionPolicy, text: str, *, role: str) -> bool:
    """A short answer that confirms the review: a statement, or the leader's approval."""
    own = own_text(text)
    if policy.review_phrases.found(own):
        return True
    return role == "leader" and policy.leader_approvals.found(own) is not None


def is_revision(policy: SubmissionPolicy, text: str, latest: str, *, files: bool) -> bool:
    """New content for a submission: files, or enough text of its own that is not the latest version's."""
    if files:
        return True
    own = content(text)
    return len(own) >= policy.revision_min_chars and own != content(latest)


def content(text: str) -> str:
    """A text's own paragraphs without salutation, letter date, quotes or white space: to compare."""
    return re.sub(r"\s+", "", " ".join(first_paragraphs(own_text(text), 1000)))
