"""The answer to each inbound message, queued in the same transaction as the message's final state.

Accepted: an acknowledgement with its reference and what was understood. Rejected: each
reason with how to put it right. Held because the sender is unknown: one explanation of how
to register, at most once a month per address. A reply to one of our letters: a note that the
secretariat has it, at most once per thread of ours. Everything else (auto-replies, bounces, list
mail, skipped or failed mail, commands, which answer for themselves) gets no answer. At most
`max_per_hour` automatic replies go to one address in any hour, so that no loop with another
robot can form: a reply over that waits, queued, until the hour frees; none is dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailflow.outbound.outbox import Draft, queue, queue_once
from mailflow.outbound.render import Renderer, local_date, local_time
from mailflow.store import InboundMessage, InboundState, Outbox
from mailflow.store.db import find_one
from mailflow.workflows.contract import Handled, Workflow, localized

if TYPE_CHECKING:
    from mailflow.context import Context

log = logging.getLogger("mailflow.send")

AUTO_REPLIED = "auto-replied"  # RFC 3834's value for an answer a program wrote
_COUNTS = "mailflow.reply_counts"  # session.info key: when each address's replies of the last hour go
_HOUR = timedelta(hours=1)
# Held before it could be read (too large, too many parts, too deep, too slow): the parse step
# lets the replies see only the header of such mail, and only when a secretariat address sent it.
UNREAD = frozenset({"too_large", "too_many_parts", "too_deep", "parse_timeout", "parse_failed"})


@dataclass(frozen=True)
class Answer:
    kind: str
    key: str
    values: dict[str, Any]
    thread: str | None = None  # our first letter's Message-ID, when this answers a reply to it


class Replies:
    """A finisher (see workflows.FINISHERS): `answer(ctx, outcome)` queues the message's reply."""

    def __init__(self, renderer: Renderer, *, zone: ZoneInfo, message_id_domain: str, max_per_hour: int = 5) -> None:
        self.renderer = renderer
        self.locale = renderer.locale
        self.zone = zone
        self.message_id_domain = message_id_domain
        self.max_per_hour = max_per_hour

    def answer(self, ctx: Context, outcome: Handled) -> None:
        row = ctx.row
        if ctx.mail is None or not row.sender or row.id is None:
            return
        answer = self._choose(ctx, outcome)
        if answer is None:
            return
        once = answer.key == _message_key(row.id) and not ctx.concluded_before  # its first and only answer
        if not once and find_one(ctx.session, Outbox, "dedupe_key", answer.key) is not None:
            return  # answered already (a reprocess, or this month's note); nothing is rendered or counted again
        planned = self._counts(ctx.session, ctx.now).setdefault(row.sender.lower(), [])
        # The cap stops loops with robots; the secretariat's command reports are not held back.
        goes = ctx.now if ctx.sender_role == "secretariat" else self._when_the_hour_frees(planned, ctx.now)
        planned.append(goes)
        notice = self._held_back(row.sender, goes, ctx.now)
        (queue_once if once else queue)(
            ctx.session,
            Draft(
                key=answer.key,
                kind=answer.kind,
                recipients=[row.sender],
                rendered=self.renderer.render(answer.kind, answer.values, sent_on=self._date(ctx.now)),
                in_reply_to=ctx.mail.message_id,
                references=_with_thread(ctx.mail.references, answer.thread),
                auto_submitted=AUTO_REPLIED,
                inbound_id=row.id,
                reference=answer.values.get("reference"),
                not_before=goes,
                notice=notice,
            ),
            now=ctx.now,
            message_id_domain=self.message_id_domain,
        )

    def _when_the_hour_frees(self, planned: list[datetime], now: datetime) -> datetime:
        """When the next reply to an address may go, given when its others go (`planned`, in order):
        now, unless `max_per_hour` go within the hour before; then an hour after the earliest of
        those. Each reply is planned after the ones before it, so `planned` stays in order."""
        if len(planned) < self.max_per_hour:
            return now
        return max(now, planned[-self.max_per_hour] + _HOUR)

    def _held_back(self, address: str, goes: datetime, now: datetime) -> str | None:
        """What the letter says while it waits (outbox list, the digest), or None when it goes now."""
        if goes <= now:
            return None
        local, today = goes.astimezone(self.zone), now.astimezone(self.zone)
        at = f"{local:%H:%M}" if local.date() == today.date() else f"{local:%Y-%m-%d %H:%M}"
        log.info("reply to %s held back until %s by the hourly cap", address, at)
        return f"held back: {self.max_per_hour} automatic replies to this address in the last hour; goes at {at}"

    def _choose(self, ctx: Context, outcome: Handled) -> Answer | None:
        row = ctx.row
        base = {"original_subject": row.subject or "", "received_at": self._time(row.received_at or ctx.now)}
        secretariat = (row.sender or "").lower() in ctx.settings.secretariat
        unread = outcome.state == InboundState.HELD and any(r.code in UNREAD for r in outcome.reasons)
        if outcome.state == InboundState.REJECTED or unread:  # unread: from the secretariat alone (steps.parse_step)
            reasons = [{"text": r.text(self.locale), "fix": r.fix(self.locale)} for r in outcome.reasons]
            values = {**base, "name": ctx.sender_name, "reasons": reasons, "secretariat": secretariat}
            return Answer("rejection", _message_key(row.id), values)
        if outcome.state == InboundState.HELD and any(r.code == "unknown_sender" for r in outcome.reasons):
            month = ctx.now.astimezone(self.zone).strftime("%Y-%m")
            key = f"reply:unknown:{(row.sender or '').lower()}:{month}"
            return Answer("unknown_sender", key, {**base, "email": row.sender})
        replied = next((r.params["letter"] for r in outcome.reasons if r.code == "reply_to_letter"), None)
        if outcome.state == InboundState.HELD and replied:
            return self._thread_answer(ctx, str(replied), base)
        if outcome.state != InboundState.PROCESSED or outcome.reply is None:
            return None  # commands answer for themselves; screened mail gets no answer
        attachments = [{"name": c.safe_name, "width": c.width, "height": c.height} for c in ctx.checks if not c.inline]
        values = {
            **base,
            "name": ctx.sender_name,
            "unit_name": ctx.member.unit_name if ctx.member else "",
            "attachments": attachments,
        }
        values.update(localized(dict(outcome.reply.values), self.locale))
        return Answer(outcome.reply.kind, _message_key(row.id), values)

    def _thread_answer(self, ctx: Context, replied: str, base: dict[str, Any]) -> Answer:
        """One letter per thread of ours, ever: a robot answering each of our letters meets silence."""
        letter = _letter(ctx.session, replied)
        thread = replied
        if letter is not None:
            domain = "@" + self.message_id_domain.lower()
            ours = [m for m in (letter.references or "").split() if m.lower().endswith(domain)]
            thread = ours[0] if ours else letter.message_id
        reference = (letter.reference if letter else None) or ("" if "@" in replied else replied)
        values = {**base, "name": ctx.sender_name, "letter_reference": reference}
        return Answer("ack_reply", f"reply:thread:{thread}", values, thread=thread)

    def _counts(self, session: Session, now: datetime) -> dict[str, list[datetime]]:
        """When each address's automatic replies go, in order, from an hour before `now` on (those
        held back included, since they fill their own hour): one query per transaction."""
        counts: dict[str, list[datetime]] | None = session.info.get(_COUNTS)
        if counts is None:
            rows = session.exec(
                select(func.lower(InboundMessage.sender), Outbox.next_attempt_at)
                .select_from(Outbox)
                .join(InboundMessage, col(InboundMessage.id) == col(Outbox.inbound_id))
                .where(col(Outbox.auto_submitted) == AUTO_REPLIED, col(Outbox.next_attempt_at) >= now - _HOUR)
                .order_by(col(Outbox.next_attempt_at))
            ).all()
            counts = {}
            for address, goes in rows:
                if address and goes:
                    counts.setdefault(address, []).append(goes)
            session.info[_COUNTS] = counts
        return counts

    def _time(self, when: datetime) -> str:
        return local_time(when, self.zone, self.locale)

    def _date(self, when: datetime) -> str:
        return local_date(when, self.zone, self.locale)


