"""The seam every workflow plugs into: what it declares, what its handlers see and return.

A workflow is one `Workflow` value: the intents it handles, the commands it accepts, its
scheduled jobs, its digest sections and sample values for each of its templates. The registry
(workflows/registry.py) collects them and refuses two owners for one intent, verb, job or
template kind. A handler gets what is known of the message (`Incoming`) and a transaction
helper (`Tx`), and returns a `Handled`: the pipeline records it and the replies finisher sends
`Handled.reply`, so no reply code branches on intents and no handler writes into loose dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from mailflow.jobs.scheduler import Job
from mailflow.parse import ParsedMail
from mailflow.reasons import Reason
from mailflow.store import InboundState
from mailflow.submissions.policy import SubmissionPolicy
from mailflow.validate import AttachmentCheck, AttachmentPolicy

if TYPE_CHECKING:
    from sqlmodel import Session

    from mailflow.workflows.tx import Tx

__all__ = [
    "Call",
    "CommandSpec",
    "DigestItem",
    "DigestSection",
    "Done",
    "Handled",
    "Handler",
    "Incoming",
    "Job",
    "Reply",
    "Words",
    "Workflow",
    "localized",
]


class Words(NamedTuple):
    """A value in both locales; the letter shows the one it is written in."""

    zh: str
    en: str


def localized(value: Any, locale: str) -> Any:
    """`Words` in the letter's locale, wherever they sit among lists, tuples and dicts."""
    if isinstance(value, Words):
        return value.en if locale.startswith("en") else value.zh
    if isinstance(value, (list, tuple)):
        return [localized(item, locale) for item in value]
    if isinstance(value, dict):
        return {key: localized(item, locale) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Reply:
    """The letter that answers a message: a template kind and the values only this workflow knows.

    The replies finisher adds what every answer has: the sender's name, the unit, the original
    subject, when it came, the attachments as received.
    """

    kind: str
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Handled:
    """What became of a message: its state and reasons, its record's reference, and its answer."""

    state: str = InboundState.PROCESSED
    reasons: tuple[Reason, ...] = ()
    reference: str | None = None
    reply: Reply | None = None


@dataclass(frozen=True)
class Incoming:
    """What a handler knows of the message in hand (plain values: no session, no settings)."""

    inbound_id: int
    intent: str
    category: str | None
    sender: str  # the From address, lower-cased
    role: str  # secretariat | liaison | leader | unknown
    name: str  # the liaison's name on record, else the display name, else the address
    unit_id: int | None
    unit_name: str
    liaison_id: int | None
    mail: ParsedMail
    checks: tuple[AttachmentCheck, ...]
    authenticated: bool  # our own receiving server vouched for the sender (DKIM or DMARC pass)
    received_at: datetime
    # The record this mail follows up (a reply to its letters, or its reference in the subject), when
    # the workflow that owns that reference's prefix takes follow-ups (Workflow.follow_ups).
    follow_up: str | None = None
    policy: AttachmentPolicy = field(default_factory=AttachmentPolicy)  # what the rules say attachments must be
    submissions: SubmissionPolicy = field(default_factory=SubmissionPolicy)  # the rules' Ch. 4 checks

    @property
    def photos(self) -> int:
        return sum(1 for check in self.checks if check.is_photo)


Handler = Callable[[Incoming, "Tx"], Handled]


@dataclass(frozen=True)
class DigestItem:
    """One line of the secretariat's digest: what it is about, and the command that settles it."""

    ref: str
    summary: str
    command: str | None = None  # a command's key (CommandSpec.key); shown only if some workflow has it
    args: str | Words = ""  # what follows the verb in that command line; `ref` when empty


@dataclass(frozen=True)
class DigestSection:
    name: str
    title: tuple[str, str]  # zh-CN, en
    gather: Callable[[Session, datetime, datetime, str], list[DigestItem]]  # (session, since, now, locale)
    decision: bool = False  # needs the secretariat's decision: shown first
    counted: bool = False  # routine: the digest gives its count, not its items


@dataclass(frozen=True)
class Call:
    """One command line to run: who asks, and what."""

    verb: str  # as written (normalised), "重发" or "resend"
    args: tuple[str, ...]
    tail: str  # the text after the first argument, as written: a reason with spaces survives
    actor: str  # the address (mail) or "cli:<user>" (mailflow do)
    role: str
    unit_id: int | None = None  # the actor's own unit, for roles below the secretariat
    inbound_id: int | None = None  # the command mail, when it came by mail
    audit_id: int | None = None  # the audit entry of this line: the history a command writes names it


@dataclass(frozen=True)
class Done:
    """A command line's outcome, one line of the report letter."""

    ok: bool
    text: tuple[str, str]  # zh-CN, en
    record: str | None = None  # the reference or row the command acted on, for the audit


CommandRun = Callable[[Call, "Tx"], Done]


@dataclass(frozen=True)
class CommandSpec:
    key: str  # stable name, used by digest items and the audit: "resend"
    verbs: tuple[str, ...]  # every spelling that calls it, zh-CN first: ("重发", "resend")
    usage: tuple[str, str]  # the line to copy, zh-CN and en: ("#重发 编号", "#resend number")
    summary: tuple[str, str]  # what it does, for #帮助
    run: CommandRun
    min_args: int = 0
    max_args: int | None = None  # None: any number (a free-text reason at the end)
    roles: frozenset[str] = frozenset({"secretariat"})  # who may call it
    # For a role below the secretariat: the unit of the record the call names. Such a caller may
    # act only on its own unit's records; a command without this runs for the secretariat alone.
    unit_of: Callable[[Call, Tx], int | None] | None = None


@dataclass(frozen=True)
class Workflow:
    name: str
    intents: Mapping[str, Handler] = field(default_factory=dict)
    open_to_unknown: frozenset[str] = frozenset()  # intents a stranger may use (registration)
    new_record: frozenset[str] = frozenset()  # intents that open a record: a reply to our letter never does
    # Reference prefix -> the handler for mail that follows up such a record: a reply to a letter
    # sent under it, or a mail naming it in the subject ("DJ" -> a registration's missing certificate).
    follow_ups: Mapping[str, Handler] = field(default_factory=dict)
    # Intents whose handler judges the attachments itself: a bad one does not reject the mail.
    own_attachments: frozenset[str] = frozenset()
    labels: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # intent -> (zh-CN, en) name
    commands: tuple[CommandSpec, ...] = ()
    jobs: tuple[Job, ...] = ()
    digest: tuple[DigestSection, ...] = ()
    samples: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # template kind -> values
