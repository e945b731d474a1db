"""`mailflow requests create | list | show`: requests for information (报送任务) from the command line,
and who answered them, who was reminded, who missed.

`create` runs the same code as a `#征集` mail (workflows.requests), in one transaction with its audit
entry; the due date is read as the mail's is (2026-12-15, 2026年12月15日, 12月15日). A refusal (a due
date not after today, an unknown code, nobody to ask) queues nothing, is audited, and exits 1.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import select

from mailflow.app import request_policy
from mailflow.parse.decode import decode_text
from mailflow.reasons import Reason
from mailflow.store import InfoRequest
from mailflow.workflows.circular import File
from mailflow.workflows.requests import Ask, Created, audit, create
from mailflow.workflows.circular.sending import too_large
from mailflow.workflows.requests.sending import REQUEST_TOO_LARGE
from mailflow.workflows.requests.reading import read_audience, read_due
from mailflow.workflows.requests.standing import answers, counts

from mailflow.cli.base import ConfigOpt, JsonOpt, LimitOpt, _app, _open_store, _settings, app, err, out
from mailflow.cli.listing import _newest, _print_lines, _rows_wanted

requests_app = typer.Typer(no_args_is_help=True, help="Requests for information (报送任务) with a due date.")
app.add_typer(requests_app, name="requests")


@requests_app.command("create")
def requests_create(
    title: Annotated[str, typer.Option("--title", help="the request's title, in the letters' subject")],
    due: Annotated[str, typer.Option("--due", help="the last day to answer: 2026-12-15, 2026年12月15日, 12月15日")],
    to: Annotated[str, typer.Option("--to", help="all, or the units' codes, comma-separated")],
    body: Annotated[Path, typer.Option("--body", help="a text file with what is asked (UTF-8 or GB18030)")],
    attach: Annotated[
        list[Path] | None, typer.Option("--attach", help="a file every letter carries, e.g. a form (repeatable)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Ask every unit (or those named) for information by a due date: one letter per liaison. Audited."""
    for path in [body, *(attach or [])]:
        if not path.is_file():
            err.print(f"no such file: {path}", markup=False, highlight=False)
            raise typer.Exit(2)
    units, no_audience = read_audience(to.replace("，", ","))
    line = f"mailflow requests create --title {json.dumps(title, ensure_ascii=False)} --due {due} --to {to}"
    line += "".join(f" --attach {p.name}" for p in attach or [])
    with _app(config) as application:
        locale, policy = application.settings.chamber.locale, request_policy(application.settings)
        who = f"cli:{getpass.getuser()}"
        with application.store.session() as session:
            tx = application.tx(session)
            day, unreadable = read_due(due.strip(), tx.local().date())
            text = decode_text(body.read_bytes(), "utf-8")[0].replace("\r\n", "\n")
            problems = tuple(p for p in (unreadable, no_audience) if p is not None)
            outcome: Created | tuple[Reason, ...] = problems
            if day is not None and not problems:
                sizes = [p.stat().st_size for p in attach or []]  # before a byte is read
                refusal = too_large(sizes, policy.max_attachment_bytes, REQUEST_TOO_LARGE)
                files = () if refusal else tuple(File(p.name, p.read_bytes()) for p in attach or [])
                ask = Ask(title, text, day, units, who, "cli", files=files)
                outcome = (refusal,) if refusal else create(ask, tx, policy)
            created = None if isinstance(outcome, tuple) else outcome
            refused = "；".join(r.zh for r in outcome) if isinstance(outcome, tuple) else ""
            audit(tx, who, "cli", line, created, refused, None)
    if created is None:
        for reason in outcome if isinstance(outcome, tuple) else ():
            err.print(f"✗ {reason.text(locale)}  {reason.fix(locale)}", markup=False, highlight=False)
        raise typer.Exit(1)
    row = created.request
    remind = policy.remind_on(row.due)
    out.print(
        f"{row.reference}: {row.letters} letter(s) queued, due {row.due}"
        + (f", reminders on {remind}" if remind else "")
        + "; the daemon sends them, or `mailflow run --once`",
        markup=False,
        highlight=False,
    )
    if created.skipped:
        names = "、".join(f"{s.name}（{s.code}）" for s in created.skipped[:20])
        err.print(f"{len(created.skipped)} unit(s) have no active liaison: {names}", markup=False, highlight=False)
    for year in policy.calendar.uncovered([row.due, *([remind] if remind else [])]):
        err.print(f"! the holidays of {year} are not known: {_CALENDAR_HINT}", markup=False, highlight=False)


