"""Command line: each command wires the app through app.py; exit 0 ok, 1 failure, 2 bad config or usage."""

from __future__ import annotations

import gc
import json
import logging
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import func
from sqlmodel import col, select

from mailflow import __version__
from mailflow import demo as demo_mail
from mailflow.app import App, build_app, data_paths, make_dispatcher, make_source, pipeline_settings
from mailflow.classify import Facts, classify, load_rules
from mailflow.config import Settings, config_path, load_settings
from mailflow.daemon import Daemon
from mailflow.errors import ConfigError, MailflowError, ParseError, SourceError
from mailflow.outbound import check_templates
from mailflow.outbound.samples import SAMPLES
from mailflow.parse import parse
from mailflow.reasons import Reason
from mailflow.screen import auto_reply_reason, bounce_reason
from mailflow.steps import Roster
from mailflow.clock import SystemClock
from mailflow.outbound.transports import MemoryTransport
from mailflow.store import FolderState, InboundMessage, InboundState, JobRun, Outbox, OutboxState, Store
from mailflow.store.db import make_engine, migrate, schema_status
from mailflow.validate import validate_attachments

SKELETON = Path(__file__).with_name("skeleton")
LOCALES = ["zh-CN", "en"]

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="mailflow: the chamber's mail, understood and answered."
)
inbox_app = typer.Typer(no_args_is_help=True, help="Inbound messages.")
outbox_app = typer.Typer(no_args_is_help=True, help="Outgoing messages.")
rules_app = typer.Typer(no_args_is_help=True, help="Classification rules.")
app.add_typer(inbox_app, name="inbox")
app.add_typer(outbox_app, name="outbox")
app.add_typer(rules_app, name="rules")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="config file (default: $MAILFLOW_CONFIG, then ./config.yaml)", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
StateOpt = Annotated[list[str] | None, typer.Option("--state", help="only these states (repeatable)")]
LimitOpt = Annotated[int, typer.Option("--limit", help="the newest N")]


def main() -> None:
    app()


@app.callback()
def _root(
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR")] = "WARNING",
    version: Annotated[bool, typer.Option("--version", help="print the version and exit")] = False,
) -> None:
    if version:
        out.print(f"mailflow {__version__}")
        raise typer.Exit(0)
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


# -- helpers ---------------------------------------------------------------------------


def _settings(config: Path | None, *, check_secrets: bool = True) -> Settings:
    try:
        return load_settings(config_path(config), check_secrets=check_secrets)
    except ConfigError as exc:
        _config_failure(exc)


def _config_failure(exc: ConfigError) -> NoReturn:
    err.print(f"[bold red]configuration error[/] in {exc.source}:")
    for problem in exc.problems:
        err.print(f"  - {problem}", markup=False, highlight=False)
    raise typer.Exit(2)


@contextmanager
def _app(config: Path | None) -> Iterator[App]:
    settings = _settings(config)
    try:
        application = build_app(settings)
    except ConfigError as exc:
        _config_failure(exc)
    except MailflowError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    try:
        yield application
    finally:
        application.close()


def _reasons_text(reasons: list[dict[str, Any]], locale: str) -> str:
    texts = []
    for data in reasons:
        try:
            texts.append(Reason.from_json(data).text(locale))
        except (KeyError, IndexError):
            texts.append(str(data.get("en") or data.get("code")))
    return ";".join(texts) if locale.startswith("zh") else "; ".join(texts)


# -- init, check -----------------------------------------------------------------------


@app.command()
def init(
    config: ConfigOpt = None,
) -> None:
    """Create config.yaml, rules/ and templates/ (when missing), the data folders, the Maildir and the database."""
    path = config_path(config)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SKELETON / "config.yaml", path)
        out.print(f"wrote {path}")
    settings = _settings(path, check_secrets=False)
    for shipped, folder in (("rules", settings.rules_dir), ("templates", settings.templates_dir)):
        if not folder.exists():
            shutil.copytree(SKELETON / shipped, folder)
            out.print(f"wrote {folder}/")
    for folder in data_paths(settings):
        folder.mkdir(parents=True, exist_ok=True)
    for src in settings.sources:
        if src.kind == "maildir":
            make_source(src, settings).open()  # creates cur/ new/ tmp/ and the processed folder
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    out.print(f"database ready: {settings.database_url}")
    out.print("next: `mailflow check`, then `mailflow run`")


