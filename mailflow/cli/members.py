"""`mailflow units import | export | list | show` and `mailflow liaisons list`: the member registry."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session, col, select

from mailflow.members import SheetError, UnitRow, read_units, write_units
from mailflow.members.registry import active_liaisons, apply_rows, check_against_store
from mailflow.reasons import in_locale
from mailflow.store import AuditEntry, Change, Liaison, LiaisonStatus, Unit

from mailflow.cli.base import ConfigOpt, JsonOpt, StateOpt, _app, err, liaisons_app, out, units_app
from mailflow.cli.listing import _print_lines

FileArg = Annotated[Path, typer.Argument(help=".xlsx or .csv (UTF-8, UTF-8 with BOM or GB18030)")]


@units_app.command("import")
def units_import(
    file: FileArg,
    config: ConfigOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print what would change; write nothing")] = False,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="apply the good rows even when some are bad")] = False,
) -> None:
    """Units and liaisons from the secretariat's spreadsheet; every change is kept with its history."""
    try:
        sheet = read_units(file)
    except SheetError as exc:
        err.print(f"[red]error:[/] {exc.zh} ({exc.en})", highlight=False)
        raise typer.Exit(1) from None
    with _app(config) as application:
        locale = application.settings.chamber.locale
        with application.store.session() as session:
            problems = list(sheet.problems) + check_against_store(session, sheet.rows)
            refused = {p.row for p in problems}
            for problem in sorted(problems, key=lambda p: p.row):
                err.print(in_locale((problem.zh, problem.en), locale), markup=False, highlight=False)
            if problems and not skip_bad:
                err.print(f"{len(refused)} row(s) refused; nothing written (fix them, or use --skip-bad)")
                raise typer.Exit(1)
            tx = application.tx(session)
            good = [row for row in sheet.rows if row.row not in refused]
            why = f"导入 {file.name}"
            entry = None
            if not dry_run:
                entry = tx.audit(
                    actor=f"cli:{getpass.getuser()}", role="secretariat", via="cli", command="units-import",
                    line=f"mailflow units import {file.name}", record=file.name[:100], ok=True, result="",
                )  # fmt: skip
                session.flush()
            report = apply_rows(
                session, good, now=tx.now, today=tx.local().date(), why=why, audit_id=entry.id if entry else None
            )
            summary = (
                f"{report.created_units} new unit(s), {report.updated_units} updated, "
                f"{report.new_liaisons} new liaison(s), {report.changes} change(s)"
            )
            if entry is not None:
                entry.result = summary
            for line in report.lines:
                out.print(line, markup=False, highlight=False)
            if dry_run:
                session.rollback()
                out.print(f"dry run, nothing written: {summary}", highlight=False)
            else:
                out.print(summary, highlight=False)
    if sheet.ignored:
        err.print(f"columns not used: {', '.join(sheet.ignored)}", markup=False, highlight=False)
    if problems:
        raise typer.Exit(1)


@units_app.command("export")
def units_export(file: FileArg, config: ConfigOpt = None) -> None:
    """Every unit with its active liaison, in the layout `units import` reads (.xlsx or .csv)."""
    with _app(config) as application, application.store.session() as session:
        rows = []
        for number, unit in enumerate(session.exec(select(Unit).order_by(col(Unit.id))).all(), start=2):
            liaison = _active(session, unit)
            rows.append(
                UnitRow(
                    number, unit.name, unit.code, unit.member_class or "", unit.leader_name or "",
                    unit.leader_email or "", unit.leader_phone or "", unit.address or "",
                    liaison.name if liaison else "", liaison.email if liaison else "",
                    (liaison.phone or "") if liaison else "", (liaison.position or "") if liaison else "",
                )
            )  # fmt: skip
    try:
        write_units(file, rows)
    except SheetError as exc:
        err.print(f"[red]error:[/] {exc.zh} ({exc.en})", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"{len(rows)} unit(s) written to {file}", highlight=False)


