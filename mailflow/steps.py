"""The steps of the pipeline, in the order of the STEPS tuple: parse -> screen -> identify ->
classify -> validate -> act.

A step either adds to the Context or returns an Handled, which ends the run for that message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from sqlmodel import select

from mailflow.classify import Facts, classify
from mailflow.errors import ParseError
from mailflow.parse import ParsedMail, ParseLimits, parse
from mailflow.parse.limits import header_size
from mailflow.reasons import Reason
from mailflow.screen import auto_reply_reason, bounce_reason, machine_report_reason
from mailflow.screen.authenticity import verdict
from mailflow.screen.threads import REFERENCE, replied_letter
from mailflow.store import (
    InboundMessage,
    InboundState,
    Outbox,
    StoredAttachment,
)
from mailflow.validate import validate_attachments
from mailflow.context import Context
from mailflow.workflows.contract import Handled, Handler


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
    # Whether the record it answers takes follow-ups (a registration's missing certificate) needs the
    # database: `act` decides, with the letter in hand.
    letter = replied_letter(ctx.parsed, facts.is_ours) or _named_record(ctx)
    if letter and ctx.sender_role != "secretariat" and ctx.registry.follow_ups:
        ctx.replied = letter
        return None
    return _not_a_new_record(ctx, letter)


def _named_record(ctx: Context) -> str | None:
    """A reference in the subject of mail that would open a record, when its workflow takes follow-ups
    ("补充单位证明 DJ-2026-0007")."""
    if (ctx.row.intent or "unknown") not in ctx.registry.new_record:
        return None
    named = REFERENCE.search(ctx.parsed.subject.upper())
    if named is None or named.group(1).split("-", 1)[0] not in ctx.registry.follow_ups:
        return None
    return named.group(1)


def _not_a_new_record(ctx: Context, letter: str | None) -> Handled | None:
    """Held: an answer to our letter that opens nothing, a stranger's mail, a mail no rule claims."""
    intent = ctx.row.intent or "unknown"
    if letter and ctx.sender_role != "secretariat" and intent in ctx.registry.new_record:
        ctx.row.intent = "reply"
        return Handled(InboundState.HELD, (Reason("reply_to_letter", {"letter": letter}),))
    # A stranger is held as a stranger whatever the mail says: that is what the secretariat
    # must decide, and what the sender is told (how to register).
    if ctx.sender_role == "unknown" and intent not in ctx.registry.open_to_unknown:
        return Handled(InboundState.HELD, (Reason("unknown_sender", {"email": ctx.row.sender or ""}),))
    if intent == "unknown":
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
    # A reply to our letter may be a follow-up whose workflow judges its files: `act` decides.
    reasons = (() if ctx.replied is not None else _refusals(ctx)) + tuple(message_reasons)
    if reasons:
        return Handled(InboundState.REJECTED, reasons)
    return None


def _refusals(ctx: Context) -> tuple[Reason, ...]:
    """Why the attachments refuse the mail, unless its workflow judges them itself (own_attachments)."""
    if ctx.row.intent in ctx.registry.own_attachments:
        return ()
    return tuple(r for c in ctx.checks for r in c.reasons)


@_step("act")
def act_step(ctx: Context) -> Handled | None:
    follow_up = _follow_up(ctx)
    if follow_up is not None:
        reference, follow = follow_up
        outcome = follow(replace(ctx.incoming(), follow_up=reference), ctx.tx())
        if outcome.state == InboundState.HELD and any(r.code == "reply_to_letter" for r in outcome.reasons):
            ctx.row.intent = "reply"  # read by the secretariat in the thread of the letter it answers
            letter = ctx.replied or reference
            outcome = replace(outcome, reasons=(Reason("reply_to_letter", {"letter": letter}),))
        return outcome
    if ctx.replied is not None:
        held = _not_a_new_record(ctx, ctx.replied)
        if held is not None:
            return held
        reasons = _refusals(ctx)  # deferred by `validate`: it was not a follow-up
        if reasons:
            return Handled(InboundState.REJECTED, reasons)
    intent = ctx.row.intent or "unknown"
    handler = ctx.registry.handlers.get(intent)
    if handler is None:  # rules are checked against the registry at start; a stale rule set is held
        return Handled(InboundState.HELD, (Reason("unknown_intent"),))
    return handler(ctx.incoming(), ctx.tx())


def _follow_up(ctx: Context) -> tuple[str, Handler] | None:
    """The record this mail follows up, and its workflow's handler: named by the letter it answers
    (the letter's reference), or by a reference in its subject (see `classify`)."""
    table = ctx.registry.follow_ups
    if not table or ctx.replied is None:
        return None
    reference: str | None = ctx.replied
    if not REFERENCE.fullmatch(ctx.replied):  # a Message-ID of ours: the letter's record
        query = select(Outbox.reference).where(Outbox.message_id == ctx.replied[:300])
        reference = ctx.session.exec(query).first()
    if reference is None:
        return None
    handler = table.get(reference.split("-", 1)[0])
    return (reference, handler) if handler is not None else None


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
