"""The composition root: settings in, a wired application out. Nothing else reads the settings object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from mailflow.classify import RuleSet, load_rules
from mailflow.clock import Clock, SystemClock
from mailflow.config import ImapSource as ImapSettings
from mailflow.config import MaildirSource as MaildirSettings
from mailflow.config import Settings
from mailflow.ingest.archiver import Archiver, StartPolicy, start_of
from mailflow.ingest.imap import ImapSource
from mailflow.ingest.maildir import MaildirSource
from mailflow.ingest.source import MailSource
from mailflow.jobs import Scheduler
from mailflow.outbound.dispatch import Dispatcher
from mailflow.outbound.handover import HANDOVER_JOURNAL, HandoverJournal
from mailflow.outbound.render import Renderer
from mailflow.outbound.sender import SenderProcess
from mailflow.outbound.smtp import SmtpTransport
from mailflow.outbound.transports import FileTransport, Transport
from mailflow.parse import ParseLimits
from mailflow.pipeline import Pipeline
from mailflow.context import PipelineSettings
from mailflow.store import BlobStore, Store
from mailflow.store.db import make_engine
from mailflow.workflows import FINISHERS
from mailflow.workflows.circular import CircularPolicy, Circulars
from mailflow.workflows.commands import CommandDesk
from mailflow.workflows.digest import Digest, DigestPolicy
from mailflow.workflows.registry import Registry, standard
from mailflow.workflows.replies import Replies
from mailflow.workflows.requests import RequestPolicy, Requests, WorkCalendar
from mailflow.workflows.roster import Publication, RosterPolicy
from mailflow.workflows.tx import Tx

MB = 1024 * 1024


@dataclass
class App:
    settings: Settings
    store: Store
    rules: RuleSet
    raw: BlobStore
    pipeline: Pipeline
    sources: list[tuple[MailSource, Archiver]]
    clock: Clock
    dispatcher: Dispatcher
    scheduler: Scheduler
    registry: Registry
    parts: BlobStore  # the files outgoing letters carry (data/outgoing)
    renderer: Renderer

    def tx(self, session: Session) -> Tx:
        """The workflow transaction helper on `session`, as the pipeline gives it (for commands from the CLI)."""
        chamber = self.settings.chamber
        return Tx(
            session,
            now=self.clock.now(),
            zone=chamber.zone,
            message_id_domain=chamber.message_id_domain,
            renderer=self.renderer,
            parts=self.parts,
        )

    def close(self) -> None:
        for source, _ in self.sources:
            source.close()
        self.dispatcher.close()
        self.store.close()


def build_app(
    settings: Settings, *, clock: Clock | None = None, rules: RuleSet | None = None, transport: Transport | None = None
) -> App:
    """Wire everything; `transport` replaces the configured one (tests use the memory transport)."""
    clock = clock or SystemClock()
    renderer = make_renderer(settings)
    registry = make_registry(settings, renderer)
    rules = rules or load_rules(settings.rules_dir, registry.intents)
    store = Store.open(settings.database_url, busy_timeout=settings.database.busy_timeout)
    data = settings.data_dir
    fsync = settings.daemon.fsync
    raw = BlobStore(data / "raw", suffix=".eml", fsync=fsync)
    # Attachments can always be cut again from the raw mail, which is what must be durable.
    attachments = BlobStore(data / "attachments", fsync=False)
    finishers = (*FINISHERS, make_replies(settings, renderer).answer)
    parts = outgoing_parts(settings)
    pipeline = Pipeline(
        store,
        raw,
        attachments,
        rules,
        pipeline_settings(settings),
        clock,
        registry=registry,
        renderer=renderer,
        parts=parts,
        finishers=finishers,
    )
    sources = [(make_source(s, settings), make_archiver(s, settings, store, raw, clock)) for s in settings.sources]
    dispatcher = make_dispatcher(settings, store, clock, transport, parts)
    scheduler = Scheduler(list(registry.jobs), store, clock, settings.chamber.zone)
    return App(settings, store, rules, raw, pipeline, sources, clock, dispatcher, scheduler, registry, parts, renderer)


def make_registry(settings: Settings, renderer: Renderer) -> Registry:
    """Every workflow, with its own policy from the settings; refuses two owners of one name."""
    chamber = settings.chamber
    policy = settings.digest
    digest = Digest(
        renderer,
        DigestPolicy(policy.at, policy.recipients, policy.when_empty == "send", policy.days_ahead),
        secretariat=chamber.secretariat,
        zone=chamber.zone,
        message_id_domain=chamber.message_id_domain,
    )
    desk = CommandDesk(settings.security.commands, chamber.locale)
    circulars = Circulars(circular_policy(settings))
    roster = make_roster(settings, renderer).workflow()
    requests = Requests(
        request_policy(settings), renderer=renderer, zone=chamber.zone, message_id_domain=chamber.message_id_domain
    )
    registry = Registry.build(
        standard(
            digest.workflow(),
            roster,
            desk=desk,
            secretariat=chamber.secretariat,
            circulars=circulars,
            requests=requests,
        )  # fmt: skip
    )
    digest.registry = desk.registry = registry  # both list what every workflow declares
    return registry


def make_roster(settings: Settings, renderer: Renderer) -> Publication:
    """The roster workflow (Art. 3): its daily letter, and the roster `mailflow roster` exports and sends."""
    chamber, roster = settings.chamber, settings.roster
    policy = RosterPolicy(
        automatic=roster.send == "on_change",
        at=roster.at,
        leaders=roster.recipients == "liaisons_and_leaders",
        phones=roster.phones,
        classes=roster.classes,
    )
    return Publication(
        renderer,
        policy,
        parts=outgoing_parts(settings),
        chamber=chamber.name,
        zone=chamber.zone,
        message_id_domain=chamber.message_id_domain,
    )


def circular_policy(settings: Settings) -> CircularPolicy:
    """The circulars' limits and reporting, and the proof a circular by mail needs (that of commands)."""
    circulars = settings.circulars
    return CircularPolicy(
        max_attachment_bytes=int(circulars.max_attachments_mb * MB),
        proof=settings.security.commands,
        digest_days=circulars.digest_days,
    )


