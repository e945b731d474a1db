"""The steps of the pipeline, in the order of the STEPS tuple: parse -> screen -> identify ->
classify -> validate -> act.

A step either adds to the Context or returns an Handled, which ends the run for that message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from mailflow.classify import Facts, RuleSet, classify
from mailflow.errors import ParseError
from mailflow.parse import ParsedMail, ParseLimits, parse
from mailflow.parse.limits import header_size
from mailflow.reasons import Reason
from mailflow.screen import auto_reply_reason, bounce_reason, machine_report_reason
from mailflow.screen.authenticity import NO_VERDICT, Verdict, verdict
from mailflow.screen.threads import replied_letter
from mailflow.store import (
    BlobStore,
    InboundMessage,
    InboundState,
    Liaison,
    LiaisonStatus,
    StoredAttachment,
    Unit,
)
from mailflow.validate import AttachmentCheck, validate_attachments
from mailflow.outbound.render import Renderer
from mailflow.workflows.contract import Handled, Incoming
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


class Step(Protocol):
    name: str

    def __call__(self, ctx: Context) -> Handled | None: ...


def _step(name: str) -> Callable[[Callable[[Context], Handled | None]], Step]:
    def wrap(fn: Callable[[Context], Handled | None]) -> Step:
        fn.name = name  # type: ignore[attr-defined]
        return fn  # type: ignore[return-value]

    return wrap


@_step("parse")
def parse_step(ctx: Context) -> Handled | None:
    row = ctx.row
    if row.headers_only:
        limit_mb = round(ctx.settings.limits.max_message_bytes / 1048576)
        return _unread(ctx, Reason("too_large", {"size_mb": round(row.size / 1048576, 1), "limit_mb": limit_mb}))
    if not ctx.raw.strip():
        return Handled(InboundState.HELD, (Reason("empty_message"),))
    try:
        ctx.mail = parse(ctx.raw, ctx.settings.limits)
    except ParseError as exc:
        return _unread(ctx, exc.reason)
    _name_row(row, ctx.mail)
    return None


def _name_row(row: InboundMessage, mail: ParsedMail) -> None:
    row.subject = mail.subject[:2000]
    row.sender = mail.from_.email[:320] if mail.from_ and mail.from_.email else None
    if mail.message_id and not row.message_id:
        row.message_id = mail.message_id[:998]


def _unread(ctx: Context, reason: Reason) -> Handled:
    """Held before it could be read: its header alone is read, so that the listings and the digest say
    who sent what. The secretariat is also told why (workflows.replies), which is what `ctx.mail` is
    set for: an answer to a secretariat address reaches our own staff whoever wrote the From, where
    one to anybody else could reach whoever a forger imitated (the From is not checked here)."""
    header = parse_header(ctx.raw, ctx.settings.limits)
    if header is not None:
        _name_row(ctx.row, header)
        ours = header.from_ is not None and header.from_.email in ctx.settings.secretariat
        if ours and not header.sender_problem and not auto_reply_reason(header) and not bounce_reason(header):
            ctx.mail = header
    return Handled(InboundState.HELD, (reason,))


@_step("screen")
def screen_step(ctx: Context) -> Handled | None:
    if why := machine_report_reason(ctx.parsed):  # before bounces: a complaint from postmaster@ bounced nothing
        return Handled(InboundState.IGNORED, (Reason("machine_report", {"why": why}),))
    # Bounces first: many carry Auto-Submitted too, and they are matched to our mail later.
    why = bounce_reason(ctx.parsed)
    if why:
        ctx.row.intent = "bounce"
        return Handled(InboundState.IGNORED, (Reason("bounce", {"why": why}),))
    why = auto_reply_reason(ctx.parsed)
    if why:
        ctx.row.intent = "auto_reply"
        return Handled(InboundState.IGNORED, (Reason("auto_reply", {"why": why}),))
    return None


@_step("identify")
def identify_step(ctx: Context) -> Handled | None:
    """Who wrote: a role and a unit only for a sender we are sure of; a doubtful one is held unanswered."""
    mail = ctx.parsed
    email = mail.from_.email if mail.from_ else ""
    ctx.row.sender_role, ctx.row.unit_id, ctx.row.liaison_id = "unknown", None, None  # a reprocess starts afresh
    if mail.sender_problem:
        return Handled(InboundState.HELD, (Reason(mail.sender_problem, {"email": email}),))
    if not email or "@" not in email:
        return Handled(InboundState.HELD, (Reason("no_sender"),))
    ctx.auth = verdict(mail.auth_results, mail.from_.domain if mail.from_ else "", ctx.settings.trusted_authserv_ids)
    forged = ctx.auth.forged
    if forged:
        return Handled(InboundState.HELD, (Reason("forged_sender", {"why": forged, "email": email}),))
    if email in ctx.settings.secretariat:
        ctx.sender_role = "secretariat"
    elif email in ctx.roster.liaisons:
        ctx.sender_role, ctx.member = "liaison", ctx.roster.liaisons[email]
    elif email in ctx.roster.leaders:
        ctx.sender_role, ctx.member = "leader", ctx.roster.leaders[email]
    ctx.row.sender_role = ctx.sender_role
    ctx.row.unit_id = ctx.member.unit_id if ctx.member else None
    ctx.row.liaison_id = ctx.member.liaison_id if ctx.member else None
    return None


@_step("classify")
def classify_step(ctx: Context) -> Handled | None:
    domain = "@" + ctx.settings.message_id_domain.lower()
    facts = Facts(ctx.parsed, ctx.sender_role, lambda mid: mid.lower().endswith(domain))
    result = classify(ctx.rules.rules, facts)
    ctx.row.intent, ctx.row.category, ctx.row.rule = result.intent, result.category, result.rule
    if result.intent in ("auto_reply", "bounce"):
        return Handled(InboundState.IGNORED, (Reason(result.intent, {"why": f"rule {result.rule}"}),))
    # An answer to one of our letters is read by the secretariat in that letter's thread; never a
    # new record (a meeting reply, a dues receipt or a command is still what the rules say).
    letter = replied_letter(ctx.parsed, facts.is_ours)
    if letter and ctx.sender_role != "secretariat" and result.intent in ctx.registry.new_record:
        ctx.row.intent = "reply"
        return Handled(InboundState.HELD, (Reason("reply_to_letter", {"letter": letter}),))
    # A stranger is held as a stranger whatever the mail says: that is what the secretariat
    # must decide, and what the sender is told (how to register).
    if ctx.sender_role == "unknown" and result.intent not in ctx.registry.open_to_unknown:
        return Handled(InboundState.HELD, (Reason("unknown_sender", {"email": ctx.row.sender or ""}),))
    if result.intent == "unknown":
        return Handled(InboundState.HELD, (Reason("unknown_intent"),))
    return None


@_step("validate")
def validate_step(ctx: Context) -> Handled | None:
    policy = ctx.rules.policy
    if ctx.sender_role == "secretariat":
        # Ch. 4's photo minimum is for what liaisons submit; a circular's picture is the secretariat's choice.
        policy = replace(policy, min_photo_width=0, min_photo_height=0)
    checks, message_reasons = validate_attachments(ctx.parsed.attachments, policy)
    ctx.checks = checks
    for attachment, check in zip(ctx.parsed.attachments, checks, strict=True):
        refused = any(r.code in ("attachment_too_large", "image_bomb") for r in check.reasons)
        # Refused oversized content stays in the raw archive only; the rest is kept by hash.
        digest = ctx.attachments.put(attachment.data) if not refused else ""
        ctx.session.add(
            StoredAttachment(
                inbound_id=ctx.row.id or 0,
                sha256=digest,
                filename=check.safe_name,
                original_name=check.filename[:1000],
                declared_type=attachment.content_type[:255],
                detected_type=check.detected_type,
                size=check.size,
                width=check.width,
                height=check.height,
                inline=check.inline,
                reasons=[r.to_json() for r in check.reasons],
            )
        )
    reasons = tuple(r for c in checks for r in c.reasons) + tuple(message_reasons)
    if reasons:
        return Handled(InboundState.REJECTED, reasons)
    return None


@_step("act")
def act_step(ctx: Context) -> Handled | None:
    intent = ctx.row.intent or "unknown"
    handler = ctx.registry.handlers.get(intent)
    if handler is None:  # rules are checked against the registry at start; a stale rule set is held
        return Handled(InboundState.HELD, (Reason("unknown_intent"),))
    tx = Tx(
        ctx.session,
        now=ctx.now,
        zone=ctx.settings.zone,
        message_id_domain=ctx.settings.message_id_domain,
        renderer=ctx.renderer,
        parts=ctx.parts,
    )
    return handler(incoming(ctx), tx)


def incoming(ctx: Context) -> Incoming:
    """What the handlers see of the message: plain values."""
    member = ctx.member
    return Incoming(
        inbound_id=ctx.row.id or 0,
        intent=ctx.row.intent or "unknown",
        category=ctx.row.category,
        sender=(ctx.row.sender or "").lower(),
        role=ctx.sender_role,
        name=ctx.sender_name,
        unit_id=member.unit_id if member else None,
        unit_name=member.unit_name if member else "",
        liaison_id=member.liaison_id if member else None,
        mail=ctx.parsed,
        checks=ctx.checks,
        authenticated=ctx.auth.authenticated,
        received_at=ctx.row.received_at or ctx.now,
    )


def parse_header(raw: bytes, limits: ParseLimits) -> ParsedMail | None:
    """The header of a message alone, parsed as a message without a body; None when it cannot be."""
    end = header_size(raw, limits.max_header_bytes)
    if end > limits.max_header_bytes:
        return None
    try:
        return parse(raw[:end] + b"\n", limits)
    except ParseError:
        return None


STEPS: tuple[Step, ...] = (parse_step, screen_step, identify_step, classify_step, validate_step, act_step)

# The steps before `act` read no database and write only into the session (no SQL), so a
# batch runs them without holding the database's write lock; `act` is where writes start.
PREPARE: tuple[Step, ...] = STEPS[:-1]
WRITE: tuple[Step, ...] = STEPS[-1:]
