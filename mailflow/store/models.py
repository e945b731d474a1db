"""The tables: mailboxes and inbound mail, attachments, units and liaisons, intent records.

Every datetime is timezone-aware UTC in the database; the configured zone is for display
and schedules only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Dialect, Index, TypeDecorator, UniqueConstraint
from sqlmodel import Field, SQLModel


class AwareDateTime(TypeDecorator[datetime]):
    """Stores UTC and always gives back an aware datetime, on SQLite (which keeps no zone) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every datetime in the store must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(AwareDateTime(), nullable=nullable))


class InboundState:
    """Where an inbound message stands; the pipeline moves it from ARCHIVED to a final state."""

    ARCHIVED = "archived"  # raw bytes stored and row committed; the pipeline has not finished it
    PROCESSED = "processed"  # understood and acted on
    REJECTED = "rejected"  # understood, but failed validation: the sender is told why
    HELD = "held"  # needs the secretariat: unknown intent or sender, unparseable, too slow
    IGNORED = "ignored"  # auto-reply, bounce, or a copy of a message already stored
    SKIPPED = "skipped"  # in the mailbox before the first start: recorded, never answered
    FAILED = "failed"  # processing raised an error; kept for `reprocess`

    FINAL = (PROCESSED, REJECTED, HELD, IGNORED, SKIPPED, FAILED)
    ALL = (ARCHIVED, *FINAL)