@units_app.command("list")
def units_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """One line per unit: code, name, class, leader, active liaison."""
    with _app(config) as application, application.store.session() as session:
        items = []
        for unit in session.exec(select(Unit).order_by(col(Unit.id))).all():
            liaison = _active(session, unit)
            items.append(
                {
                    "code": unit.code, "name": unit.name, "member_class": unit.member_class,
                    "leader": unit.leader_name, "leader_email": unit.leader_email,
                    "liaison": liaison.name if liaison else None, "liaison_email": liaison.email if liaison else None,
                }
            )  # fmt: skip
    if as_json:
        out.print_json(json.dumps(items, ensure_ascii=False))
        return
    keys = ("code", "name", "member_class", "leader", "liaison", "liaison_email")
    _print_lines(keys, [tuple(str(i[k] or "") for k in keys) for i in items])


@units_app.command("show")
def units_show(code: Annotated[str, typer.Argument(help="统一社会信用代码 or name")], config: ConfigOpt = None) -> None:
    """One unit, its liaisons (with their dates) and the history of every change."""
    with _app(config) as application, application.store.session() as session:
        unit = session.exec(select(Unit).where((Unit.code == code.upper()) | (Unit.name == code))).first()
        if unit is None:
            err.print(f"no unit {code}", markup=False, highlight=False)
            raise typer.Exit(1)
        zone = application.settings.chamber.zone
        out.print(f"{unit.name}  {unit.code}  {unit.member_class or ''}", markup=False, highlight=False)
        out.print(f"负责人 {unit.leader_name or ''} {unit.leader_email or ''} {unit.leader_phone or ''}", markup=False)
        for liaison in session.exec(select(Liaison).where(Liaison.unit_id == unit.id).order_by(col(Liaison.id))):
            span = f"{liaison.started_on or ''} – {liaison.ended_on or ''}"
            out.print(f"联络员 {liaison.name} <{liaison.email}> {liaison.status} {span}", markup=False)
        query = (
            select(Change, AuditEntry.actor)
            .outerjoin(AuditEntry, col(AuditEntry.id) == col(Change.audit_id))
            .where(Change.unit_id == unit.id)
            .order_by(col(Change.id))
        )
        lines = [
            (
                f"{c.at.astimezone(zone):%Y-%m-%d %H:%M}" if c.at else "", c.kind, c.field, c.old or "", c.new or "",
                c.why, f"{actor} (#{c.audit_id})" if c.audit_id else "",
            )
            for c, actor in session.exec(query).all()
        ]  # fmt: skip
    _print_lines(("at", "of", "field", "old", "new", "why", "who"), lines)


@liaisons_app.command("list")
def liaisons_list(config: ConfigOpt = None, as_json: JsonOpt = False, state: StateOpt = None) -> None:
    """One line per liaison: unit, name, email, status and dates (all states unless --state)."""
    for name in state or []:
        if name not in LiaisonStatus.ALL:
            err.print(f"unknown state {name!r}; known: {', '.join(LiaisonStatus.ALL)}")
            raise typer.Exit(2)
    with _app(config) as application, application.store.session() as session:
        query = select(Liaison, Unit.name).join(Unit, col(Unit.id) == col(Liaison.unit_id)).order_by(col(Liaison.id))
        if state:
            query = query.where(col(Liaison.status).in_(state))
        items = [
            {
                "unit": unit_name, "name": liaison.name, "email": liaison.email, "phone": liaison.phone, "status": liaison.status,
                "started_on": liaison.started_on.isoformat() if liaison.started_on else None,
                "ended_on": liaison.ended_on.isoformat() if liaison.ended_on else None,
            }
            for liaison, unit_name in session.exec(query).all()
        ]  # fmt: skip
    if as_json:
        out.print_json(json.dumps(items, ensure_ascii=False))
        return
    keys = ("unit", "name", "email", "status", "started_on", "ended_on")
    _print_lines(keys, [tuple(str(i[k] or "") for k in keys) for i in items])


def _active(session: Session, unit: Unit) -> Liaison | None:
    """The unit's active liaison (the newest, should there be more than one)."""
    active = active_liaisons(session, unit)
    return active[-1] if active else None