def request_policy(settings: Settings) -> RequestPolicy:
    """Requests for information: when reminders go, by the working days of the chamber's calendar."""
    holidays = settings.holidays
    return RequestPolicy(
        proof=settings.security.commands,
        remind_working_days=settings.requests.remind_working_days,
        remind_at=settings.requests.remind_at,
        calendar=WorkCalendar(frozenset(holidays.extra_off), frozenset(holidays.extra_workdays)),
        max_attachment_bytes=int(settings.circulars.max_attachments_mb * MB),  # a form to fill in: as a circular's
    )


def make_renderer(settings: Settings) -> Renderer:
    return Renderer(settings.templates_dir, settings.chamber.locale, settings.chamber.letterhead())


def make_replies(settings: Settings, renderer: Renderer) -> Replies:
    return Replies(
        renderer,
        zone=settings.chamber.zone,
        message_id_domain=settings.chamber.message_id_domain,
        max_per_hour=settings.outbound.max_replies_per_hour,
    )


def make_transport(settings: Settings) -> Transport:
    out = settings.outbound
    if out.transport == "smtp" and out.smtp is not None:
        smtp = out.smtp
        return SmtpTransport(
            smtp.host,
            smtp.port,
            security=smtp.security,
            username=smtp.user,
            password=smtp.password(),
            timeout=smtp.timeout,
            data_timeout=smtp.data_timeout,
            ca_file=str(settings.resolve(smtp.ca_file)) if smtp.ca_file else None,
            concurrency=smtp.concurrency,
            helo_name=out.helo_name(settings.chamber.message_id_domain),
        )
    return FileTransport(settings.resolve(out.folder))


