"""信息报送: a liaison's news, technology or demand report becomes a Submission with a reference.

Each one is checked against Ch. 4 as rules/30-submissions.yaml sets it (mailflow.submissions):
the event's date and how late the report is (accepted all the same, `late_days` set), whether
it is an important event for same-day attention (`urgent`), and the unit head's review. Without
the review it waits as `awaiting_review` and the answer (submission_review) says what to add.

A reply to one of our letters about a BS- reference, or a mail naming it in its subject, from
that unit's liaison or leader, is the same submission's: new content (files, or enough new text:
mailflow.submissions.review) is its next version, a short answer with a review statement (or the
leader's approval) confirms the review; anything else is a note for the secretariat in that
thread. The same mail from anyone else never touches the record: a submission of its own when it
is a new mail that only names the reference, otherwise held as a reply to our letter.
"""

from __future__ import annotations

from mailflow.reasons import Reason
from mailflow.screen.threads import replied_letter
from mailflow.store import InboundState, Submission, SubmissionState, SubmissionVersion
from mailflow.submissions import confirms, is_revision
from mailflow.workflows.contract import Handled, Handler, Incoming, Workflow
from mailflow.workflows.screening import tell_if_urgent
from mailflow.workflows.submission_checks import examine
from mailflow.workflows.submission_versions import CATEGORY_LABELS, answer, confirm, revise
from mailflow.workflows.tx import Tx

__all__ = ["CATEGORY_LABELS", "PREFIX", "follow_up", "handle", "workflow"]

PREFIX = "BS"  # 报送


def handle(message: Incoming, tx: Tx) -> Handled:
    found = examine(message, tx)
    reference = tx.reference(PREFIX)
    sub = tx.add(
        Submission(
            reference=reference,
            inbound_id=message.inbound_id,
            unit_id=message.unit_id,
            liaison_id=message.liaison_id,
            category=message.category,
            title=found.title,
            text=message.mail.text,
            photo_count=message.photos,
            created_at=tx.now,
            updated_at=tx.now,
            state=SubmissionState.RECEIVED if found.review else SubmissionState.AWAITING_REVIEW,
            event_date=found.event.day if found.event else None,
            late_days=found.late_days,
            urgent=found.urgent,
            review=found.review or "",
        )
    )
    tx.session.flush()  # the version names the row's id
    tx.add(
        SubmissionVersion(
            submission_id=sub.id or 0, version=1, inbound_id=message.inbound_id, title=found.title,
            text=message.mail.text, photo_count=message.photos, created_at=tx.now,
        )
    )  # fmt: skip
    return answer(sub, message, found)


def follow_up(message: Incoming, tx: Tx) -> Handled:
    """A mail about BS-…: a revision, a confirmation of the review, or a note for the secretariat."""
    sub = tx.find(Submission, "reference", message.follow_up)
    ours = sub is not None and message.unit_id == sub.unit_id and message.role in ("liaison", "leader")
    if sub is None or not ours:
        return _not_ours(message, tx)
    files = any(not check.inline for check in message.checks)
    if is_revision(message.submissions, message.mail.text, sub.text, files=files):
        refused = tuple(reason for check in message.checks for reason in check.reasons)
        if refused:  # validate left the files to us (a follow-up): a bad photo refuses the version
            return Handled(InboundState.REJECTED, refused)
        return revise(sub, message, tx)
    if sub.state == SubmissionState.AWAITING_REVIEW and confirms(
        message.submissions, message.mail.text, role=message.role
    ):
        return confirm(sub, message, tx)
    return _reply(message)


def _not_ours(message: Incoming, tx: Tx) -> Handled:
    """Someone else's reference: a new mail that only names it is what it would be without it."""
    is_ours = lambda mid: mid.lower().endswith("@" + tx.message_id_domain.lower())  # noqa: E731
    if replied_letter(message.mail, is_ours) is None:
        if message.role == "unknown":
            return Handled(InboundState.HELD, (Reason("unknown_sender", {"email": message.sender}),))
        if message.intent == "submission":
            return handle(message, tx)
    return _reply(message)


def _reply(message: Incoming) -> Handled:
    return Handled(InboundState.HELD, (Reason("reply_to_letter", {"letter": message.follow_up or ""}),))


_LETTER = {
    "liaison_name": "王芳",
    "unit_name": "成都宏达机械有限公司",
    "reference": "BS-2026-0042",
    "title": "我公司参加2026中国国际机床展览会",
    "version": 1,
    "category_label": "工作动态",
    "received_at": "2026年11月24日 09:30",
    "attachments": [
        {"name": "展会现场照片.jpg", "width": 1600, "height": 1200},
        {"name": "新闻稿.docx", "width": None, "height": None},
    ],
    "event_on": "2026年11月10日",
    "late_days": 7,
    "window": 7,
    "urgent": False,
    "no_subject": False,
    "no_text": False,
    "text_in": "新闻稿.docx",
    "confirmed": False,
    "decided": "",
}


def workflow(secretariat: tuple[str, ...] = ()) -> Workflow:
    """`secretariat`: who is told at once of an important event's submission (same-day attention)."""

    def attended(handler: Handler) -> Handler:
        def run(message: Incoming, tx: Tx) -> Handled:
            handled = handler(message, tx)
            if handled.reference and handled.state == InboundState.PROCESSED:
                tell_if_urgent(tx, handled.reference, secretariat)
            return handled

        return run

    return Workflow(
        name="submission",
        intents={"submission": attended(handle)},
        new_record=frozenset({"submission"}),
        follow_ups={PREFIX: attended(follow_up)},
        samples={
            "ack_submission": _LETTER,
            "submission_review": {**_LETTER, "review_policy": "statement", "late_days": 0},
        },
    )
