"""`mailflow circular send | list | show`: a circular from the command line, and how circulars fared.

`send` runs the same code as a circular by mail (workflows.circular), in one transaction with its
audit entry; the running daemon's sender sends the letters within half a minute (`run --once` at
once). A refusal (no subject, files over the limit, an unknown code, nobody to send to) queues
nothing, is audited too, and exits 1 with the reason.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import select

from mailflow.app import circular_policy
from mailflow.parse.decode import decode_text
from mailflow.reasons import Reason, in_locale
from mailflow.store import Circular
from mailflow.workflows.circular import File, Queued, Request, send
from mailflow.workflows.circular import audit as audit_circular
from mailflow.workflows.circular.delivery import letters, state_name, tallies
from mailflow.workflows.circular.reading import AUDIENCES, LABELS
from mailflow.workflows.circular.sending import too_large

from mailflow.cli.base import ConfigOpt, JsonOpt, LimitOpt, _app, _open_store, _settings, app, err, out
from mailflow.cli.listing import _newest, _print_lines, _rows_wanted

circular_app = typer.Typer(no_args_is_help=True, help="Circulars (通知) to every liaison or unit leader.")
app.add_typer(circular_app, name="circular")


@circular_app.command("send")
def circular_send(
    subject: Annotated[str, typer.Option("--subject", help="the circular's title, the letters' subject")],
    body: Annotated[Path, typer.Option("--body", help="a text file with the circular's text (UTF-8 or GB18030)")],
    to: Annotated[str, typer.Option("--to", help="liaisons | leaders | all")],
    attach: Annotated[
        list[Path] | None, typer.Option("--attach", help="a file every letter carries (repeatable)")
    ] = None,
    units: Annotated[str | None, typer.Option("--units", help="only these units: codes, comma-separated")] = None,
    config: ConfigOpt = None,
) -> None:
    """Send a circular: one letter per address, with the files, under the chamber's signature. Audited."""
    if to not in AUDIENCES:
        err.print(f"--to: {to!r} is not one of {', '.join(AUDIENCES)}", markup=False, highlight=False)
        raise typer.Exit(2)
    paths = [body, *(attach or [])]
    for path in paths:
        if not path.is_file():
            err.print(f"no such file: {path}", markup=False, highlight=False)
            raise typer.Exit(2)
    codes = tuple(dict.fromkeys(c.strip().upper() for c in (units or "").replace("，", ",").split(",") if c.strip()))
    line = _line(subject, to, codes, attach or [])
    with _app(config) as application:
        locale, policy = application.settings.chamber.locale, circular_policy(application.settings)
        who = f"cli:{getpass.getuser()}"
        with application.store.session() as session:
            tx = application.tx(session)
            refusal = too_large(
                [p.stat().st_size for p in attach or []], policy.max_attachment_bytes
            )  # before a byte is read
            files = () if refusal else tuple(File(p.name, p.read_bytes()) for p in attach or [])
            text = decode_text(body.read_bytes(), "utf-8")[0].replace("\r\n", "\n")
            request = Request(subject, text, to, who, "cli", units=codes, files=files)
            outcome: Queued | tuple[Reason, ...] = (refusal,) if refusal else send(request, tx, policy)
            queued = None if isinstance(outcome, tuple) else outcome
            refused = "；".join(r.zh for r in outcome) if isinstance(outcome, tuple) else ""
            audit_circular(tx, request, line, queued, refused)
    if isinstance(outcome, tuple):
        for reason in outcome:
            err.print(f"✗ {reason.text(locale)}  {reason.fix(locale)}", markup=False, highlight=False)
        raise typer.Exit(1)
    row = outcome.circular
    out.print(
        f"{row.reference}: {row.letters} letter(s) queued (liaisons {row.to_liaisons}, leaders {row.to_leaders}),"
        f" {row.attachments} file(s) each; the daemon sends them, or `mailflow run --once`",
        markup=False,
        highlight=False,
    )
    if outcome.without:
        names = "、".join(outcome.without[:20]) + (" …" if len(outcome.without) > 20 else "")
        err.print(f"{len(outcome.without)} unit(s) have no address to send to: {names}", markup=False, highlight=False)