_CALENDAR_HINT = "working days count Monday to Friday; enter them under holidays.extra_off / extra_workdays"


@requests_app.command("list")
def requests_list(config: ConfigOpt = None, as_json: JsonOpt = False, limit: LimitOpt = None) -> None:
    """One line per request: reference, due date, title, and its units by outcome."""
    settings = _settings(config, check_secrets=False)
    rows: list[InfoRequest] = _newest(settings, InfoRequest, None, (), _rows_wanted(limit, as_json))
    store = _open_store(settings)
    try:
        with store.session() as session:
            tally = counts(session, [r.id for r in rows if r.id is not None])
    finally:
        store.close()
    zone = settings.chamber.zone
    items = []
    for r in rows:
        c = tally.get(r.id or 0)
        items.append({
            "reference": r.reference, "title": r.title, "due": r.due.isoformat(), "units": r.units, "sender": r.sender,
            "via": r.via, "created_at": r.created_at.astimezone(zone).isoformat() if r.created_at else None,
            "state": "closed" if r.closed_at else "open", "letters": r.letters, "asked": c.asked if c else 0,
            "answered": c.answered if c else 0, "late": c.late if c else 0, "missed": c.missed if c else 0,
            "reminded": c.reminded if c else 0, "unreached": r.unreached,
        })  # fmt: skip
    if as_json:
        out.print_json(json.dumps(items, ensure_ascii=False))
        return
    if not items:
        err.print("no request has been sent yet")
    keys = ("reference", "due", "state", "title", "asked", "answered", "late", "missed", "reminded")
    lines = [(*(str(i[k]) for k in keys), str(len(i["unreached"]))) for i in items]  # type: ignore[arg-type]
    _print_lines((*keys, "no liaison"), lines)


@requests_app.command("show")
def requests_show(
    reference: Annotated[str, typer.Argument(help="the request's reference, e.g. ZJ-2026-0003")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One request: each unit asked, who answered when (late?), who was reminded, who missed; the units
    without a liaison; and the units not asked that answered all the same."""
    settings = _settings(config, check_secrets=False)
    store = _open_store(settings)
    try:
        with store.session() as session:
            row = session.exec(select(InfoRequest).where(InfoRequest.reference == reference.upper())).first()
            found = answers(session, row) if row else []
    finally:
        store.close()
    if row is None:
        err.print(f"no request {reference}", markup=False, highlight=False)
        raise typer.Exit(1)
    zone = settings.chamber.zone

    def when(value: Any) -> str | None:
        return value.astimezone(zone).isoformat(timespec="minutes") if value else None

    items = [
        {
            "unit": a.unit, "code": a.code, "liaison": a.liaison, "email": a.email, "asked": a.asked,
            "answered_at": when(a.answered_at), "late": a.late, "reminded_at": when(a.reminded_at), "missed": a.missed,
            "submission": a.submission, "no_liaison": a.asked and not a.email,
        }
        for a in found
    ]  # fmt: skip
    head = {
        "reference": row.reference, "title": row.title, "due": row.due.isoformat(), "units": row.units,
        "state": "closed" if row.closed_at else "open", "closed_at": when(row.closed_at),
        "reminded_at": when(row.reminded_at), "letters": row.letters, "unreached": row.unreached,
    }  # fmt: skip
    if as_json:
        out.print_json(json.dumps({**head, "recipients": items}, ensure_ascii=False))
        return
    out.print(
        f"{row.reference}  due {row.due}  {head['state']}  {row.title}  ({row.letters} letters)",
        markup=False,
        highlight=False,
    )
    lines = [
        (
            str(i["code"]), str(i["unit"]), str(i["liaison"] or ("(no liaison)" if i["asked"] else "(not asked)")),
            str(i["answered_at"] or ""), "late" if i["late"] else "", str(i["reminded_at"] or ""),
            "MISSED" if i["missed"] else "", str(i["submission"] or ""),
        )
        for i in items
    ]  # fmt: skip
    _print_lines(("code", "unit", "liaison", "answered", "", "reminded", "missed", "submission"), lines)