@app.command()
def check(config: ConfigOpt = None) -> None:
    """Check the config, the rules, the database and that every mailbox can be reached."""
    settings = _settings(config)
    out.print(f"[green]✓[/] config {config_path(config)}")
    try:
        ruleset = load_rules(settings.rules_dir)
    except ConfigError as exc:
        _config_failure(exc)
    out.print(f"[green]✓[/] rules: {len(ruleset.rules)} rules from {len(ruleset.files)} file(s)")
    problems = check_templates(settings.templates_dir, LOCALES, settings.chamber.letterhead(), SAMPLES)
    if problems:
        err.print(f"[bold red]template errors[/] in {settings.templates_dir}:")
        for problem in problems:
            err.print(f"  - {problem}", markup=False, highlight=False)
        raise typer.Exit(2)
    out.print(f"[green]✓[/] templates: every kind renders with sample data in {', '.join(LOCALES)}")
    failed = False
    engine = make_engine(settings.database_url)
    try:
        current, head = schema_status(engine)
        if current == head:
            out.print(f"[green]✓[/] database at schema {current}")
        else:
            out.print(
                f"[yellow]![/] database at schema {current}, newest is {head} (`mailflow run` or `init` upgrades it)"
            )
    except Exception as exc:  # noqa: BLE001 - any driver error means the database is not usable
        out.print(f"[red]✗[/] database: {exc}", highlight=False)
        failed = True
    finally:
        engine.dispose()
    for src in settings.sources:
        source = make_source(src, settings)
        try:
            source.open()
            details = []
            for folder in source.folders:
                info = source.select(folder)
                details.append(f"{folder} (UIDVALIDITY {info.uidvalidity})")
            out.print(f"[green]✓[/] source {src.name}: {source.describe()}: {', '.join(details)}", highlight=False)
        except SourceError as exc:
            out.print(f"[red]✗[/] source {src.name}: {exc}", highlight=False)
            failed = True
        finally:
            source.close()
    raise typer.Exit(1 if failed else 0)


# -- demo ------------------------------------------------------------------------------


@app.command()
def demo(config: ConfigOpt = None) -> None:
    """Seed the local Maildir with a dozen liaison emails, run one pass, and show what became of each."""
    if not config_path(config).exists():
        init(config)
    settings = _settings(config)
    maildirs = [s for s in settings.sources if s.kind == "maildir"]
    if not maildirs:
        err.print("[red]error:[/] the demo needs a maildir source (the embedded default)", highlight=False)
        raise typer.Exit(2)
    outbox_folder = settings.resolve(settings.outbound.folder)
    with _app(config) as application:
        daemon = Daemon(application)
        with application.store.session() as session:
            demo_mail.seed_roster(session)
            fresh = not demo_mail.seeded(session)
        if fresh:
            daemon.run_once()  # the first start is recorded before the demo mail arrives
            count = demo_mail.seed_maildir(settings.resolve(maildirs[0].path), application.clock)
            out.print(f"delivered {count} demo emails to {settings.resolve(maildirs[0].path)}", highlight=False)
            daemon.run_once()
        rows = demo_mail.report(application.store, outbox_folder)
    table = Table(title="mailflow demo", show_lines=False)
    for heading in ("#", "from", "subject", "understood as", "state", "answer"):
        table.add_column(heading, overflow="fold")
    for row in rows:
        state = row["state"] + (f"\n{'; '.join(row['reasons'])}" if row["reasons"] else "")
        answer = " ".join(x for x in (row["reply"], row["reference"]) if x) or "-"
        table.add_row(str(row["id"]), row["sender"], row["subject"], row["intent"] or "-", state, answer)
    out.print(table)
    letters = [row["eml"] for row in rows if row["eml"]]
    out.print(f"{len(letters)} answers written as .eml files to {outbox_folder}/", highlight=False)
    for path in letters:
        out.print(f"  {path}", highlight=False)
    out.print("next: `mailflow inbox list`, `mailflow outbox list`, `mailflow status`")


# -- run -------------------------------------------------------------------------------


