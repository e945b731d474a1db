"""What is known about the message in hand (Context), filled in by the steps in order, and the
plain values a workflow's handler is given from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from mailflow.classify import RuleSet
from mailflow.outbound.render import Renderer
from mailflow.parse import ParsedMail, ParseLimits
from mailflow.screen.authenticity import NO_VERDICT, Verdict
from mailflow.store import BlobStore, InboundMessage, Liaison, LiaisonStatus, Unit
from mailflow.validate import AttachmentCheck
from mailflow.workflows.contract import Incoming
from mailflow.workflows.registry import Registry
from mailflow.workflows.tx import Tx


@dataclass(frozen=True)
class PipelineSettings:
    secretariat: tuple[str, ...]
    message_id_domain: str
    zone: ZoneInfo
    limits: ParseLimits
    max_attempts: int = 3
    verp_base: str | None = None  # the envelope sender VERP addresses are made from, when on
    trusted_authserv_ids: tuple[str, ...] = ()  # whose Authentication-Results we believe


@dataclass(frozen=True)
class Member:
    """A known sender: the unit, and the liaison when the sender is one (plain values, no session)."""

    unit_id: int
    unit_name: str
    liaison_id: int | None = None
    liaison_name: str = ""


class Roster:
    """Who may write to us, by address: active liaisons and unit leaders. Read once per pass."""

    def __init__(self, session: Session) -> None:
        self.liaisons: dict[str, Member] = {}
        self.leaders: dict[str, Member] = {}
        units: dict[int | None, str] = {}
        for uid, name, leader in session.exec(select(Unit.id, Unit.name, Unit.leader_email)).all():
            units[uid] = name
            if leader and uid is not None:
                self.leaders.setdefault(leader.lower(), Member(uid, name))
        query = select(Liaison.id, Liaison.unit_id, Liaison.name, Liaison.email).where(
            Liaison.status == LiaisonStatus.ACTIVE
        )
        for lid, unit_id, name, email in session.exec(query).all():
            self.liaisons[email.lower()] = Member(unit_id, units.get(unit_id, ""), lid, name)


@dataclass
class Context:
    """Everything known about the message in hand; steps fill it in order."""

    row: InboundMessage
    raw: bytes
    session: Session
    now: datetime
    settings: PipelineSettings
    rules: RuleSet
    attachments: BlobStore
    roster: Roster
    registry: Registry
    renderer: Renderer | None = None  # for the letters a workflow writes besides its reply
    parts: BlobStore | None = None  # for the files those letters carry
    mail: ParsedMail | None = None
    sender_role: str = "unknown"
    member: Member | None = None  # the unit (and liaison) the sender speaks for
    auth: Verdict = NO_VERDICT  # what our own receiving server found about the sender
    checks: tuple[AttachmentCheck, ...] = ()
    notes: dict[str, str] = field(default_factory=dict)
    replied: str | None = None  # our letter (Message-ID or reference) this mail answers; `act` decides
    # Concluded once before (a reprocess): what was queued for it then may exist already.
    concluded_before: bool = False

    def __post_init__(self) -> None:
        self.concluded_before = self.row.processed_at is not None

    @property
    def sender_name(self) -> str:
        """How letters address the sender: the liaison's name on record, else the display name, else the address."""
        if self.member and self.member.liaison_name:
            return self.member.liaison_name
        sender = self.parsed.from_
        return (sender.name if sender and sender.name else "") or (self.row.sender or "")

    @property
    def parsed(self) -> ParsedMail:
        assert self.mail is not None, "the parse step runs first"
        return self.mail

    def tx(self) -> Tx:
        """The transaction helper a handler writes through."""
        return Tx(
            self.session,
            now=self.now,
            zone=self.settings.zone,
            message_id_domain=self.settings.message_id_domain,
            renderer=self.renderer,
            parts=self.parts,
        )

    def incoming(self) -> Incoming:
        """What the handlers see of the message: plain values."""
        member = self.member
        return Incoming(
            inbound_id=self.row.id or 0,
            intent=self.row.intent or "unknown",
            category=self.row.category,
            sender=(self.row.sender or "").lower(),
            role=self.sender_role,
            name=self.sender_name,
            unit_id=member.unit_id if member else None,
            unit_name=member.unit_name if member else "",
            liaison_id=member.liaison_id if member else None,
            mail=self.parsed,
            checks=self.checks,
            authenticated=self.auth.authenticated,
            received_at=self.row.received_at or self.now,
            policy=self.rules.policy,
            submissions=self.rules.submissions,
        )
