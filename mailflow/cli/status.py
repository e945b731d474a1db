"""`mailflow status`: what the store holds, and whether the store itself can be used right now.

It must answer within seconds even while the database is locked or gone: it reads with a
short timeout and without the write lock, and it asks the daemon's health file (not the
database) why the daemon waits.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func
from sqlmodel import Session, col, select

from mailflow.config import Settings
from mailflow.store import FolderState, InboundMessage, InboundState, JobRun, Outbox, OutboxState
from mailflow.store.db import make_engine, schema_status
from mailflow.store.faults import data_probe, fault_of
from mailflow.store.health import read_health

from mailflow.cli.base import ConfigOpt, JsonOpt, _open_store, _settings, app, out

STATUS_TIMEOUT = 2.0  # seconds a read may wait for the database


@app.command()
def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Counts by state (incoming and outgoing), the last poll of every folder, errors, and the store's health."""
    settings = _settings(config, check_secrets=False)
    health = _health(settings)
    try:
        data = _gather(settings)
    except Exception as exc:  # noqa: BLE001 - status reports what it can, whatever the database says
        health["database"] = fault_of(exc) or f"{type(exc).__name__}: {exc}"[:300]
        data = {}
    data["health"] = health
    if as_json:
        out.print_json(json.dumps(data, ensure_ascii=False))
    else:
        _print(settings, data)
    if health.get("database"):
        raise typer.Exit(1)


def _health(settings: Settings) -> dict[str, Any]:
    daemon = read_health(settings.data_dir)
    return {
        "database": None,
        "data_folder": data_probe(settings.data_dir),
        "daemon_waiting_for_store": daemon.get("store_fault") if daemon else None,
    }


def _gather(settings: Settings) -> dict[str, Any]:
    engine = make_engine(settings.database_url, busy_timeout=STATUS_TIMEOUT, reader=True)
    try:
        current, head = schema_status(engine)
        if current != head:  # a new database, or one a newer version has to upgrade: as before
            _open_store(settings).close()
        with Session(engine) as session:
            counts = dict(session.exec(select(InboundMessage.state, func.count()).group_by(InboundMessage.state)).all())
            sending = dict(session.exec(select(Outbox.state, func.count()).group_by(Outbox.state)).all())
            folders = session.exec(select(FolderState).order_by(FolderState.source, FolderState.folder)).all()
            runs = session.exec(select(JobRun).order_by(col(JobRun.id))).all()
    finally:
        engine.dispose()
    last_runs = {run.job: run for run in runs}  # the newest run of each job
    return {
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


def _print(settings: Settings, data: dict[str, Any]) -> None:
    health = data["health"]
    problems = [
        (f"database {settings.database_url_shown}", health["database"]),
        ("data folder", health["data_folder"]),
        ("daemon waiting for the store", health["daemon_waiting_for_store"]),
    ]
    for what, problem in problems:
        if problem:
            out.print(f"[red]✗[/] {what}: {escape(problem)}", highlight=False)
    if "counts" not in data:
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
    for f in data["folders"]:
        poll = _local(f["last_poll"], zone) or "never"
        ftable.add_row(f["source"], f["folder"], poll, f["last_error"] or "")
    out.print(ftable)
    jtable = Table(title="scheduled jobs, last run")
    for column in ("job", "slot", "outcome", "done at"):
        jtable.add_column(column)
    for r in data["jobs"]:
        jtable.add_row(r["job"], r["slot"], r["outcome"], _local(r["done_at"], zone))
    out.print(jtable)


def _local(iso: str | None, zone: Any) -> str:
    return datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if iso else ""
