"""`mailflow units import | export | list | show` and `mailflow liaisons list`: the member registry."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape
from rich.progress import Progress, TextColumn
from sqlmodel import Session, col, select

from mailflow.members import SheetError, SheetResult, UnitRow, read_units, write_units
from mailflow.members.registry import ImportReport, active_liaisons, apply_rows, check_against_store, has_changes
from mailflow.reasons import in_locale
from mailflow.store import AuditEntry, Change, Liaison, LiaisonStatus, Unit
from mailflow.workflows.requests.standing import ART4, streaks

from mailflow.cli.base import ConfigOpt, JsonOpt, StateOpt, _app, err, liaisons_app, out, units_app
from mailflow.cli.listing import _print_lines

FileArg = Annotated[Path, typer.Argument(help=".xlsx or .csv (UTF-8, UTF-8 with BOM, UTF-16 or GB18030)")]
ProgressOpt = Annotated[
    bool | None, typer.Option("--progress/--no-progress", help="rows read so far (default: on in a terminal)")
]


def _fail(zh: str, en: str) -> NoReturn:
    err.print(f"[red]error:[/] {escape(zh)} ({escape(en)})", highlight=False)
    raise typer.Exit(1)


@contextmanager
def _reading(show: bool) -> Iterator[Callable[[int], None] | None]:
    """A transient line on stderr with the row reached, while a large sheet is read."""
    if not show:
        yield None
        return
    with Progress(
        TextColumn("读取第 {task.completed} 行 (reading row {task.completed})"), console=err, transient=True
    ) as bar:
        task = bar.add_task("read", total=None)
        yield lambda number: bar.update(task, completed=number)


def _read(file: Path, progress: bool | None) -> SheetResult:
    try:
        with _reading(progress if progress is not None else err.is_terminal) as tick:
            return read_units(file, progress=tick)
    except SheetError as exc:
        _fail(exc.zh, exc.en)
    except OSError as exc:
        _fail(f"无法读取 {file}：{exc.strerror or exc}", f"cannot read {file}: {exc.strerror or exc}")


def _said_what_was_read(sheet: SheetResult, locale: str) -> None:
    """Which sheet and header row were read, which sheets were not, and the columns left unused."""
    lines: list[tuple[str, str]] = []
    if sheet.sheet and (sheet.skipped_sheets or sheet.hidden):
        hidden = ("（隐藏的工作表）", " (a hidden sheet)") if sheet.hidden else ("", "")
        lines.append(
            (f"读取了工作表“{sheet.sheet}”{hidden[0]}，第 {sheet.header_row} 行为表头",
             f"read the sheet {sheet.sheet!r}{hidden[1]}, header on row {sheet.header_row}")
        )  # fmt: skip
    if sheet.skipped_sheets:
        zh, en = "、".join(f"“{title}”" for title in sheet.skipped_sheets), ", ".join(sheet.skipped_sheets)
        lines.append((f"未读取的工作表（也有表头）：{zh}", f"sheets not read (they have a header too): {en}"))
    if sheet.ignored:
        lines.append((f"未使用的列：{'、'.join(sheet.ignored)}", f"columns not used: {', '.join(sheet.ignored)}"))
    for pair in lines:
        err.print(in_locale(pair, locale), markup=False, highlight=False)


@units_app.command("import")
def units_import(
    file: FileArg,
    config: ConfigOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print what would change; write nothing")] = False,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="apply the good rows even when some are bad")] = False,
    progress: ProgressOpt = None,
) -> None:
    """Units and liaisons from the secretariat's spreadsheet; every change is kept with its history.

    An import that changes nothing writes nothing, not even an audit entry: the audit trail keeps
    what was done to the registry, and re-reading an unchanged list did nothing to it."""
    sheet = _read(file, progress)
    with _app(config) as application:
        locale = application.settings.chamber.locale
        _said_what_was_read(sheet, locale)
        with application.store.session() as session:
            problems = list(sheet.problems) + check_against_store(session, sheet.rows)
            refused = {p.row for p in problems}
            for problem in sorted(problems, key=lambda p: p.row):
                err.print(in_locale((problem.zh, problem.en), locale), markup=False, highlight=False)
            if problems and not skip_bad:
                err.print(
                    f"{len(refused)} 行未通过检查，未写入任何内容；请改正后重新导入，或加 --skip-bad 只导入其余的行 "
                    f"({len(refused)} row(s) refused; nothing written: fix them, or use --skip-bad)",
                    markup=False,
                    highlight=False,
                )
                raise typer.Exit(1)
            tx = application.tx(session)
            good = [row for row in sheet.rows if row.row not in refused]
            entry = None
            changing = has_changes(session, good)
            if changing and not dry_run:
                entry = tx.audit(
                    actor=f"cli:{getpass.getuser()}", role="secretariat", via="cli", command="units-import",
                    line=f"mailflow units import {file.name}", record=file.name[:100], ok=True, result="",
                )  # fmt: skip
                session.flush()
            report = (
                apply_rows(
                    session, good, now=tx.now, today=tx.local().date(), why=f"导入 {file.name}",
                    audit_id=entry.id if entry else None,
                )
                if changing
                else ImportReport()
            )  # fmt: skip
            summary = (
                f"{report.created_units} new unit(s), {report.updated_units} updated, "
                f"{report.new_liaisons} new liaison(s), {report.changes} change(s)"
            )
            if entry is not None:
                entry.result = summary
            if report.lines:
                out.file.write("\n".join(report.lines) + "\n")  # thousands of lines on a first import: not through rich
            if dry_run:
                session.rollback()
                out.print(f"dry run, nothing written: {summary}", highlight=False)
            elif not report.changes:
                out.print(f"{summary}; 没有变化，未写入任何内容 (no changes, nothing written)", highlight=False)
            else:
                out.print(summary, highlight=False)
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
        _fail(exc.zh, exc.en)
    except OSError as exc:  # a missing folder; on Windows, the file still open in Excel
        _fail(
            f"无法写入 {file}：{exc.strerror or exc}（文件是否正在 Excel 或 WPS 中打开？）",
            f"cannot write {file}: {exc.strerror or exc} (is it open in Excel or WPS?)",
        )
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
    """One line per liaison: unit, name, email, status and dates (all states unless --state), and the
    requests missed in a row, counted back from the latest closed one (Art. 4 counts two: marked)."""
    for name in state or []:
        if name not in LiaisonStatus.ALL:
            err.print(f"unknown state {name!r}; known: {', '.join(LiaisonStatus.ALL)}")
            raise typer.Exit(2)
    with _app(config) as application, application.store.session() as session:
        query = select(Liaison, Unit.name).join(Unit, col(Unit.id) == col(Liaison.unit_id)).order_by(col(Liaison.id))
        if state:
            query = query.where(col(Liaison.status).in_(state))
        missed = streaks(session)
        items = [
            {
                "unit": unit_name, "name": liaison.name, "email": liaison.email, "phone": liaison.phone, "status": liaison.status,
                "started_on": liaison.started_on.isoformat() if liaison.started_on else None,
                "ended_on": liaison.ended_on.isoformat() if liaison.ended_on else None,
                "consecutive_misses": missed.get(liaison.id or 0, 0), "art4": missed.get(liaison.id or 0, 0) >= ART4,
            }
            for liaison, unit_name in session.exec(query).all()
        ]  # fmt: skip
    if as_json:
        out.print_json(json.dumps(items, ensure_ascii=False))
        return
    keys = ("unit", "name", "email", "status", "started_on", "ended_on")
    lines = [(*(str(i[k] or "") for k in keys), _misses(i["consecutive_misses"])) for i in items]  # type: ignore[arg-type]
    _print_lines((*keys, "missed in a row"), lines)


def _misses(count: int) -> str:
    """Requests missed in a row; those Art. 4 counts marked."""
    return f"{count} ⚠ Art. 4" if count >= ART4 else str(count or "")


def _active(session: Session, unit: Unit) -> Liaison | None:
    """The unit's active liaison (the newest, should there be more than one)."""
    active = active_liaisons(session, unit)
    return active[-1] if active else None
