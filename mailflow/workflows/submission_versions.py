"""What a reply about a submission does to it: a new version (修改稿), or the unit head's review confirmed.

Only the unit's own liaison or leader changes a submission (mailflow.workflows.submission decides
who reaches here). A revision of a submission that was returned (退修) or is waiting for screening
is screened again; one of a submission already adopted or rejected is recorded as its next version
and keeps the decision: the answer says so, and `updated_at` after `decided_at` tells the
secretariat that a decided piece has a newer text.
"""

from __future__ import annotations

from mailflow.store import Submission, SubmissionState, SubmissionVersion
from mailflow.workflows.contract import Handled, Incoming, Reply, Words
from mailflow.workflows.submission_checks import Findings, examine, local_day, on_record
from mailflow.workflows.tx import Tx

DECIDED = {
    SubmissionState.ADOPTED: Words("已采用", "already adopted"),
    SubmissionState.REJECTED: Words("已决定不予采用", "already declined"),
}


def revise(sub: Submission, message: Incoming, tx: Tx) -> Handled:
    """Version N+1: the row shows it, the history keeps every version; timeliness is read again from
    the new text, counted from the day the first version came (a correction is not a late report)."""
    found = examine(message, tx, sent=local_day(sub.created_at, tx), title=sub.title)
    sub.version += 1
    tx.add(
        SubmissionVersion(
            submission_id=sub.id or 0, version=sub.version, inbound_id=message.inbound_id, title=found.title,
            text=message.mail.text, photo_count=message.photos, created_at=tx.now,
        )
    )  # fmt: skip
    sub.title, sub.text, sub.photo_count = found.title, message.mail.text, message.photos
    sub.latest_inbound_id, sub.updated_at = message.inbound_id, tx.now
    if found.event is not None:
        sub.event_date, sub.late_days = found.event.day, found.late_days
    # The head reviewed this piece before: a revision keeps that unless it was still missing.
    reviewed = found.review or (sub.review if sub.state != SubmissionState.AWAITING_REVIEW else None)
    sub.review = reviewed or ""
    decided = DECIDED.get(sub.state)
    if decided is None:
        sub.state = SubmissionState.RECEIVED if reviewed else SubmissionState.AWAITING_REVIEW
    return answer(sub, message, found, decided=decided)


def confirm(sub: Submission, message: Incoming, tx: Tx) -> Handled:
    """The liaison or the leader confirms the head's review: the submission goes to screening."""
    sub.state, sub.review, sub.updated_at = SubmissionState.RECEIVED, "confirmed", tx.now
    return answer(sub, message, None, confirmed=True)


def answer(
    sub: Submission, message: Incoming, found: Findings | None, *, confirmed: bool = False, decided: Words | None = None
) -> Handled:
    """The letter for the submission as it now stands: acknowledged, or what its review needs.
    Without `found` (a confirmation brings no text) it speaks of the version on record."""
    policy = message.submissions
    window = policy.window(sub.category)
    values = {
        "liaison_name": message.name,
        "reference": sub.reference,
        "title": sub.title,
        "version": sub.version,
        "category_label": category_label(sub.category),
        "confirmed": confirmed,
        "decided": decided or "",
        **(found.letter_values(window) if found else on_record(sub, window)),
    }
    if sub.state == SubmissionState.AWAITING_REVIEW:
        values["review_policy"] = policy.review
        return Handled(reference=sub.reference, reply=Reply("submission_review", values))
    return Handled(reference=sub.reference, reply=Reply("ack_submission", values))


# The chamber's names for the categories of regulation Ch. 4.
CATEGORY_LABELS = {
    "news": ("工作动态", "work news"),
    "technology": ("先进技术", "advanced technology"),
    "demand": ("行业难点与企业诉求", "industry difficulties and demands"),
    "suggestion": ("意见和建议", "opinions and suggestions"),
    "unit_info": ("单位基本信息变更", "change of the unit's basic information"),
    "event": ("重要会议、活动信息", "important meeting or event"),
}


def category_label(category: str | None) -> Words:
    category = category or "news"
    return Words(*CATEGORY_LABELS.get(category, (category, category)))
