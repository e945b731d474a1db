"""Commands that run the work: run, reprocess, rules test."""

from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlmodel import col, select

from mailflow.app import background_sender, make_registry, make_renderer, pipeline_settings
from mailflow.classify import Facts, classify, load_rules
from mailflow.clock import FAKE_NOW
from mailflow.config import Settings
from mailflow.daemon import Daemon
from mailflow.errors import ConfigError, ParseError
from mailflow.parse import parse
from mailflow.screen import auto_reply_reason, bounce_reason, machine_report_reason
from mailflow.context import Roster
from mailflow.store import InboundMessage, InboundState, Outbox, OutboxState, Store
from mailflow.store.db import make_engine
from mailflow.validate import validate_attachments

from mailflow.cli.base import (
    _refuse_template_errors,
    ConfigOpt,
    _app,
    _config_failure,
    _settings,
    app,
    err,
    out,
    rules_app,
)


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
    allow_fake_time: Annotated[
        bool, typer.Option("--allow-fake-time", help=f"let the daemon run on the time {FAKE_NOW} sets")
    ] = False,
) -> None:
    """Run the daemon (or one pass with --once). SIGTERM/SIGINT finish the message in hand, then stop."""
    if FAKE_NOW in os.environ and not once and not allow_fake_time:
        err.print(
            f"[bold red]refused:[/] {FAKE_NOW} is set, and the daemon would keep running on that time, "
            "writing it into every record and letter. Unset it, run one pass with --once, "
            "or pass --allow-fake-time for a rehearsal on a copy of the data.",
            highlight=False,
        )
        raise typer.Exit(2)
    _refuse_broken_templates(_settings(config))
    with _app(config) as application:
        # Everything made so far (modules, table metadata, rules) lives as long as the
        # process: keep the collector from walking it again and again.
        gc.freeze()
        # Letters leave from a process of their own while the pipeline works (outbound/sender.py).
        daemon = Daemon(application, sender=background_sender(application))
        daemon.install_signal_handlers()
        try:
            if not once:
                daemon.run_forever()
                return
            show = progress if progress is not None else err.is_terminal
            with _progress(show) as bar:
                report = daemon.run_once(progress=bar, backlog=True)
        finally:
            daemon.close()
        ing = report.ingest
        out.print(
            f"archived {ing.archived}, skipped {ing.skipped}, duplicates {ing.duplicates} in {ing.seconds:.1f} s; "
            f"processed {report.processed} in {report.pipeline_seconds:.1f} s; sent {report.sent}"
        )
        for line in _not_sent(application.store, application.clock.now()):
            out.print(line, markup=False, highlight=False)
        for error in report.errors:
            err.print(f"[red]error:[/] {error}", highlight=False)
        for stopped in report.sender_stopped:
            # Its letters in hand are settled (sent again, or ambiguous), but a sender that dies
            # is a fault someone must look at: the pass did not do what it should.
            err.print(f"[red]error:[/] {stopped}; see the log, and `mailflow outbox list`", highlight=False)
        raise typer.Exit(1 if report.errors or report.sender_stopped else 0)


# Letters that did not go, in the order the summary names them.
_WAITING = (
    ("due", "not yet handed over"),
    ("held back", "held back"),
    (OutboxState.RETRY, "waiting for a retry"),
    (OutboxState.DEAD, "dead"),
    (OutboxState.AMBIGUOUS, "ambiguous"),
)


def _not_sent(store: Store, now: datetime) -> list[str]:
    """What `run --once` leaves waiting, and why: a count per state, then its commonest reasons.

    "sent 0" alone read as success when every letter had gone to a retry or died.
    """
    counts = _waiting_reasons(store, now)
    if not counts:
        return []
    totals = [f"{sum(counts[state].values())} {label}" for state, label in _WAITING if state in counts]
    lines = [f"not sent: {', '.join(totals)} (each is in `mailflow outbox list`)"]
    for state, label in _WAITING:
        for reason, count in counts.get(state, Counter()).most_common(3):
            said = reason if reason.startswith(f"{label}:") else f"{label}: {reason}"  # the cap's notice names itself
            lines.append(f"  {said} ({count})")
    return lines


def _waiting_reasons(store: Store, now: datetime) -> dict[str, Counter[str]]:
    """Per state, how many letters wait with each last error; a queued letter is "due" (the
    sender did not get to it) or "held back" (queued for later, e.g. by the hourly cap)."""
    shown = (OutboxState.RETRY, OutboxState.DEAD, OutboxState.AMBIGUOUS, OutboxState.QUEUED)
    with store.session() as session:
        rows = session.exec(
            select(Outbox.state, Outbox.last_error, Outbox.next_attempt_at).where(col(Outbox.state).in_(shown))
        ).all()
    counts: dict[str, Counter[str]] = {}
    for state, error, due in rows:
        if state == OutboxState.QUEUED:
            state = "due" if due is None or due <= now else "held back"
        reason = " ".join((error or "no reason recorded").split())[:200]
        counts.setdefault(state, Counter())[reason] += 1
    return counts


def _refuse_broken_templates(settings: Settings) -> None:
    """Exit 2 naming each template and line that cannot render, before any mail is taken.

    A broken template would fail every message whose answer needs it, so the daemon does not
    start on one; only the locale the letters are written in is checked (`check` checks all).
    """
    locale = settings.chamber.locale
    _refuse_template_errors(settings, [locale], f" ({locale}); not starting")


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
        ruleset = load_rules(settings.rules_dir, make_registry(settings, make_renderer(settings)).intents)
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
    screens = (("machine report", machine_report_reason(mail)), ("bounce", bounce_reason(mail)))
    for label, why in (*screens, ("auto-reply", auto_reply_reason(mail))):
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
