"""What Ch. 4 finds in one version of a submission: its title, the event's date and lateness, the
unit head's review, and whether its text is in a file rather than in the mail."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from mailflow.store import Submission, Unit
from mailflow.submissions import Found, days_late, event_date, own_text, shown_review
from mailflow.submissions.review import content
from mailflow.workflows.contract import Incoming, Words
from mailflow.workflows.tx import Tx

# Files whose text a chamber reads as the article itself (a Word or PDF manuscript).
DOCUMENTS = frozenset({"doc", "docx", "pdf", "rtf", "txt", "odt", "wps"})
SHORT = 20
_REFERENCE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}-\d{4}-\d{4,}(?![0-9])")
# Reply and forward marks, and the bracketed tags the rules read the category from (【报送】, [投稿],
# 【报送-技术】 …): the tag is the category, not part of the title.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|fw|fwd|回复|答复|回覆|转发)\s*[:：]\s*|[【\[][^】\]]{0,12}[】\]]\s*)+", re.IGNORECASE
)
_OUR_TAGS = re.compile(r"【(?:已收到|请补充审核确认|请补充审核)】|第\s*\d+\s*版")


@dataclass(frozen=True)
class Findings:
    title: str
    event: Found | None
    late_days: int | None
    urgent: bool
    review: str | None  # statement | cc_leader | none; None: not shown
    no_subject: bool
    no_text: bool
    text_in: tuple[str, ...]  # the documents that carry the text, when the mail carries none

    def letter_values(self, window: int) -> dict[str, Any]:
        """What the letters say of these findings (see ack_submission and submission_review)."""
        return {
            "event_on": day_words(self.event.day if self.event else None),
            "late_days": self.late_days or 0,
            "window": window,
            "urgent": self.urgent,
            "no_subject": self.no_subject,
            "no_text": self.no_text,
            "text_in": "、".join(self.text_in),
        }


def on_record(sub: Submission, window: int) -> dict[str, Any]:
    """The same values for the version on record (a confirmation of its review brings no text)."""
    return {
        "event_on": day_words(sub.event_date), "late_days": sub.late_days or 0, "window": window,
        "urgent": sub.urgent, "no_subject": False, "no_text": False, "text_in": "",
    }  # fmt: skip


def day_words(day: date | None) -> Words | str:
    return Words(f"{day.year}年{day.month}月{day.day}日", day.isoformat()) if day else ""


def examine(message: Incoming, tx: Tx, *, sent: date | None = None, title: str = "") -> Findings:
    """The findings for the mail in hand; `sent` overrides the day it counts from (a revision
    counts from the first version's), `title` is kept when this mail's subject says nothing new."""
    policy = message.submissions
    sent = sent or sent_day(message, tx)
    subject = one_line(message.mail.subject)
    event = event_date(subject, message.mail.text, sent, paragraphs=policy.paragraphs, history_days=policy.history_days)
    late = days_late(event.day, sent, policy.window(message.category)) if event else None
    unit = tx.get(Unit, message.unit_id) if message.unit_id is not None else None
    recipients = [a.email for a in message.mail.recipients]
    review = shown_review(
        policy, message.mail.text, role=message.role, recipients=recipients, leader=unit.leader_email if unit else None
    )
    documents = tuple(
        c.safe_name for c in message.checks if not c.inline and (c.detected_type or c.declared_type) in DOCUMENTS
    )
    # Under SHORT characters of its own, a mail carries a greeting or a signature, not an article.
    written = len(content(message.mail.text))
    return Findings(
        title=title_for(message, title),
        event=event,
        late_days=late,
        urgent=policy.is_urgent(message.category),
        review=review,
        no_subject=not subject.strip(),
        no_text=written < SHORT and not documents,
        text_in=documents if written < 3 * SHORT else (),
    )


def sent_day(message: Incoming, tx: Tx) -> date:
    """The day the mail was written, in the chamber's zone: its Date header, unless missing or later
    than its arrival (a wrong clock); then the day it arrived."""
    arrived = message.received_at
    written = message.mail.date
    when = written if written is not None and written <= arrived + timedelta(hours=1) else arrived
    return tx.local(when).date()


def title_for(message: Incoming, kept: str = "") -> str:
    """One plain line for the title: the subject without reply prefixes, our own tags and references;
    else the title kept from before; else the text's first line; else the first file's name."""
    subject = _PREFIX.sub("", one_line(message.mail.subject))
    if kept:
        subject = one_line(_OUR_TAGS.sub(" ", _REFERENCE.sub(" ", subject)))
        subject = _PREFIX.sub("", subject)
    if subject:
        return subject[:500]
    if kept:
        return kept
    first = next((line for line in own_text(message.mail.text).splitlines() if len(line.strip()) > 4), "")
    if first:
        return one_line(first)[:60]
    files = [c.safe_name for c in message.checks if not c.inline]
    return files[0] if files else "（无标题）"


def one_line(value: str) -> str:
    return " ".join(value.split())


def local_day(when: datetime | None, tx: Tx) -> date:
    return tx.local(when or tx.now).date()
