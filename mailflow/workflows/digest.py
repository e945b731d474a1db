"""每日摘要: the secretariat's daily digest, one scheduled job (see mailflow.jobs).

Its sections come from the workflows (registry order), those that need a decision first; each
item carries the command line that settles it, written from the command table, so the digest
never names a command that does not exist. The desk's own sections (held mail, letters not
delivered, addresses that bounce, what falls due) are declared here. It is queued under the key
`digest:<local date>`, so one day is one digest whoever runs it, and whatever time `digest.at`
says. "New" means since the previous digest's slot (the day before, for the first one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from mailflow.jobs.scheduler import Job, JobContext
from mailflow.outbound.outbox import Draft, queue
from mailflow.outbound.render import Renderer, local_date, local_time
from mailflow.reasons import Reason, in_locale
from mailflow.store import AddressFlag, InboundMessage, InboundState, Outbox, OutboxState
from mailflow.workflows.contract import DigestItem, DigestSection, Words, Workflow

if TYPE_CHECKING:
    from mailflow.workflows.registry import Registry

FAILED_STATES = (OutboxState.DEAD, OutboxState.AMBIGUOUS, OutboxState.BOUNCED)


@dataclass(frozen=True)
class DigestPolicy:
    at: str = "08:30"  # local time in the chamber's zone, every day
    recipients: tuple[str, ...] = ()  # the secretariat when empty
    send_when_empty: bool = False
    days_ahead: int = 7  # "falls due in the coming days" looks this far


class Digest:
    def __init__(
        self,
        renderer: Renderer,
        settings: DigestPolicy,
        *,
        secretariat: tuple[str, ...],
        zone: ZoneInfo,
        message_id_domain: str,
    ) -> None:
        self.renderer, self.settings, self.zone = renderer, settings, zone
        self.locale = renderer.locale
        self.recipients = settings.recipients or secretariat
        self.message_id_domain = message_id_domain
        self.registry: Registry | None = None  # bound once the registry is built (it holds this job)

    def workflow(self) -> Workflow:
        at = self.settings.at
        return Workflow(
            name="digest",
            # One digest a day, even on the day `digest.at` is moved later.
            jobs=(Job("digest", lambda s: s.every().day.at(at), self.run, once_a_day=True),),
            digest=self.desk(),
            samples={"digest": SAMPLE},
        )

    def desk(self) -> tuple[DigestSection, ...]:
        """The secretariat's own sections, after the workflows' (those needing a decision go first)."""
        return (
            DigestSection("held", ("待人工处理的来信", "Messages held for the secretariat"), held, decision=True),
            DigestSection("failed", ("未能送达的邮件", "Letters not delivered"), failed, decision=True),
            DigestSection("addresses", ("退信的邮箱", "Addresses that bounce"), bouncing, decision=True),
            falling_due(self.settings.days_ahead, self.zone),
        )

    def run(self, job: JobContext) -> str:
        """The job: gather, then queue one digest for the slot (or none when there is nothing)."""
        if not self.recipients:
            return "no recipients"
        since = job.previous or job.slot - timedelta(days=1)
        gathered = [s for s in self.gather(job.session, since, job.now) if s["items"]]
        # Item by item, each with its command, what needs a decision first; routine sections are counted.
        sections = [s for s in gathered if not s["counted"]]
        counts = [{"title": s["title"], "count": len(s["items"])} for s in gathered if s["counted"]]
        if not gathered and not self.settings.send_when_empty:
            return "empty"
        values: dict[str, Any] = {
            "date": local_date(job.slot, self.zone, self.locale),
            "as_of": local_time(job.now, self.zone, self.locale),
            "since": local_time(since, self.zone, self.locale),
            "total": sum(len(s["items"]) for s in sections),
            "sections": sections,
            "counts": counts,
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

    def gather(self, session: Session, since: datetime, now: datetime) -> list[dict[str, Any]]:
        """Every section with its items, in registry order, those that need a decision first."""
        declared = self.registry.sections if self.registry is not None else self.desk()
        ordered = sorted(declared, key=lambda section: not section.decision)
        return [
            {
                "title": in_locale(section.title, self.locale),
                "items": [self._item(item) for item in section.gather(session, since, now, self.locale)],
                "counted": section.counted,
            }
            for section in ordered
        ]

    def _item(self, item: DigestItem) -> dict[str, str]:
        # A cell of the digest's tables: one line, and no "|" to split it.
        return {"ref": _cell(item.ref), "summary": _cell(item.summary)[:300], "command": _cell(self._command(item))}

    def _command(self, item: DigestItem) -> str:
        spec = self.registry.command(item.command) if self.registry is not None and item.command else None
        if spec is None:
            return ""
        verb = spec.verbs[1] if self.locale.startswith("en") and len(spec.verbs) > 1 else spec.verbs[0]
        args = in_locale(item.args, self.locale) if isinstance(item.args, Words) else item.args
        return f"#{verb} {args or item.ref}"


# -- the desk's own sections ---------------------------------------------------------------


def held(session: Session, since: datetime, now: datetime, locale: str) -> list[DigestItem]:
    items = []
    for msg in session.exec(
        select(InboundMessage).where(InboundMessage.state == InboundState.HELD).order_by(col(InboundMessage.id))
    ).all():
        why = "；".join(Reason.from_json(r).text(locale) for r in msg.reasons) if msg.reasons else ""
        summary = f"{msg.sender or '?'}{_quoted(msg.subject or '', locale)} {why}".strip()
        items.append(DigestItem(f"#{msg.id}", summary, "reprocess", str(msg.id)))
    return items


def failed(session: Session, since: datetime, now: datetime, locale: str) -> list[DigestItem]:
    items = []
    for row in session.exec(select(Outbox).where(col(Outbox.state).in_(FAILED_STATES)).order_by(col(Outbox.id))).all():
        to = ", ".join(row.recipients)
        summary = (
            f"{to}{_quoted(row.subject, locale)} {_state(row.state, locale)}{_colon(locale)}{row.last_error or ''}"
        )
        items.append(DigestItem(f"#{row.id}", summary, "resend", str(row.id)))
    return items


def bouncing(session: Session, since: datetime, now: datetime, locale: str) -> list[DigestItem]:
    query = select(AddressFlag).where(col(AddressFlag.last_at) >= since).order_by(col(AddressFlag.id))
    return [
        DigestItem(
            flag.email,
            f"{flag.reason} ×{flag.bounces}",
            "fix_address",
            Words(f"{flag.email} 新邮箱", f"{flag.email} new-address"),
        )
        for flag in session.exec(query).all()
    ]


def falling_due(days_ahead: int, zone: ZoneInfo) -> DigestSection:
    """What falls due soon. For now: letters waiting to be tried again, and letters held back by
    the hourly cap on automatic replies; meetings, requests and dues add sections of their own."""

    def gather(session: Session, since: datetime, now: datetime, locale: str) -> list[DigestItem]:
        until = now + timedelta(days=days_ahead)
        waiting = or_(
            col(Outbox.state) == OutboxState.RETRY,
            and_(col(Outbox.state) == OutboxState.QUEUED, col(Outbox.next_attempt_at) > now),
        )
        items = []
        for row in session.exec(
            select(Outbox).where(waiting, col(Outbox.next_attempt_at) <= until).order_by(col(Outbox.next_attempt_at))
        ).all():
            when = local_time(row.next_attempt_at or now, zone, locale)
            label = in_locale(
                ("重试", "retry") if row.state == OutboxState.RETRY else ("延后发送", "held back"), locale
            )
            to = ", ".join(row.recipients)
            summary = f"{when} {label}{_colon(locale)}{to}{_quoted(row.subject, locale)} {row.last_error or ''}"
            items.append(DigestItem(f"#{row.id}", summary, "resend", str(row.id)))
        return items

    return DigestSection("due", ("近期到期事项", "Falling due in the coming days"), gather)


def _colon(locale: str) -> str:
    return ": " if locale.startswith("en") else "："


def _quoted(subject: str, locale: str) -> str:
    return f" “{subject}”" if locale.startswith("en") else f"《{subject}》"


def _state(state: str, locale: str) -> str:
    names = {
        "dead": ("发送失败", "failed"),
        "ambiguous": ("送达情况不明", "outcome unknown"),
        "bounced": ("被退回", "bounced"),
    }
    return in_locale(names.get(state, (state, state)), locale)


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "｜").split())


SAMPLE: dict[str, Any] = {
    "date": "2026年11月24日",
    "as_of": "2026年11月24日 08:30",
    "since": "2026年11月23日 08:30",
    "total": 3,
    "counts": [{"title": "新收报送信息", "count": 12}],
    "sections": [
        {
            "title": "联络员登记待审核",
            "items": [
                {
                    "ref": "DJ-2026-0007",
                    "summary": "成都宏达机械有限公司 李明 liming@example.cn",
                    "command": "#批准 DJ-2026-0007",
                }
            ],
        },
        {
            "title": "未能送达的邮件",
            "items": [
                {
                    "ref": "#12",
                    "summary": "wang@example.cn《【已收到】BS-2026-0042》 发送失败：550 5.1.1 no such user",
                    "command": "#重发 12",
                },
                {
                    "ref": "#15",
                    "summary": "li@example.cn《【已收到】BS-2026-0043》 被退回：5.2.2 mailbox full",
                    "command": "#重发 15",
                },
            ],
        },
    ],
}