def make_dispatcher(
    settings: Settings, store: Store, clock: Clock, transport: Transport | None = None, parts: BlobStore | None = None
) -> Dispatcher:
    out = settings.outbound
    return Dispatcher(
        store,
        transport or make_transport(settings),
        clock,
        sender=out.from_address,
        sender_name=out.from_name or settings.chamber.name,
        max_attempts=out.max_attempts,
        retry_base_seconds=out.retry_base_seconds,
        per_minute=out.per_minute,
        verp=out.verp,
        journal=HandoverJournal(settings.data_dir / HANDOVER_JOURNAL),
        parts=parts or outgoing_parts(settings),
    )


def outgoing_parts(settings: Settings) -> BlobStore:
    """The files outgoing letters carry, once each; synced before the letter that names them commits."""
    return BlobStore(settings.data_dir / "outgoing", fsync=settings.daemon.fsync)


def background_sender(app: App) -> SenderProcess:
    """The daemon's sender in a process of its own; its store and transport are made in that process."""
    settings, clock = app.settings, app.clock

    def make() -> Dispatcher:
        # The mailbox connections that came with the fork are the daemon's: let go of this
        # process's copies without a word to the server.
        for source, _ in app.sources:
            source.detach()
        return make_dispatcher(
            settings, Store(make_engine(settings.database_url, busy_timeout=settings.database.busy_timeout)), clock
        )

    return SenderProcess(make, app.dispatcher.recover)


def parse_limits(settings: Settings) -> ParseLimits:
    lim = settings.limits
    return ParseLimits(
        max_message_bytes=int(lim.max_message_mb * MB),
        max_header_bytes=int(lim.max_header_kb * 1024),
        max_parts=lim.max_parts,
        max_depth=lim.max_depth,
        timeout_seconds=lim.parse_timeout,
    )


def pipeline_settings(settings: Settings) -> PipelineSettings:
    return PipelineSettings(
        secretariat=settings.chamber.secretariat,
        message_id_domain=settings.chamber.message_id_domain,
        zone=settings.chamber.zone,
        limits=parse_limits(settings),
        max_attempts=settings.limits.max_attempts,
        verp_base=settings.outbound.from_address if settings.outbound.verp else None,
        trusted_authserv_ids=settings.security.trusted_authserv_ids,
    )


def make_source(cfg: ImapSettings | MaildirSettings, settings: Settings) -> MailSource:
    after = cfg.after_processing
    target = after.folder if after.action == "move" else after.flag
    if isinstance(cfg, MaildirSettings):
        return MaildirSource(cfg.name, settings.resolve(cfg.path), action=after.action, target=target)
    return ImapSource(
        cfg.name,
        host=cfg.host,
        port=cfg.port,
        security=cfg.security,
        ca_file=settings.resolve(cfg.ca_file) if cfg.ca_file else None,
        user=cfg.user,
        password=cfg.password(),
        folders=cfg.folders,
        idle=cfg.idle,
        timeout=cfg.timeout,
        action=after.action,
        target=target,
    )


def make_archiver(
    cfg: ImapSettings | MaildirSettings, settings: Settings, store: Store, raw: BlobStore, clock: Clock
) -> Archiver:
    if isinstance(cfg.start_from, str):
        start = StartPolicy(cfg.start_from)
    else:
        start = StartPolicy("date", start_of(cfg.start_from, settings.chamber.zone))
    batch = cfg.fetch_batch if isinstance(cfg, ImapSettings) else 100
    return Archiver(
        store, raw, clock, start=start, max_fetch_bytes=int(settings.limits.max_fetch_mb * MB), batch_size=batch
    )


def data_paths(settings: Settings) -> list[Path]:
    """Folders `mailflow init` creates (Maildirs are made by their source)."""
    return [settings.data_dir / "raw", settings.data_dir / "attachments", settings.data_dir / "outgoing"]
