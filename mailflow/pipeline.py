"""The pipeline's sole purpose is to bring one archived message to a final state, in one transaction.

Its order of work is the STEPS tuple: parse -> screen -> identify -> classify -> validate ->
act. A step either adds to the context or returns an Outcome, which ends the run; the
message's state, its reasons and whatever the workflow recorded commit together.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from mailflow.classify import Classification, Facts, RuleSet, classify
from mailflow.clock import Clock
from mailflow.errors import ParseError
from mailflow.parse import ParsedMail, ParseLimits, parse
from mailflow.reasons import Reason
from mailflow.screen import auto_reply_reason, bounce_reason
from mailflow.store import (
    BlobStore,
    InboundMessage,
    InboundState,
    Liaison,
    LiaisonStatus,
    Store,
    StoredAttachment,
    Unit,
)
from mailflow.validate import AttachmentCheck, validate_attachments
from mailflow.workflows import HANDLERS, OPEN_TO_UNKNOWN_SENDERS

log = logging.getLogger("mailflow.pipeline")


@dataclass(frozen=True)
class Outcome:
    state: str
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True)
class PipelineSettings:
    secretariat: tuple[str, ...]
    message_id_domain: str
    zone: ZoneInfo
    limits: ParseLimits
    max_attempts: int = 3


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
    mail: ParsedMail | None = None
    sender_role: str = "unknown"
    unit: Unit | None = None
    liaison: Liaison | None = None
    classification: Classification | None = None
    checks: tuple[AttachmentCheck, ...] = ()
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def parsed(self) -> ParsedMail:
        assert self.mail is not None, "the parse step runs first"
        return self.mail


class Step(Protocol):
    name: str

    def __call__(self, ctx: Context) -> Outcome | None: ...


def _step(name: str) -> Callable[[Callable[[Context], Outcome | None]], Step]:
    def wrap(fn: Callable[[Context], Outcome | None]) -> Step:
        fn.name = name  # type: ignore[attr-defined]
        return fn  # type: ignore[return-value]

    return wrap


@_step("parse")
def parse_step(ctx: Context) -> Outcome | None:
    row = ctx.row
    if row.headers_only:
        limit_mb = round(ctx.settings.limits.max_message_bytes / 1048576)
        return Outcome(
            InboundState.HELD, (Reason("too_large", {"size_mb": round(row.size / 1048576, 1), "limit_mb": limit_mb}),)
        )
    if not ctx.raw.strip():
        return Outcome(InboundState.HELD, (Reason("empty_message"),))
    try:
        ctx.mail = parse(ctx.raw, ctx.settings.limits)
    except ParseError as exc:
        return Outcome(InboundState.HELD, (exc.reason,))
    mail = ctx.mail
    row.subject = mail.subject[:2000]
    row.sender = mail.from_.email[:320] if mail.from_ and mail.from_.email else None
    if mail.message_id and not row.message_id:
        row.message_id = mail.message_id[:998]
    return None


@_step("screen")
def screen_step(ctx: Context) -> Outcome | None:
    # Bounces first: many carry Auto-Submitted too, and they are matched to our mail later.
    why = bounce_reason(ctx.parsed)
    if why:
        ctx.row.intent = "bounce"
        return Outcome(InboundState.IGNORED, (Reason("bounce", {"why": why}),))
    why = auto_reply_reason(ctx.parsed)
    if why:
        ctx.row.intent = "auto_reply"
        return Outcome(InboundState.IGNORED, (Reason("auto_reply", {"why": why}),))
    return None


@_step("identify")
def identify_step(ctx: Context) -> Outcome | None:
    mail = ctx.parsed
    email = mail.from_.email if mail.from_ else ""
    if not email or "@" not in email:
        return Outcome(InboundState.HELD, (Reason("no_sender"),))
    if email in ctx.settings.secretariat:
        ctx.sender_role = "secretariat"
    else:
        liaison = ctx.session.exec(
            select(Liaison).where(Liaison.email == email, Liaison.status == LiaisonStatus.ACTIVE)
        ).first()
        if liaison is not None:
            ctx.sender_role, ctx.liaison = "liaison", liaison
            ctx.unit = ctx.session.get(Unit, liaison.unit_id)
        else:
            unit = ctx.session.exec(select(Unit).where(Unit.leader_email == email)).first()
            if unit is not None:
                ctx.sender_role, ctx.unit = "leader", unit
    ctx.row.sender_role = ctx.sender_role
    ctx.row.unit_id = ctx.unit.id if ctx.unit else None
    ctx.row.liaison_id = ctx.liaison.id if ctx.liaison else None
    return None


@_step("classify")
def classify_step(ctx: Context) -> Outcome | None:
    domain = "@" + ctx.settings.message_id_domain.lower()
    facts = Facts(ctx.parsed, ctx.sender_role, lambda mid: mid.lower().endswith(domain))
    result = classify(ctx.rules.rules, facts)
    ctx.classification = result
    ctx.row.intent, ctx.row.category, ctx.row.rule = result.intent, result.category, result.rule
    if result.intent in ("auto_reply", "bounce"):
        return Outcome(InboundState.IGNORED, (Reason(result.intent, {"why": f"rule {result.rule}"}),))
    if result.intent == "unknown":
        return Outcome(InboundState.HELD, (Reason("unknown_intent"),))
    if ctx.sender_role == "unknown" and result.intent not in OPEN_TO_UNKNOWN_SENDERS:
        return Outcome(InboundState.HELD, (Reason("unknown_sender", {"email": ctx.row.sender or ""}),))
    return None


@_step("validate")
def validate_step(ctx: Context) -> Outcome | None:
    checks, message_reasons = validate_attachments(ctx.parsed.attachments, ctx.rules.policy)
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
        return Outcome(InboundState.REJECTED, reasons)
    return None


@_step("act")
def act_step(ctx: Context) -> Outcome | None:
    intent = ctx.row.intent or "unknown"
    handler = HANDLERS[intent]
    handler(ctx)
    return Outcome(InboundState.PROCESSED)


STEPS: tuple[Step, ...] = (parse_step, screen_step, identify_step, classify_step, validate_step, act_step)


class Pipeline:
    def __init__(
        self,
        store: Store,
        raw: BlobStore,
        attachments: BlobStore,
        rules: RuleSet,
        settings: PipelineSettings,
        clock: Clock,
    ) -> None:
        self.store = store
        self.raw = raw
        self.attachments = attachments
        self.rules = rules
        self.settings = settings
        self.clock = clock

    def run_pending(
        self, should_stop: Callable[[], bool] = lambda: False, progress: Callable[[], None] | None = None
    ) -> int:
        """Process archived messages oldest first until none is left (or a stop is asked)."""
        done = 0
        while not should_stop():
            inbound_id = self._claim()
            if inbound_id is None:
                break
            self.process(inbound_id)
            done += 1
            if progress:
                progress()
        return done

    def pending_count(self) -> int:
        with self.store.session() as session:
            return len(
                session.exec(select(InboundMessage.id).where(InboundMessage.state == InboundState.ARCHIVED)).all()
            )

    def _claim(self) -> int | None:
        """Take the oldest archived message and count the attempt, committed before the work.

        If the work kills the process (out of memory, a crash in a C library), the count
        survives; after max_attempts the message is failed instead of killing every restart.
        """
        with self.store.session() as session:
            row = session.exec(
                select(InboundMessage)
                .where(InboundMessage.state == InboundState.ARCHIVED)
                .order_by(col(InboundMessage.id))
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            row.attempts += 1
            if row.attempts > self.settings.max_attempts:
                self._finish(
                    row,
                    Outcome(
                        InboundState.FAILED,
                        (
                            Reason(
                                "processing_failed", {"detail": f"stopped {row.attempts - 1} times while processing"}
                            ),
                        ),
                    ),
                )
            return row.id

    def process(self, inbound_id: int) -> str:
        """Run the steps over one message; its effects commit together or not at all."""
        try:
            with self.store.session() as session:
                row = session.get(InboundMessage, inbound_id)
                if row is None or row.state != InboundState.ARCHIVED:
                    return row.state if row else "missing"
                ctx = Context(
                    row,
                    self.raw.get(row.sha256),
                    session,
                    self.clock.now(),
                    self.settings,
                    self.rules,
                    self.attachments,
                )
                outcome = self._run_steps(ctx)
                self._finish(row, outcome)
                log.info(
                    "message %s %s",
                    row.id,
                    row.state,
                    extra={"inbound": row.id, "intent": row.intent, "state": row.state},
                )
                return row.state
        except Exception as exc:  # noqa: BLE001 - a bug in one message must not stop the daemon
            log.error("processing message %s failed:\n%s", inbound_id, traceback.format_exc())
            with self.store.session() as session:
                row = session.get(InboundMessage, inbound_id)
                assert row is not None
                detail = f"{type(exc).__name__}: {exc}"[:500]
                self._finish(row, Outcome(InboundState.FAILED, (Reason("processing_failed", {"detail": detail}),)))
                return row.state

    @staticmethod
    def _run_steps(ctx: Context) -> Outcome:
        for step in STEPS:
            outcome = step(ctx)
            if outcome is not None:
                return outcome
        raise AssertionError("the act step always returns an outcome")

    def _finish(self, row: InboundMessage, outcome: Outcome) -> None:
        row.state = outcome.state
        row.reasons = [r.to_json() for r in outcome.reasons]
        row.processed_at = self.clock.now()

    def reprocess(self, inbound_id: int) -> str:
        """Run a held, rejected or failed message again (after the rules changed)."""
        with self.store.session() as session:
            row = session.get(InboundMessage, inbound_id)
            if row is None:
                return "missing"
            for attachment in session.exec(
                select(StoredAttachment).where(StoredAttachment.inbound_id == inbound_id)
            ).all():
                session.delete(attachment)
            row.state, row.reasons, row.attempts = InboundState.ARCHIVED, [], 0
            row.intent = row.category = row.rule = None
        return self.process(inbound_id)
