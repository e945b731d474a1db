"""联络员名录 (Art. 3): the secretariat publishes the list of approved liaisons; this sends it to them.

Once a day, at `roster.at` (after the day's approvals), the job compares the roster as it would be
published now with the last one sent: the sha256 of its rows (members.roster), kept in roster_issue.
When they differ, or when none was ever sent and there are liaisons, it numbers a new issue
(MC-2026-0001), keeps the roster as one .xlsx among the outgoing parts, and queues one letter to every
active liaison (with `recipients: liaisons_and_leaders`, to every listed unit's leader too), all
carrying that one file. It is one letter to all ("各会员单位联络员："), rendered once, and the letters
go into the outbox in one statement, under the keys `roster:<reference>:<address>`, in the transaction
that records the issue and the job's slot. So a crash before the commit leaves nothing (the issue, its
number and its letters are undone together) and the next run starts afresh, and after the commit the
slot is recorded: no letter is ever queued twice.

The automatic letter goes at most once a local day: when `mailflow roster send` sent one earlier that
day, the job leaves a later change for the next day. `mailflow roster send` runs the same code at once,
when the roster has changed, or whatever the case with --force.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_
from sqlmodel import Session, col, select

from mailflow.jobs.scheduler import Job, JobContext
from mailflow.members.roster import Roster, collation, entries, make_roster
from mailflow.outbound.outbox import Draft, queue_once
from mailflow.outbound.render import Renderer, local_date, local_time
from mailflow.store import BlobStore, Change, Liaison, LiaisonStatus, RosterIssue, Unit
from mailflow.workflows.contract import DigestItem, DigestSection, Workflow
from mailflow.workflows.tx import Tx

PREFIX = "MC"  # 名册
KIND = "roster_letter"
NAMED = 20  # units whose liaison changed, named in the letter; the rest are counted
KEY_LENGTH = 200  # Outbox.dedupe_key


@dataclass(frozen=True)
class RosterPolicy:
    automatic: bool = True  # roster.send: on_change; False: never (only `mailflow roster send`)
    at: str = "17:00"  # local time of the daily look for a change
    leaders: bool = False  # the letter goes to the listed units' leaders too
    phones: bool = True  # the roster shows the liaisons' mobile numbers
    classes: tuple[str, ...] = ()  # 会员类别 in the roster's order (members.roster.CLASSES when empty)


@dataclass(frozen=True)
class Issued:
    """What a look at the roster came to: `outcome` is sent, unchanged, empty or sent today."""

    outcome: str
    reference: str | None = None  # the new issue's; the last one's when nothing was sent
    at: datetime | None = None  # when that issue was sent
    letters: int = 0
    units: int = 0
    liaisons: int = 0


class Publication:
    """The roster workflow: its daily job, the roster as published now, and the letter that sends it."""

    def __init__(
        self,
        renderer: Renderer,
        policy: RosterPolicy,
        *,
        parts: BlobStore,
        chamber: str,
        zone: ZoneInfo,
        message_id_domain: str,
    ) -> None:
        self.renderer, self.policy, self.parts = renderer, policy, parts
        self.chamber, self.zone, self.message_id_domain = chamber, zone, message_id_domain
        self.locale = renderer.locale

    def workflow(self) -> Workflow:
        at = self.policy.at
        jobs = (Job("roster", lambda s: s.every().day.at(at), self.run, once_a_day=True),)
        section = DigestSection("roster", ("联络员名录印发", "Liaison roster sent"), self.sent_since)
        return Workflow(name="roster", jobs=jobs if self.policy.automatic else (), digest=(section,), samples=SAMPLES)

    def run(self, job: JobContext) -> str:
        """The job: send the roster when it has changed, unless one was sent earlier today."""
        issued = self.publish(self.tx(job.session, job.now), once_a_day=True)
        return f"{issued.outcome} {issued.reference or ''}".strip()

    def tx(self, session: Session, now: datetime) -> Tx:
        return Tx(
            session, now=now, zone=self.zone, message_id_domain=self.message_id_domain, renderer=self.renderer,
            parts=self.parts,
        )  # fmt: skip

    def current(self, session: Session, now: datetime) -> Roster:
        """The roster as it would be published at `now`."""
        english = self.locale.startswith("en")
        on = now.astimezone(self.zone).date()
        policy = self.policy
        return make_roster(
            entries(session), chamber=self.chamber, on=on, english=english, classes=policy.classes,
            phones=policy.phones,
        )  # fmt: skip

    def publish(self, tx: Tx, *, force: bool = False, once_a_day: bool = False) -> Issued:
        """Queue the roster letter when the roster differs from the last one sent (or `force`)."""
        roster = self.current(tx.session, tx.now)
        last = tx.session.exec(select(RosterIssue).order_by(col(RosterIssue.id).desc())).first()
        if not roster.rows:
            return Issued("empty", last.reference if last else None, last.at if last else None)
        if last is not None and not force:
            if last.sha256 == roster.fingerprint:
                return Issued("unchanged", last.reference, last.at, units=last.units, liaisons=last.liaisons)
            if once_a_day and last.at is not None and tx.local(last.at).date() == tx.local().date():
                return Issued("sent today", last.reference, last.at)
        reference = tx.reference(PREFIX)
        filename = roster.filename(".xlsx")
        part = tx.attach(roster.xlsx(), filename)
        recipients = self._recipients(tx.session)
        rendered = self.renderer.render(
            KIND,
            self._values(tx, roster, reference, filename, last),
            sent_on=local_date(tx.now, self.zone, self.locale),
        )
        queue_once(
            tx.session,
            *(
                Draft(letter_key(reference, to), KIND, [to], rendered, reference=reference, attachments=(part,))
                for to in recipients
            ),
            now=tx.now,
            message_id_domain=tx.message_id_domain,
        )
        tx.add(
            RosterIssue(
                reference=reference, at=tx.now, sha256=roster.fingerprint, units=roster.units,
                liaisons=roster.liaisons, letters=len(recipients), file_sha256=part.sha256, forced=force,
            )
        )  # fmt: skip
        return Issued("sent", reference, tx.now, len(recipients), roster.units, roster.liaisons)

    def _recipients(self, session: Session) -> list[str]:
        """Every active liaison's address (and the leaders' of their units), each once, lower case."""
        liaisons = select(Liaison.email).where(Liaison.status == LiaisonStatus.ACTIVE).order_by(col(Liaison.id))
        found = list(session.exec(liaisons).all())
        if self.policy.leaders:
            listed = select(Liaison.unit_id).where(Liaison.status == LiaisonStatus.ACTIVE)
            leaders = select(Unit.leader_email).where(col(Unit.id).in_(listed), col(Unit.leader_email).is_not(None))
            found += [email for email in session.exec(leaders.order_by(col(Unit.id))).all() if email]
        return list(dict.fromkeys(email.strip().lower() for email in found))

    def _values(
        self, tx: Tx, roster: Roster, reference: str, filename: str, last: RosterIssue | None
    ) -> dict[str, Any]:
        changed = self._changed_since(tx.session, last) if last is not None else []
        return {
            "title": roster.title,
            "reference": reference,
            "units": roster.units,
            "liaisons": roster.liaisons,
            "leaders": self.policy.leaders,
            "previous": last.reference if last else "",
            "changed": changed[:NAMED],
            "more": max(0, len(changed) - NAMED),
            "filename": filename,
        }

    def _changed_since(self, session: Session, last: RosterIssue) -> list[str]:
        """The units whose liaison, name or class changed since the last issue, in the roster's order."""
        query = (
            select(Unit.name)
            .join(Change, col(Change.unit_id) == col(Unit.id))
            .where(
                col(Change.at) > last.at,
                or_(col(Change.kind) == "liaison", col(Change.field).in_(("name", "member_class"))),
            )
            .distinct()
        )
        return sorted(session.exec(query).all(), key=collation)

    def sent_since(self, session: Session, since: datetime, now: datetime, locale: str) -> list[DigestItem]:
        """The digest's line for each roster sent since the last digest."""
        query = select(RosterIssue).where(col(RosterIssue.at) > since).order_by(col(RosterIssue.id))
        items = []
        for issue in session.exec(query).all():
            when = local_time(issue.at or now, self.zone, locale)
            if locale.startswith("en"):
                summary = f"{when}: {issue.units} unit(s), {issue.liaisons} liaison(s), {issue.letters} letter(s)"
            else:
                summary = f"{when} 印发：{issue.units} 家单位、{issue.liaisons} 名联络员，发出 {issue.letters} 封"
            items.append(DigestItem(issue.reference, summary))
        return items


def letter_key(reference: str, address: str) -> str:
    """roster:MC-2026-0001:wangfang@hongda.cn; an address too long for the key column by its sha256."""
    key = f"roster:{reference}:{address}"
    return key if len(key) <= KEY_LENGTH else f"roster:{reference}:{hashlib.sha256(address.encode()).hexdigest()}"


SAMPLES: dict[str, dict[str, Any]] = {
    KIND: {
        "title": "成都市机械制造业商会联络员名录（2026年12月1日）",
        "reference": "MC-2026-0003",
        "units": 238,
        "liaisons": 240,
        "leaders": False,
        "previous": "MC-2026-0002",
        "changed": ["成都宏达机械有限公司", "四川天府精密制造有限公司"],
        "more": 0,
        "filename": "成都市机械制造业商会联络员名录（2026年12月1日）.xlsx",
    }
}
