"""Answers to a request: a reply to its letter (or its reminder), or any mail naming ZJ-… in its
subject, from a liaison or the leader of a unit, is that unit's response.

A response that carries something (text beyond a bare "收到", or files) is also a submission: the
submission workflow's own `handle` makes it (Ch. 4 is its business), and it is marked as answering
the request. The unit's first response is recorded on its recipient row: when it came, and whether
it came after the due date (`late`). A late response counts, but the miss the deadline job records
stays (Art. 4 counts who did not deliver in time); one that comes after the request closed is
taken the same way, and its answer says when the request closed. A unit that was not asked may
answer too: its submission is kept and linked to the request, the row of those asked is not
touched, and `mailflow requests show` lists it apart. A bare acknowledgement ("收到，谢谢") is no
response: it is recorded as read, and not answered (an answer to it would invite another).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

from sqlmodel import col, select

from mailflow.commands import own_text
from mailflow.reasons import Reason
from mailflow.store import InboundState, InfoRequest, RequestRecipient, Submission
from mailflow.workflows import messages
from mailflow.workflows.contract import Handled, Handler, Incoming, Reply
from mailflow.workflows.requests.sending import ACK, day_words
from mailflow.workflows.tx import Tx

REFERENCE = re.compile(r"(?<![A-Za-z0-9])(ZJ-\d{4}-\d{4,})(?![0-9])", re.I)
# What a bare acknowledgement says, all of it (spaces and punctuation removed).
_COURTESY = re.compile(
    r"(?:已?收到|收悉|已收悉|已阅|好的?|明白|知道了|谢谢(?:您|你)?|多谢|辛苦了?|ok(?:ay)?|received|noted|thanks?|thankyou)+",
    re.I,
)
_NOT_WORDS = re.compile(r"[\W_]+")
_SIGNATURE_LINES, _SIGNATURE_WIDTH = 5, 40  # a name, a unit, a phone: what may follow "收到"


class Responses:
    def __init__(self, submit: Handler) -> None:
        self.submit = submit  # the submission workflow's handler: it makes the Submission and its answer

    def follow_up(self, message: Incoming, tx: Tx) -> Handled:
        """A reply to a request's letter, or a mail naming ZJ-… (see Workflow.follow_ups)."""
        request = tx.find(InfoRequest, "reference", (message.follow_up or "").upper())
        if request is None or message.unit_id is None or message.role not in ("liaison", "leader"):
            return Handled(InboundState.HELD, (Reason("reply_to_letter", {"letter": message.follow_up or ""}),))
        return self.respond(request, message, tx)

    def unlinked(self, message: Incoming, tx: Tx) -> Handled:
        """A mail the rules call an answer to a request (【反馈】…) that follows up no letter: the
        request its subject names, else the only open one its unit was asked; else it is
        acknowledged as a message for the secretariat to read, as before there were requests."""
        named = REFERENCE.search(message.mail.subject)
        request = tx.find(InfoRequest, "reference", named.group(1).upper()) if named else None
        if request is None and message.unit_id is not None:
            open_ones = tx.session.exec(
                select(InfoRequest)
                .join(RequestRecipient, col(RequestRecipient.request_id) == col(InfoRequest.id))
                .where(col(RequestRecipient.unit_id) == message.unit_id, col(InfoRequest.closed_at).is_(None))
                .limit(2)
            ).all()
            request = open_ones[0] if len(open_ones) == 1 else None
        if request is None or message.unit_id is None:
            return messages.acknowledge(message, tx)
        return self.respond(request, message, tx)

    def respond(self, request: InfoRequest, message: Incoming, tx: Tx) -> Handled:
        if bare_receipt(message):
            return Handled(reasons=(Reason("request_receipt_only", {"reference": request.reference}),))
        refused = tuple(r for check in message.checks for r in check.reasons)
        if refused:  # a follow-up's files were left to us to judge (steps.validate): as a submission's
            return Handled(InboundState.REJECTED, refused)
        done = tx.find(Submission, "inbound_id", message.inbound_id)  # a reprocess: made the first time
        made = Handled(reference=done.reference, reply=Reply("ack_submission", {})) if done else None
        handled = made or self.submit(message, tx)
        if handled.state != InboundState.PROCESSED or handled.reference is None:
            return handled
        submission = tx.find(Submission, "reference", handled.reference)
        if submission is not None:
            submission.request_id = request.id
        answered = tx.local(message.received_at).date()  # delivered, not read: a backlog is not late
        row = tx.session.exec(
            select(RequestRecipient).where(
                RequestRecipient.request_id == request.id, RequestRecipient.unit_id == message.unit_id
            )
        ).first()
        first = row is not None and row.answered_at is None
        if row is not None and first:
            row.answered_at, row.answer_inbound_id = message.received_at, message.inbound_id
            if submission is not None and submission.id is None:
                tx.session.flush()  # the submission's id, for the row that names it
            row.submission_id = submission.id if submission is not None else None
            row.late = answered > request.due
            if not row.late:  # came in time, read after the close (the daemon was down): no miss
                row.missed = False
        if handled.reply is None or handled.reply.kind != "ack_submission":
            return handled  # the submission's own answer (what to add before it is complete) comes first
        closed = tx.local(request.closed_at).date() if request.closed_at else None
        values = {
            **handled.reply.values,
            **answer_values(request, answered, closed, asked=row is not None, first=first),
        }
        return replace(handled, reply=Reply(ACK, values))


def answer_values(
    request: InfoRequest, answered: date, closed: date | None, *, asked: bool, first: bool
) -> dict[str, object]:
    """What the answer to a response says of the request: late by how many days, closed since when."""
    return {
        "request_reference": request.reference,
        "request_title": request.title,
        "due": day_words(request.due),
        "days_after_due": max(0, (answered - request.due).days),
        "closed_on": day_words(closed) if closed else "",
        "asked": asked,
        "first": first,
    }


def bare_receipt(message: Incoming) -> bool:
    """Only "收到" (谢谢, 好的, received…), perhaps under a salutation and over a short signature, and no file."""
    if any(not check.inline for check in message.checks):
        return False
    lines = [line.strip() for line in own_text(message.mail.text).splitlines() if line.strip()]
    if lines and lines[0].endswith((":", "：")) and len(lines[0]) <= 20:  # 秘书处：
        lines = lines[1:]
    if not lines:
        return True
    said, signature = _NOT_WORDS.sub("", lines[0]), lines[1:]
    short = len(signature) <= _SIGNATURE_LINES and all(len(line) <= _SIGNATURE_WIDTH for line in signature)
    return bool(_COURTESY.fullmatch(said)) and short