class FolderState(SQLModel, table=True):
    """What we know of one watched folder: its UIDVALIDITY, how far we have read, last poll."""

    __tablename__ = "folder_state"
    __table_args__ = (UniqueConstraint("source", "folder"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100)
    folder: str = Field(max_length=500)
    uidvalidity: int = 0
    last_seen_uid: int = 0  # every UID up to this one is archived (IMAP only)
    baseline_uid: int = 0  # UIDs up to this one were there before the first start
    first_seen_at: datetime | None = _ts()
    last_poll_at: datetime | None = _ts()
    last_error: str | None = None
    last_error_at: datetime | None = _ts()


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound_message"
    __table_args__ = (
        UniqueConstraint("source", "folder", "uidvalidity", "uid", name="uq_inbound_location"),
        Index("ix_inbound_state", "state"),
        Index("ix_inbound_sha256", "sha256"),
        Index("ix_inbound_message_id", "message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100)
    folder: str = Field(max_length=500)
    uidvalidity: int = 0
    uid: str = Field(max_length=300)
    sha256: str = Field(max_length=64)
    size: int = 0
    headers_only: bool = False  # too large to fetch whole: only the header was archived
    message_id: str | None = Field(default=None, max_length=998)
    received_at: datetime | None = _ts()  # the server's INTERNALDATE, or the file's time
    archived_at: datetime | None = _ts()
    sender: str | None = Field(default=None, max_length=320)
    subject: str | None = None
    intent: str | None = Field(default=None, max_length=40)
    category: str | None = Field(default=None, max_length=60)
    rule: str | None = Field(default=None, max_length=200)  # the rule that decided the intent
    state: str = Field(default=InboundState.ARCHIVED, max_length=20)
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    attempts: int = 0  # pipeline runs started; guards against a message that kills the process
    processed_at: datetime | None = _ts()
    server_marked: bool = False  # moved or flagged on the server after the commit
    duplicate_of: int | None = Field(default=None, foreign_key="inbound_message.id")
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    liaison_id: int | None = Field(default=None, foreign_key="liaison.id")
    sender_role: str | None = Field(default=None, max_length=20)


class StoredAttachment(SQLModel, table=True):
    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    inbound_id: int = Field(foreign_key="inbound_message.id", index=True)
    sha256: str = Field(max_length=64)
    filename: str = Field(max_length=255)  # sanitised: safe as a file name
    original_name: str = ""
    declared_type: str = Field(default="", max_length=255)
    detected_type: str | None = Field(default=None, max_length=60)
    size: int = 0
    width: int | None = None
    height: int | None = None
    inline: bool = False
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Unit(SQLModel, table=True):
    """会员单位: a member company."""

    __tablename__ = "unit"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    code: str = Field(max_length=40, unique=True)
    leader_name: str | None = Field(default=None, max_length=100)
    leader_email: str | None = Field(default=None, max_length=320, index=True)
    leader_phone: str | None = Field(default=None, max_length=60)
    member_class: str | None = Field(default=None, max_length=60)  # 会员类别: 会长单位, 理事单位, 会员单位 …
    address: str | None = None
    created_at: datetime | None = _ts()


class LiaisonStatus:
    PENDING = "pending"
    ACTIVE = "active"
    REPLACED = "replaced"
    RETIRED = "retired"
    ALL = (PENDING, ACTIVE, REPLACED, RETIRED)


class Liaison(SQLModel, table=True):
    """联络员: the person a unit names to correspond with the secretariat."""

    __tablename__ = "liaison"

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    name: str = Field(max_length=100)
    email: str = Field(max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=60)
    position: str | None = Field(default=None, max_length=100)
    status: str = Field(default=LiaisonStatus.ACTIVE, max_length=20)
    created_at: datetime | None = _ts()
    started_on: date | None = None  # active from (local date)
    ended_on: date | None = None  # replaced or retired on


class RegistrationState:
    AWAITING_CERTIFICATE = "awaiting_certificate"  # the unit's certificate is still to come (Art. 3)
    PENDING = "pending"  # complete: the secretariat decides
    APPROVED = "approved"
    RETURNED = "returned"
    OPEN = (AWAITING_CERTIFICATE, PENDING)


class Registration(SQLModel, table=True):
    """登记 / 变更: a request about a unit's liaison or its details, awaiting the secretariat.

    kind registration (DJ-): a liaison registers for a unit; liaison_change (BG-): the unit's leader
    or liaison names a new liaison; unit_change (BG-): the unit's details change (`form` holds the new values).
    """

    __tablename__ = "registration"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=40, unique=True)  # DJ-2026-0007
    inbound_id: int = Field(foreign_key="inbound_message.id", unique=True)
    kind: str = Field(default="registration", max_length=20)  # registration | liaison_change | unit_change
    email: str = Field(max_length=320)  # who asked
    name: str = ""
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    state: str = Field(default=RegistrationState.PENDING, max_length=20)
    created_at: datetime | None = _ts()
    # What the mail's form said (mailflow.members.form field names), and whether the unit is joining.
    form: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    certificate_inbound_id: int | None = Field(default=None, foreign_key="inbound_message.id")
    liaison_id: int | None = Field(default=None, foreign_key="liaison.id")  # the liaison it proposes (pending)
    decided_at: datetime | None = _ts()


class Counter(SQLModel, table=True):
    """Per-year sequences for reference numbers (BS-2026-0042), incremented under a row lock."""

    __tablename__ = "counter"

    name: str = Field(primary_key=True, max_length=40)  # e.g. "BS-2026"
    value: int = 0


class OutboxState:
    """Where an outgoing message stands; `ambiguous` is never resent without a person's word."""

    QUEUED = "queued"  # waiting for its first attempt
    SENDING = "sending"  # handed to the transport; a crash now leaves the outcome unknown
    RETRY = "retry"  # a temporary failure; tried again at next_attempt_at
    SENT = "sent"
    DEAD = "dead"  # refused for good (5xx), or out of attempts; last_error says why
    AMBIGUOUS = "ambiguous"  # may or may not have arrived: resent only by `outbox retry`
    BOUNCED = "bounced"  # accepted, then returned by a later server (a bounce named it)

    DUE = (QUEUED, RETRY)
    ALL = (QUEUED, SENDING, RETRY, SENT, DEAD, AMBIGUOUS, BOUNCED)


class Outbox(SQLModel, table=True):
    """One outgoing email, written in the same transaction as the change that causes it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_recent_replies", "auto_submitted", "next_attempt_at"),  # the hourly reply limit
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)  # e.g. ack:inbound:42: never queued twice
    kind: str = Field(max_length=40)  # the template kind
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str = ""
    text: str = ""  # both empty when `body_id` names the text shared by many letters
    html: str = ""
    body_id: int | None = Field(default=None, foreign_key="outbox_body.id")
    message_id: str = Field(max_length=300, unique=True)  # ours, without brackets
    in_reply_to: str | None = Field(default=None, max_length=998)
    references: str | None = None  # space-separated, without brackets
    auto_submitted: str = Field(default="auto-generated", max_length=40)
    state: str = Field(default=OutboxState.QUEUED, max_length=20)
    attempts: int = 0
    next_attempt_at: datetime | None = _ts()
    last_error: str | None = None
    created_at: datetime | None = _ts()
    sent_at: datetime | None = _ts()
    inbound_id: int | None = Field(default=None, foreign_key="inbound_message.id", index=True)
    reference: str | None = Field(default=None, max_length=40)  # the record it belongs to, e.g. BS-2026-0042


class AddressFlag(SQLModel, table=True):
    """An address mail to which bounced: shown to the secretariat, and not mailed while suppressed
    (see outbound.suppression); mail from it clears it."""

    __tablename__ = "address_flag"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)  # lower case
    reason: str = ""
    bounces: int = 0
    first_at: datetime | None = _ts()
    last_at: datetime | None = _ts()
    suppressed_at: datetime | None = _ts()  # mail to it stopped then; None: only soft bounces counted so far
    suppressed_until: datetime | None = _ts()  # after soft bounces, mail goes again then; None: until mail from it
    # When each soft bounce of the last seven days came (ISO 8601, UTC): the third stops mail.
    soft_bounces_at: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class JobRun(SQLModel, table=True):
    """A scheduled job's run for one slot (its scheduled local time): never run twice, never missed."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "slot"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=40)
    slot: str = Field(max_length=20)  # local wall time, 2026-11-24T08:30
    outcome: str = Field(default="", max_length=40)  # sent, empty, first start, …
    done_at: datetime | None = _ts()


class OutboxBody(SQLModel, table=True):
    """The text and HTML of a letter sent to many (a circular, a request): stored once, rather than
    once in each of its thousands of rows."""

    __tablename__ = "outbox_body"

    id: int | None = Field(default=None, primary_key=True)
    text: str = ""
    html: str = ""


class OutboxPart(SQLModel, table=True):
    """A part an outgoing letter carries (a file, an inline image, an invitation), in its order. The
    bytes are a blob named by sha256 (outbound.parts): one file however many letters carry it."""

    __tablename__ = "outbox_part"

    outbox_id: int = Field(foreign_key="outbox.id", primary_key=True, ondelete="CASCADE")
    position: int = Field(primary_key=True)  # 0, 1, …: the order of the parts in the letter
    sha256: str = Field(max_length=64)
    filename: str = ""  # as the recipient sees it, e.g. 关于召开2026年度联络员工作会议的通知.pdf
    content_type: str = Field(default="application/octet-stream", max_length=255)  # with parameters
    inline: bool = False
    content_id: str | None = Field(default=None, max_length=300)  # without <>: the HTML's cid:


class AuditEntry(SQLModel, table=True):
    """One command, from mail or `mailflow do`: who, when, from which message, what, on which
    record, and what came of it. Written in the transaction that carries the command out."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = _ts()
    actor: str = Field(max_length=320, index=True)  # the sender's address, or cli:<user>
    role: str = Field(max_length=20)
    via: str = Field(max_length=10)  # mail | cli
    inbound_id: int | None = Field(default=None, foreign_key="inbound_message.id", index=True)
    command: str = Field(max_length=40)  # the command's key (resend), or the verb as written when unknown
    line: str = Field(max_length=1000)  # the command line as written
    record: str | None = Field(default=None, max_length=100, index=True)  # BS-2026-0042, #12, an address
    ok: bool = False
    result: str = ""  # what the report said, in the chamber's locale


class Change(SQLModel, table=True):
    """One change to a unit or a liaison: when, which field, old -> new, why, and who (the audit entry)."""

    __tablename__ = "change"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = _ts()
    kind: str = Field(max_length=20)  # unit | liaison
    subject_id: int = Field(index=True)  # the unit's or the liaison's id
    unit_id: int = Field(foreign_key="unit.id", index=True)  # the unit it belongs to (for `units show`)
    field: str = Field(max_length=40)  # a column name, or "created" / "status"
    old: str | None = None
    new: str | None = None
    why: str = Field(default="", max_length=300)
    audit_id: int | None = Field(default=None, foreign_key="audit_entry.id")


class RosterIssue(SQLModel, table=True):
    """联络员名录 as sent (Art. 3): when, what it showed (the sha256 of its rows), and to how many.
    The roster letter goes again only when the rows' sha256 differs from the last one's."""

    __tablename__ = "roster_issue"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=40, unique=True)  # MC-2026-0001; names every letter of the issue
    at: datetime | None = _ts()
    sha256: str = Field(max_length=64)  # of the published rows (members.roster), not of a file
    units: int = 0
    liaisons: int = 0  # rows of the roster
    letters: int = 0  # letters queued
    file_sha256: str = Field(default="", max_length=64)  # the .xlsx the letters carry, in data/outgoing
    forced: bool = False  # sent by `mailflow roster send --force` though nothing had changed


class Circular(SQLModel, table=True):
    """通知: a circular from the secretariat to the liaisons, the unit leaders or both; one outbox letter
    per address, each under the key circular:<reference>:<address>, all carrying the same parts."""

    __tablename__ = "circular"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=40, unique=True)  # TZ-2026-0001
    # The mail it came in (a second run of that mail finds it here and sends nothing); None from the CLI.
    inbound_id: int | None = Field(default=None, foreign_key="inbound_message.id", unique=True)
    subject: str = ""
    audience: str = Field(max_length=20)  # liaisons | leaders | all
    units: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # codes; [] for every unit
    sender: str = Field(max_length=320)  # the secretariat address, or cli:<user>
    via: str = Field(max_length=10)  # mail | cli
    created_at: datetime | None = _ts()
    letters: int = 0  # queued, one per address
    to_liaisons: int = 0
    to_leaders: int = 0  # leaders who are not also a liaison
    attachments: int = 0
