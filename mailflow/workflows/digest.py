"""每日摘要: the secretariat's daily digest, one scheduled job (see mailflow.jobs).

It lists what needs a decision: new registrations, submissions received, held messages,
letters that could not be delivered (dead, ambiguous, bounced) and flagged addresses, and
what falls due in the coming days; each item with its reference and the reply command that
settles it. It is queued under the key `digest:<local date>`, so one day is one digest whoever
runs it, and whatever time `digest.at` says. "New" means since the previous digest's slot (the
day before, for the first one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from mailflow.config import DigestSettings
from mailflow.jobs.scheduler import JobContext
from mailflow.outbound.outbox import Draft, queue
from mailflow.outbound.render import Renderer, local_date, local_time
from mailflow.reasons import Reason, in_locale
from mailflow.store import (
    AddressFlag,
    InboundMessage,
    InboundState,
    Outbox,
    OutboxState,
    Registration,
    Submission,
    Unit,
)

# What a reply command looks like, per locale. The commands themselves are read by a later
# workflow; the digest already names them so that the secretariat learns one way of working.
COMMANDS = {
    "approve": ("#批准 {ref}", "#approve {ref}"),
    "accept": ("#采用 {ref}", "#accept {ref}"),
    "reprocess": ("#重新处理 {ref}", "#reprocess {ref}"),
    "resend": ("#重发 {ref}", "#resend {ref}"),
    "fix_address": ("#更正邮箱 {ref} 新邮箱", "#fix-address {ref} new-address"),
}
TITLES = {
    "registrations": ("联络员登记待审核", "Registrations awaiting approval"),
    "submissions": ("新收报送信息", "Submissions received"),
    "held": ("待人工处理的来信", "Messages held for the secretariat"),
    "failed": ("未能送达的邮件", "Letters not delivered"),
    "addresses": ("退信的邮箱", "Addresses that bounce"),
    "due": ("近期到期事项", "Falling due in the coming days"),
}
FAILED_STATES = (OutboxState.DEAD, OutboxState.AMBIGUOUS, OutboxState.BOUNCED)


@dataclass
class Section:
    title: str
    items: list[dict[str, str]] = field(default_factory=list)


class Digest:
    def __init__(
        self,
        renderer: Renderer,
        settings: DigestSettings,
        *,
        secretariat: tuple[str, ...],
        zone: ZoneInfo,
        message_id_domain: str,
    ) -> None:
        self.renderer, self.settings, self.zone = renderer, settings, zone
        self.locale = renderer.locale
        self.recipients = settings.recipients or secretariat
        self.message_id_domain = message_id_domain

    def run(self, job: JobContext) -> str:
        """The job: gather, then queue one digest for the slot (or none when there is nothing)."""
        if not self.recipients:
            return "no recipients"
        since = job.previous or job.slot - timedelta(days=1)
        sections = [s for s in self.gather(job.session, since, job.now) if s.items]
        if not sections and self.settings.when_empty == "skip":
            return "empty"
        values: dict[str, Any] = {
            "date": local_date(job.slot, self.zone, self.locale),
            "as_of": local_time(job.now, self.zone, self.locale),
            "since": local_time(since, self.zone, self.locale),
            "total": sum(len(s.items) for s in sections),
            "sections": [{"title": s.title, "items": s.items} for s in sections],
        }
        queue(
            job.session,
            Draft(
                key=f"digest:{job.key}",
                kind="digest",
                recipients=list(self.recipients),
                rendered=self.renderer.render("digest", values, sent_on=values["date"]),
            ),
            now=job.now,
            message_id_domain=self.message_id_domain,
        )
        return "queued"

    def gather(self, session: Session, since: datetime, now: datetime) -> list[Section]:
        units: dict[int | None, str] = dict(session.exec(select(Unit.id, Unit.name)).all())
        return [
            self._registrations(session, units),
            self._submissions(session, since, units),
            self._held(session),
            self._failed(session),
            self._addresses(session, since),
            self._due(session, now),
        ]

    # -- sections ---------------------------------------------------------------------------

    def _registrations(self, session: Session, units: dict[int | None, str]) -> Section:
        section = self._section("registrations")
        for reg in session.exec(
            select(Registration).where(Registration.state == "pending").order_by(col(Registration.id))
        ).all():
            who = " ".join(x for x in (units.get(reg.unit_id, ""), reg.name, reg.email) if x)
            section.items.append(self._item(reg.reference, who, "approve"))
        return section

    def _submissions(self, session: Session, since: datetime, units: dict[int | None, str]) -> Section:
        section = self._section("submissions")
        for sub in session.exec(
            select(Submission).where(col(Submission.created_at) >= since).order_by(col(Submission.id))
        ).all():
            summary = f"{units.get(sub.unit_id, '')} {sub.title}".strip()
            section.items.append(self._item(sub.reference, summary, "accept"))
        return section

    def _held(self, session: Session) -> Section:
        section = self._section("held")
        for msg in session.exec(
            select(InboundMessage).where(InboundMessage.state == InboundState.HELD).order_by(col(InboundMessage.id))
        ).all():
            why = "；".join(Reason.from_json(r).text(self.locale) for r in msg.reasons) if msg.reasons else ""
            summary = f"{msg.sender or '?'}{self._quoted(msg.subject or '')} {why}".strip()
            section.items.append(self._item(f"#{msg.id}", summary, "reprocess", ref=str(msg.id)))
        return section

    def _failed(self, session: Session) -> Section:
        section = self._section("failed")
        for row in session.exec(
            select(Outbox).where(col(Outbox.state).in_(FAILED_STATES)).order_by(col(Outbox.id))
        ).all():
            to = ", ".join(row.recipients)
            summary = f"{to}{self._quoted(row.subject)} {self._state(row.state)}{self._colon}{row.last_error or ''}"
            section.items.append(self._item(f"#{row.id}", summary, "resend", ref=str(row.id)))
        return section

    def _addresses(self, session: Session, since: datetime) -> Section:
        section = self._section("addresses")
        for flag in session.exec(
            select(AddressFlag).where(col(AddressFlag.last_at) >= since).order_by(col(AddressFlag.id))
        ).all():
            summary = f"{flag.reason} ×{flag.bounces}"
            section.items.append(self._item(flag.email, summary, "fix_address"))
        return section

    def _due(self, session: Session, now: datetime) -> Section:
        """What falls due soon. For now: letters waiting to be tried again, and letters held back
        by the hourly cap on automatic replies; meetings, requests and dues join this list with
        their workflows."""
        section = self._section("due")
        until = now + timedelta(days=self.settings.days_ahead)
        waiting = or_(
            col(Outbox.state) == OutboxState.RETRY,
            and_(col(Outbox.state) == OutboxState.QUEUED, col(Outbox.next_attempt_at) > now),
        )
        for row in session.exec(
            select(Outbox).where(waiting, col(Outbox.next_attempt_at) <= until).order_by(col(Outbox.next_attempt_at))
        ).all():
            when = local_time(row.next_attempt_at or now, self.zone, self.locale)
            label = in_locale(
                ("重试", "retry") if row.state == OutboxState.RETRY else ("延后发送", "held back"), self.locale
            )
            to = ", ".join(row.recipients)
            summary = f"{when} {label}{self._colon}{to}{self._quoted(row.subject)} {row.last_error or ''}"
            section.items.append(self._item(f"#{row.id}", summary, "resend", ref=str(row.id)))
        return section

    # -- helpers ----------------------------------------------------------------------------

    def _section(self, name: str) -> Section:
        return Section(in_locale(TITLES[name], self.locale))

    def _item(self, shown: str, summary: str, command: str, *, ref: str | None = None) -> dict[str, str]:
        text = in_locale(COMMANDS[command], self.locale).format(ref=ref or shown)
        # A cell of the digest's tables: one line, and no "|" to split it.
        return {"ref": _cell(shown), "summary": _cell(summary)[:300], "command": _cell(text)}

    @property
    def _en(self) -> bool:
        return self.locale.startswith("en")

    @property
    def _colon(self) -> str:
        return ": " if self._en else "："

    def _quoted(self, subject: str) -> str:
        return f" “{subject}”" if self._en else f"《{subject}》"

    def _state(self, state: str) -> str:
        names = {
            "dead": ("发送失败", "failed"),
            "ambiguous": ("送达情况不明", "outcome unknown"),
            "bounced": ("被退回", "bounced"),
        }
        return in_locale(names.get(state, (state, state)), self.locale)


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "｜").split())
