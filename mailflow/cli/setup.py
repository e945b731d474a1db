"""Commands that set a home up and check it: init, check, demo."""

from __future__ import annotations

import asyncio
import shutil
from datetime import date

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from mailflow import demo as demo_mail
from mailflow.app import MB, data_paths, make_registry, make_renderer, make_source, make_transport, request_policy
from mailflow.classify import load_rules
from mailflow.config import Settings, config_path
from mailflow.daemon import Daemon
from mailflow.errors import ConfigError, DeliveryError, SourceError, StoreError
from mailflow.outbound.smtp import SmtpTransport
from mailflow.store import InfoRequest
from mailflow.store.db import make_engine, migrate, schema_status, write_probe
from mailflow.store.faults import data_probe
from mailflow.store.health import read_health

from mailflow.cli.base import (
    _refuse_template_errors,
    LOCALES,
    SKELETON,
    ConfigOpt,
    _app,
    _clock,
    _config_failure,
    _settings,
    app,
    err,
    out,
)


# -- init, check -----------------------------------------------------------------------

CHECK_TIMEOUT = 3.0  # seconds check waits for a database another process holds


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
    except StoreError as exc:
        err.print(f"[red]error:[/] {escape(settings.database_url_shown)}: {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    out.print(f"database ready: {settings.database_url_shown}", highlight=False, markup=False)
    out.print("next: `mailflow check`, then `mailflow run`")


@app.command()
def check(config: ConfigOpt = None) -> None:
    """Check the config, the rules, the database, that every mailbox can be reached and the SMTP login."""
    settings = _settings(config)
    out.print(f"[green]✓[/] config {config_path(config)}")
    try:
        ruleset = load_rules(settings.rules_dir, make_registry(settings, make_renderer(settings)).intents)
    except ConfigError as exc:
        _config_failure(exc)
    out.print(f"[green]✓[/] rules: {len(ruleset.rules)} rules from {len(ruleset.files)} file(s)")
    _refuse_template_errors(settings, LOCALES)
    out.print(f"[green]✓[/] templates: every kind renders with sample data in {', '.join(LOCALES)}")
    failed = not _check_database(settings)
    if not failed:
        _check_holidays(settings)
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
    failed = not _check_smtp(settings) or failed
    raise typer.Exit(1 if failed else 0)


def _check_database(settings: Settings) -> bool:
    """Prints the schema's state; False when the database cannot be used."""
    if settings.database.password_in_url():
        out.print(
            "[yellow]![/] database.url holds a password: secrets belong in the environment (database.password_env)"
        )
    engine = make_engine(settings.database_url, busy_timeout=CHECK_TIMEOUT, reader=True)
    try:
        current, head = schema_status(engine)
    except Exception as exc:  # noqa: BLE001 - any driver error means the database is not usable
        out.print(f"[red]✗[/] database {escape(settings.database_url_shown)}: {escape(str(exc))}", highlight=False)
        return False
    finally:
        engine.dispose()
    if current == head:
        out.print(f"[green]✓[/] database at schema {current}")
    else:
        out.print(f"[yellow]![/] database at schema {current}, newest is {head} (`mailflow run` or `init` upgrades it)")
    return _check_store_health(settings)


def _check_holidays(settings: Settings) -> None:
    """Which years' working days are known, and a warning for each open request due in a year nobody
    covers (neither chinese-calendar nor holidays.extra_*): its reminder day is a guess. Never fails."""
    policy = request_policy(settings)
    calendar = policy.calendar
    first, last = calendar.package_years()
    ours = sorted({d.year for d in (*calendar.extra_off, *calendar.extra_workdays)})
    added = f"; config adds {', '.join(map(str, ours))}" if ours else ""
    out.print(f"[green]✓[/] holidays: chinese-calendar covers {first}–{last}{added}", highlight=False)
    year = _clock(settings).now().astimezone(settings.chamber.zone).year  # MAILFLOW_NOW rehearses a year too
    for uncovered in calendar.uncovered([date(year, 12, 31), date(year + 1, 12, 31)]):
        out.print(
            f"[yellow]![/] holidays of {uncovered} are not known: requests due then count working days as Monday"
            " to Friday; enter that year's days off and adjusted workdays under holidays.extra_off and"
            " holidays.extra_workdays",
            highlight=False,
        )
    engine = make_engine(settings.database_url, busy_timeout=CHECK_TIMEOUT, reader=True)
    try:
        with Session(engine) as session:
            waiting = session.exec(select(InfoRequest).where(col(InfoRequest.closed_at).is_(None))).all()
            for request in waiting:
                remind = policy.remind_on(request.due)
                for uncovered in calendar.uncovered([request.due, *([remind] if remind else [])]):
                    out.print(
                        f"[yellow]![/] {request.reference} is due {request.due}, in {uncovered}, whose holidays"
                        " nobody covers: its reminder day is counted Monday to Friday",
                        highlight=False,
                    )
    except SQLAlchemyError:  # a schema not yet upgraded has no requests: `run` or `init` upgrades it
        pass
    finally:
        engine.dispose()


def _check_store_health(settings: Settings) -> bool:
    """Can the daemon write now: the database (not locked by another process) and the data folder."""
    problems = []
    engine = make_engine(settings.database_url, busy_timeout=CHECK_TIMEOUT)
    try:
        locked = write_probe(engine)
    finally:
        engine.dispose()
    if locked:
        problems.append(f"database cannot take a write within {CHECK_TIMEOUT:.0f} s: {locked}")
    folder = data_probe(settings.data_dir)
    if folder:
        problems.append(f"data folder: {folder}")
    daemon = read_health(settings.data_dir)
    if daemon and daemon.get("store_fault"):
        problems.append(f"the running daemon waits for the store: {daemon['store_fault']}")
    for problem in problems:
        out.print(f"[red]✗[/] {escape(problem)}", highlight=False)
    if not problems:
        out.print("[green]✓[/] database and data folder take writes")
    return not problems


def _check_smtp(settings: Settings) -> bool:
    """Logs in to the SMTP server when letters go out by SMTP; False when it refuses or cannot be reached."""
    transport = make_transport(settings)
    if not isinstance(transport, SmtpTransport):
        return True
    try:
        done = asyncio.run(transport.check_login())
    except DeliveryError as exc:
        out.print(f"[red]✗[/] outbound.smtp: {escape(str(exc))}", highlight=False)
        return False
    out.print(f"[green]✓[/] outbound.smtp: {escape(done.summary)}", highlight=False)
    _warn_of_size(done.size_limit, settings)
    return True


def _warn_of_size(size_limit: int | None, settings: Settings) -> None:
    """A warning when the server takes smaller messages than the largest letter we may send: a
    circular with its files (see `_largest_letter`). Debian's Postfix takes 10 MB
    (message_size_limit = 10240000), under the 30 MB shipped."""
    largest, why = _largest_letter(settings)
    if size_limit is None or size_limit >= largest:
        return
    out.print(
        f"[yellow]![/] outbound.smtp: the server takes messages up to {size_limit / MB:.1f} MB (SIZE {size_limit}), "
        f"less than the largest letter mailflow may send ({why}): such a letter would be refused",
        highlight=False,
    )


def _largest_letter(settings: Settings) -> tuple[int, str]:
    """The largest letter mailflow may send, in bytes, and what it is: a circular. Its files come in a
    mail, which mailflow takes only up to limits.max_message_mb, already encoded as it would leave
    (the attachment policy's total counts decoded bytes and cannot be reached beyond it); or from
    `mailflow circular send`, up to circulars.max_attachments_mb, which base64 makes a third larger
    (and a line end every 76 characters)."""
    by_mail = int(settings.limits.max_message_mb * MB)
    files = settings.circulars.max_attachments_mb
    by_cli = int(files * MB * 4 / 3 * 78 / 76)
    if by_cli > by_mail:
        return (
            by_cli,
            f"about {by_cli / MB:.1f} MB: a circular with {files:g} MB of files, circulars.max_attachments_mb",
        )
    return by_mail, f"limits.max_message_mb: {settings.limits.max_message_mb:g} MB, a circular with its attachments"


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
    others = sorted(set(map(str, outbox_folder.glob("*.eml"))) - set(letters))
    if others:
        out.print(f"{len(others)} more letter(s), to the secretariat (applications to decide):", highlight=False)
        for path in others:
            out.print(f"  {path}", highlight=False)
    out.print("next: `mailflow inbox list`, `mailflow outbox list`, `mailflow status`")