def _line(subject: str, to: str, codes: tuple[str, ...], attach: list[Path]) -> str:
    """The command as the audit shows it."""
    line = f"mailflow circular send --to {to} --subject {json.dumps(subject, ensure_ascii=False)}"
    line += f" --units {','.join(codes)}" if codes else ""
    return line + "".join(f" --attach {p.name}" for p in attach)


@circular_app.command("list")
def circular_list(config: ConfigOpt = None, as_json: JsonOpt = False, limit: LimitOpt = None) -> None:
    """One line per circular: reference, when, who, audience, subject, and its letters by outcome."""
    settings = _settings(config, check_secrets=False)
    rows: list[Circular] = _newest(settings, Circular, None, (), _rows_wanted(limit, as_json))
    store = _open_store(settings)
    try:
        with store.session() as session:
            counted = tallies(session, [r.reference for r in rows])
    finally:
        store.close()
    zone, locale = settings.chamber.zone, settings.chamber.locale
    items = [
        {
            "reference": r.reference, "created_at": r.created_at.astimezone(zone).isoformat() if r.created_at else None,
            "sender": r.sender, "via": r.via, "audience": r.audience, "units": r.units, "subject": r.subject,
            "letters": r.letters, "sent": counted[r.reference].sent, "waiting": counted[r.reference].waiting,
            "bounced": counted[r.reference].bounced, "failed": counted[r.reference].failed,
            "not_delivered_units": list(counted[r.reference].units),
        }
        for r in rows
    ]  # fmt: skip
    if as_json:
        out.print_json(json.dumps(items, ensure_ascii=False))
        return
    lines = [
        (
            str(i["reference"]), str(i["created_at"] or "")[:16].replace("T", " "), str(i["sender"]),
            in_locale(LABELS.get(str(i["audience"]), ("", "")), locale), str(i["subject"]), str(i["letters"]),
            str(i["sent"]), str(i["waiting"]), str(i["bounced"]), str(i["failed"]),
        )
        for i in items
    ]  # fmt: skip
    if not lines:
        err.print("no circular has been sent yet")
    _print_lines(("reference", "at", "by", "to", "subject", "letters", "sent", "waiting", "bounced", "failed"), lines)


@circular_app.command("show")
def circular_show(
    reference: Annotated[str, typer.Argument(help="the circular's reference, e.g. TZ-2026-0001")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One circular and each of its letters, grouped by unit: address, state, last error."""
    settings = _settings(config, check_secrets=False)
    store = _open_store(settings)
    try:
        with store.session() as session:
            row = session.exec(select(Circular).where(Circular.reference == reference.upper())).first()
            found = letters(session, row.reference) if row else []
    finally:
        store.close()
    if row is None:
        err.print(f"no circular {reference}", markup=False, highlight=False)
        raise typer.Exit(1)
    locale, zone = settings.chamber.locale, settings.chamber.zone
    items: list[dict[str, Any]] = [
        {"id": x.id, "unit": x.unit, "role": x.role, "address": x.address, "state": x.state, "last_error": x.last_error}
        for x in found
    ]
    if as_json:
        head = {"reference": row.reference, "subject": row.subject, "audience": row.audience, "units": row.units}
        out.print_json(json.dumps({**head, "letters": items}, ensure_ascii=False))
        return
    when = f"{row.created_at.astimezone(zone):%Y-%m-%d %H:%M}" if row.created_at else ""
    audience = in_locale(LABELS.get(row.audience, (row.audience, row.audience)), locale)
    out.print(f"{row.reference}  {when}  {row.sender}  {audience}  {row.subject}", markup=False, highlight=False)
    lines = []
    for item in items:
        unit = item["unit"] or ("（未登记）" if locale.startswith("zh") else "(no unit)")
        state = state_name(item["state"], locale)
        lines.append((unit, item["address"], item["role"], state, item["last_error"] or "", f"#{item['id']}"))
    _print_lines(("unit", "address", "as", "state", "last error", "letter"), lines)
