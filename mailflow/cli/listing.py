"""Commands that show the state of things: status, inbox list, outbox list and retry."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlmodel import col, select

from mailflow.app import make_dispatcher
from mailflow.config import Settings
from mailflow.reasons import Reason
from mailflow.outbound.transports import MemoryTransport
from mailflow.store import InboundMessage, InboundState, Outbox, OutboxState

from mailflow.cli.base import (
    ConfigOpt,
    JsonOpt,
    TABLE_LIMIT,
    LimitOpt,
    StateOpt,
    _clock,
    _open_store,
    _reasons_text,
    _settings,
    err,
    inbox_app,
    out,
    outbox_app,
)


# -- status, inbox ---------------------------------------------------------------------


@inbox_app.command("list")
def inbox_list(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    state: StateOpt = None,
    limit: LimitOpt = None,
) -> None:
    """One line per message: id, sender, subject, intent, state, reasons."""
    settings = _settings(config, check_secrets=False)
    rows = _newest(settings, InboundMessage, state, InboundState.ALL, _rows_wanted(limit, as_json))
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
    limit: LimitOpt = None,
) -> None:
    """One line per outgoing message: id, state, attempts, recipients, subject, last error."""
    settings = _settings(config, check_secrets=False)
    rows = _newest(settings, Outbox, state, OutboxState.ALL, _rows_wanted(limit, as_json))
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
    store = _open_store(settings)
    try:
        dispatcher = make_dispatcher(settings, store, _clock(settings), MemoryTransport())
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


def _rows_wanted(limit: int | None, as_json: bool) -> int | None:
    """The limit asked for; without one, every row for tools (--json) and the newest few for a person."""
    if limit is not None:
        return limit
    return None if as_json else TABLE_LIMIT


def _newest(
    settings: Settings, model: Any, states: list[str] | None, known: tuple[str, ...], limit: int | None
) -> list[Any]:
    """The newest `limit` rows of `model` (all when None), oldest first; only those in `states` when named."""
    for name in states or []:
        if name not in known:
            err.print(f"unknown state {name!r}; known: {', '.join(known)}")
            raise typer.Exit(2)
    store = _open_store(settings)
    try:
        with store.session() as session:
            query = select(model).order_by(col(model.id).desc())
            if limit is not None:
                query = query.limit(limit)
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