@app.command()
def run(
    config: ConfigOpt = None,
    once: Annotated[
        bool, typer.Option("--once", help="one pass over every mailbox and the backlog, then exit")
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="progress bar (default: on for --once in a terminal)"),
    ] = None,
) -> None:
    """Run the daemon (or one pass with --once). SIGTERM/SIGINT finish the message in hand, then stop."""
    with _app(config) as application:
        # Everything made so far (modules, table metadata, rules) lives as long as the
        # process: keep the collector from walking it again and again.
        gc.freeze()
        daemon = Daemon(application)
        daemon.install_signal_handlers()
        if not once:
            daemon.run_forever()
            return
        show = progress if progress is not None else err.is_terminal
        with _progress(show) as bar:
            report = daemon.run_once(progress=bar, backlog=True)
        ing = report.ingest
        out.print(
            f"archived {ing.archived}, skipped {ing.skipped}, duplicates {ing.duplicates} in {ing.seconds:.1f} s; "
            f"processed {report.processed} in {report.pipeline_seconds:.1f} s; sent {report.sent}"
        )
        for error in report.errors:
            err.print(f"[red]error:[/] {error}", highlight=False)
        raise typer.Exit(1 if report.errors else 0)


@contextmanager
def _progress(show: bool) -> Iterator[Any]:
    if not show:
        yield None
        return
    with Progress(
        TextColumn("processing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("processing", total=None)

        def tick() -> None:
            bar.advance(task)

        yield tick


# -- status, inbox ---------------------------------------------------------------------


@app.command()
def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Counts by state (incoming and outgoing), the last poll of every folder, and errors."""
    settings = _settings(config, check_secrets=False)
    store = Store.open(settings.database_url)
    try:
        with store.session() as session:
            counts = dict(session.exec(select(InboundMessage.state, func.count()).group_by(InboundMessage.state)).all())
            sending = dict(session.exec(select(Outbox.state, func.count()).group_by(Outbox.state)).all())
            folders = session.exec(select(FolderState).order_by(FolderState.source, FolderState.folder)).all()
            runs = session.exec(select(JobRun).order_by(col(JobRun.id))).all()
    finally:
        store.close()
    last_runs = {run.job: run for run in runs}  # the newest run of each job
    data: dict[str, Any] = {
        "counts": {state: counts.get(state, 0) for state in InboundState.ALL},
        "total": sum(counts.values()),
        "outbox": {state: sending.get(state, 0) for state in OutboxState.ALL},
        "folders": [
            {
                "source": f.source,
                "folder": f.folder,
                "uidvalidity": f.uidvalidity,
                "last_seen_uid": f.last_seen_uid,
                "last_poll": f.last_poll_at.isoformat() if f.last_poll_at else None,
                "last_error": f.last_error,
                "last_error_at": f.last_error_at.isoformat() if f.last_error_at else None,
            }
            for f in folders
        ],
        "jobs": [
            {
                "job": r.job,
                "slot": r.slot,
                "outcome": r.outcome,
                "done_at": r.done_at.isoformat() if r.done_at else None,
            }
            for r in last_runs.values()
        ],
    }
    if as_json:
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    for title, counts in (("messages by state", data["counts"]), ("outgoing mail by state", data["outbox"])):
        table = Table(title=title)
        table.add_column("state")
        table.add_column("count", justify="right")
        for state, count in counts.items():
            table.add_row(state, str(count))
        out.print(table)
    zone = settings.chamber.zone
    ftable = Table(title="mailboxes")
    for column in ("source", "folder", "last poll", "last error"):
        ftable.add_column(column)
    for f in folders:
        poll = f.last_poll_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if f.last_poll_at else "never"
        ftable.add_row(f.source, f.folder, poll, f.last_error or "")
    out.print(ftable)
    jtable = Table(title="scheduled jobs, last run")
    for column in ("job", "slot", "outcome", "done at"):
        jtable.add_column(column)
    for r in last_runs.values():
        done = r.done_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if r.done_at else ""
        jtable.add_row(r.job, r.slot, r.outcome, done)
    out.print(jtable)


@inbox_app.command("list")
def inbox_list(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    state: StateOpt = None,
    limit: LimitOpt = 50,
) -> None:
    """One line per message: id, sender, subject, intent, state, reasons."""
    settings = _settings(config, check_secrets=False)
    rows = _newest(settings, InboundMessage, state, InboundState.ALL, limit)
    locale = settings.chamber.locale
    items = [
        {
            "id": r.id,
            "received_at": r.received_at.isoformat() if r.received_at else None,
            "sender": r.sender,
            "subject": r.subject,
            "intent": r.intent,
            "category": r.category,
            "state": r.state,
            "reasons": [Reason.from_json(x).to_json() if x.get("code") else x for x in r.reasons],
        }
        for r in rows
    ]
    if as_json:
        out.print_json(json.dumps(items, ensure_ascii=False))
        return
    lines = []
    for row in rows:
        intent = (row.intent or "") + (f"/{row.category}" if row.category else "")
        lines.append(
            (str(row.id), row.sender or "", row.subject or "", intent, row.state, _reasons_text(row.reasons, locale))
        )
    _print_lines(("id", "sender", "subject", "intent", "state", "reasons"), lines)


@outbox_app.command("list")
def outbox_list(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    state: StateOpt = None,
    limit: LimitOpt = 50,
) -> None:
    """One line per outgoing message: id, state, attempts, recipients, subject, last error."""
    settings = _settings(config, check_secrets=False)
    rows = _newest(settings, Outbox, state, OutboxState.ALL, limit)
    zone = settings.chamber.zone
    items = [
        {
            "id": r.id,
            "state": r.state,
            "attempts": r.attempts,
            "kind": r.kind,
            "recipients": r.recipients,
            "subject": r.subject,
            "reference": r.reference,
            "message_id": r.message_id,
            "created_at": r.created_at.isoformat() if r.created_at else None,
            "sent_at": r.sent_at.isoformat() if r.sent_at else None,
            "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
            "last_error": r.last_error,
        }
        for r in rows
    ]
    if as_json:
        out.print_json(json.dumps(items, ensure_ascii=False))
        return
    lines = [
        (
            str(r.id),
            r.state,
            str(r.attempts),
            ", ".join(r.recipients),
            r.subject,
            r.sent_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if r.sent_at else "",
            r.last_error or "",
        )
        for r in rows
    ]
    _print_lines(("id", "state", "tries", "to", "subject", "sent", "last error"), lines)


@outbox_app.command("retry")
def outbox_retry(
    ids: Annotated[list[int], typer.Argument(help="outbox ids (see `outbox list`)")],
    config: ConfigOpt = None,
) -> None:
    """Queue dead or ambiguous messages again; sent on the next pass (`run --once` sends at once)."""
    settings = _settings(config, check_secrets=False)
    store = Store.open(settings.database_url)
    try:
        dispatcher = make_dispatcher(settings, store, SystemClock(), MemoryTransport())
        missing = False
        for row_id in ids:
            result = dispatcher.retry(row_id)
            if result == "missing":
                err.print(f"#{row_id}: no such outgoing message")
                missing = True
            else:
                out.print(f"#{row_id}: {result}")
    finally:
        store.close()
    raise typer.Exit(1 if missing else 0)


def _newest(settings: Settings, model: Any, states: list[str] | None, known: tuple[str, ...], limit: int) -> list[Any]:
    """The newest `limit` rows of `model` (oldest first), in the given states when some are named."""
    for name in states or []:
        if name not in known:
            err.print(f"unknown state {name!r}; known: {', '.join(known)}")
            raise typer.Exit(2)
    store = Store.open(settings.database_url)
    try:
        with store.session() as session:
            query = select(model).order_by(col(model.id).desc()).limit(limit)
            if states:
                query = query.where(col(model.state).in_(states))
            return list(reversed(session.exec(query).all()))
    finally:
        store.close()


def _print_lines(header: tuple[str, ...], lines: Sequence[tuple[str, ...]]) -> None:
    """A table in a terminal; one tab-separated line per row, nothing cut, when piped."""
    if not out.is_terminal:
        for line in lines:  # rich would expand the tabs; these lines are for tools
            typer.echo("\t".join(" ".join(field.split()) for field in line))
        return
    table = Table()
    for column in header:
        table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=40 if column == "subject" else None)
    for line in lines:
        table.add_row(*line)
    out.print(table)


# -- reprocess -------------------------------------------------------------------------


@app.command()
def reprocess(
    ids: Annotated[list[int] | None, typer.Argument(help="message ids (see `inbox list`)")] = None,
    config: ConfigOpt = None,
    held: Annotated[bool, typer.Option("--held", help="every held message")] = False,
    failed: Annotated[bool, typer.Option("--failed", help="every failed message")] = False,
) -> None:
    """Run messages through the pipeline again, e.g. after the rules changed."""
    if not ids and not held and not failed:
        err.print("name message ids, or --held / --failed")
        raise typer.Exit(2)
    with _app(config) as application:
        wanted = set(ids or [])
        states = [s for s, on in ((InboundState.HELD, held), (InboundState.FAILED, failed)) if on]
        with application.store.session() as session:
            if states:
                found = session.exec(select(InboundMessage.id).where(col(InboundMessage.state).in_(states))).all()
                wanted |= {i for i in found if i is not None}
            known: dict[int, str] = {
                r.id or 0: r.state
                for r in session.exec(select(InboundMessage).where(col(InboundMessage.id).in_(wanted))).all()
            }
        missing = sorted(wanted - set(known))
        for inbound_id in sorted(known):
            if known[inbound_id] in (InboundState.SKIPPED, InboundState.ARCHIVED):
                out.print(f"#{inbound_id}: {known[inbound_id]}, left as it is")
                continue
            before = known[inbound_id]
            after = application.pipeline.reprocess(inbound_id)
            out.print(f"#{inbound_id}: {before} -> {after}")
        for inbound_id in missing:
            err.print(f"#{inbound_id}: no such message")
        raise typer.Exit(1 if missing else 0)


# -- rules test ------------------------------------------------------------------------


@rules_app.command("test")
def rules_test(
    file: Annotated[Path, typer.Argument(help="a message saved as .eml", exists=True, dir_okay=False)],
    config: ConfigOpt = None,
    sender_role: Annotated[
        str | None, typer.Option("--sender-role", help="pretend the sender is liaison/leader/secretariat/unknown")
    ] = None,
) -> None:
    """Show which rule matches a message and why each other rule did not."""
    settings = _settings(config, check_secrets=False)
    try:
        ruleset = load_rules(settings.rules_dir)
    except ConfigError as exc:
        _config_failure(exc)
    psettings = pipeline_settings(settings)
    try:
        mail = parse(file.read_bytes(), psettings.limits)
    except ParseError as exc:
        out.print(f"[red]cannot parse:[/] {exc.reason.text(settings.chamber.locale)}", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"subject: {mail.subject}", highlight=False)
    out.print(f"from:    {mail.from_.email if mail.from_ else '(none)'}", highlight=False)
    role = sender_role or _role_of(settings, mail.from_.email if mail.from_ else "")
    out.print(f"sender role: {role}")
    for label, why in (("bounce", bounce_reason(mail)), ("auto-reply", auto_reply_reason(mail))):
        if why:
            out.print(f"[yellow]screen:[/] {label} ({why}); the pipeline ignores it before the rules", highlight=False)
    domain = "@" + psettings.message_id_domain.lower()
    result = classify(ruleset.rules, Facts(mail, role, lambda mid: mid.lower().endswith(domain)))
    for item in result.results:
        mark = "[green]✓[/]" if item.matched else "[red]✗[/]"
        target = item.rule.intent or ""
        if item.rule.category:
            target += f"/{item.rule.category}"
        out.print(f"{mark} {item.rule.name} -> {target}  [dim]({item.rule.source})[/]", highlight=False)
        for reason in item.reasons:
            out.print(f"      {reason}", markup=False, highlight=False)
    not_reached = len(ruleset.rules) - len(result.results)
    if not_reached:
        out.print(f"  ({not_reached} later rule(s) not reached: an earlier rule stopped the run)")
    out.print(f"intent: [bold]{result.intent}[/]" + (f", category {result.category}" if result.category else ""))
    checks, message_reasons = validate_attachments(mail.attachments, ruleset.policy)
    for check_ in checks:
        size = f" {check_.width}×{check_.height}" if check_.width else ""
        verdict = "ok" if not check_.reasons else "; ".join(r.text(settings.chamber.locale) for r in check_.reasons)
        out.print(f"attachment {check_.safe_name} ({check_.detected_type}{size}): {verdict}", highlight=False)
    for problem in message_reasons:
        out.print(f"attachments: {problem.text(settings.chamber.locale)}", highlight=False)


def _role_of(settings: Settings, email: str) -> str:
    """The sender's role as the pipeline would see it (the same Roster), or `unknown` without a database."""
    if email in settings.chamber.secretariat:
        return "secretariat"
    db_file = settings.database_url.removeprefix("sqlite:///")
    if settings.database_url.startswith("sqlite") and not Path(db_file).exists():
        return "unknown"
    store = Store(make_engine(settings.database_url))
    try:
        with store.session() as session:
            roster = Roster(session)
    except Exception:  # noqa: BLE001 - an unmigrated database just knows nobody
        return "unknown"
    finally:
        store.close()
    if email in roster.liaisons:
        return "liaison"
    return "leader" if email in roster.leaders else "unknown"