def _with_thread(references: tuple[str, ...], thread: str | None) -> tuple[str, ...]:
    """References that name the thread's first letter, so that an answer to this answer (a robot
    sets In-Reply-To alone) still leads back to it."""
    if thread is None or thread in references:
        return references
    return (thread, *references)


def _letter(session: Session, replied: str) -> Outbox | None:
    """Our letter a reply names: by its Message-ID, or the first letter that carried the reference."""
    if "@" in replied:
        return find_one(session, Outbox, "message_id", replied)
    query = select(Outbox).where(col(Outbox.reference) == replied).order_by(col(Outbox.id))
    return session.exec(query).first()


def _message_key(inbound_id: int | None) -> str:
    """The dedupe key of a message's own answer: one answer per message, ever."""
    return f"reply:{inbound_id}"


# The answers every workflow shares, with the values `mailflow check` renders them with.
WORKFLOW = Workflow(
    name="replies",
    samples={
        "rejection": {
            "name": "王芳",
            "original_subject": "【报送】新产品下线仪式",
            "received_at": "2026年11月24日 09:30",
            "reasons": [
                {
                    "text": "照片 IMG_0012.jpg 为 640×480，低于 800×600 的要求",
                    "fix": "请发送不低于 800×600 像素的原图（在手机上选择“原图”发送）。",
                }
            ],
            "secretariat": False,
        },
        "ack_reply": {
            "name": "王芳",
            "original_subject": "回复：【已收到】BS-2026-0042 我公司参加2026中国国际机床展览会",
            "received_at": "2026年11月24日 09:30",
            "letter_reference": "BS-2026-0042",
        },
        "unknown_sender": {
            "email": "someone@example.net",
            "original_subject": "咨询入会事宜",
            "received_at": "2026年11月24日 09:30",
        },
    },
)
