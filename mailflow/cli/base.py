"""Command line: each command wires the app through app.py; exit 0 ok, 1 failure, 2 bad config or usage.

This module holds the typer app and what every command shares; the commands live in
setup.py (init, check, demo), running.py (run, reprocess, rules test), status.py and listing.py
(status, inbox, outbox), commanding.py (do, audit); the package imports them so that they register.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from mailflow import __version__
from mailflow.app import App, build_app, make_registry, make_renderer
from mailflow.clock import FAKE_NOW, Clock, ShiftedClock, SystemClock, parse_instant
from mailflow.config import Settings, config_path, load_settings
from mailflow.errors import ConfigError, MailflowError, StoreError
from mailflow.outbound import check_templates
from mailflow.reasons import Reason
from mailflow.store import Store

SKELETON = Path(__file__).resolve().parent.parent / "skeleton"
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
units_app = typer.Typer(no_args_is_help=True, help="Member units: import, export, list, show.")
liaisons_app = typer.Typer(no_args_is_help=True, help="Liaisons of the member units.")
app.add_typer(units_app, name="units")
app.add_typer(liaisons_app, name="liaisons")
audit_app = typer.Typer(no_args_is_help=True, help="Commands run, from mail or `mailflow do`.")
app.add_typer(audit_app, name="audit")

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
TABLE_LIMIT = 50  # rows a table shows unless told otherwise: a terminal holds no more
LimitOpt = Annotated[
    int | None,
    typer.Option(
        "--limit",
        help=f"the newest N (default: every row with --json, the newest {TABLE_LIMIT} in the table)",
        show_default=False,
    ),
]


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
        settings = load_settings(config_path(config), check_secrets=check_secrets)
    except ConfigError as exc:
        _config_failure(exc)
    _clock(settings)  # a bad MAILFLOW_NOW fails every command that reads the configuration, and says so once
    return settings


_told_of_fake_time: set[str] = set()


def _clock(settings: Settings) -> Clock:
    """The system clock, or the one `MAILFLOW_NOW` starts (a rehearsal), with a warning line on stderr."""
    text = os.environ.get(FAKE_NOW)
    if text is None:
        return SystemClock()
    zone = settings.chamber.zone
    try:
        start = parse_instant(text, zone)
    except ValueError as exc:
        _config_failure(ConfigError(FAKE_NOW, [f"{FAKE_NOW}: {exc}"]))
    if text not in _told_of_fake_time:
        _told_of_fake_time.add(text)
        local = start.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        err.print(
            f"[yellow]warning:[/] {FAKE_NOW} is set: mailflow acts as if it were {local} ({zone.key}), "
            "and what it writes carries that time",
            highlight=False,
        )
    return ShiftedClock(start)


def _config_failure(exc: ConfigError) -> NoReturn:
    err.print(f"[bold red]configuration error[/] in {exc.source}:")
    for problem in exc.problems:
        err.print(f"  - {problem}", markup=False, highlight=False)
    raise typer.Exit(2)


@contextmanager
def _app(config: Path | None) -> Iterator[App]:
    settings = _settings(config)
    try:
        application = build_app(settings, clock=_clock(settings))
    except ConfigError as exc:
        _config_failure(exc)
    except MailflowError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    try:
        yield application
    finally:
        application.close()


def _open_store(settings: Settings) -> Store:
    """The database, migrated; one that cannot be used ends the command with its error, exit 1."""
    try:
        return Store.open(settings.database_url)
    except StoreError as exc:
        err.print(f"[red]error:[/] {escape(settings.database_url_shown)}: {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None


def _refuse_template_errors(settings: Settings, locales: list[str], when: str = "") -> None:
    """Render every kind of `locales` with sample data; exit 2 naming each template and line that fails."""
    samples = make_registry(settings, make_renderer(settings)).samples
    problems = check_templates(settings.templates_dir, locales, settings.chamber.letterhead(), samples)
    if not problems:
        return
    err.print(f"[bold red]template errors[/] in {settings.templates_dir}{when}:")
    for problem in problems:
        err.print(f"  - {problem}", markup=False, highlight=False)
    raise typer.Exit(2)


def _reasons_text(reasons: list[dict[str, Any]], locale: str) -> str:
    texts = []
    for data in reasons:
        try:
            texts.append(Reason.from_json(data).text(locale))
        except (KeyError, IndexError):
            texts.append(str(data.get("en") or data.get("code")))
    return ";".join(texts) if locale.startswith("zh") else "; ".join(texts)
