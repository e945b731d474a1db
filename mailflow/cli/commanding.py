"""`mailflow do` runs the secretariat's command table from the command line; `mailflow audit list`
shows every command run, from mail or from here."""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer

from mailflow.commands import read_commands
from mailflow.reasons import in_locale
from mailflow.store import AuditEntry
from mailflow.workflows.commands import CommandDesk, Requester

from mailflow.cli.base import ConfigOpt, JsonOpt, LimitOpt, _app, _settings, app, audit_app, err, out
from mailflow.cli.listing import _newest, _print_lines, _rows_wanted


@app.command("do")
def do(
    lines: Annotated[str, typer.Argument(help='command lines, as in a mail: "#重发 12" (several: one per line)')],
    config: ConfigOpt = None,
) -> None:
    """Run commands as the secretariat, as from a mail; each is audited. Exit 1 if any is refused."""
    commands = read_commands("", lines.replace("\\n", "\n"))
    with _app(config) as application:
        locale = application.settings.chamber.locale
        runner = CommandDesk(application.settings.security.commands, locale)
        runner.registry = application.registry  # the same table the mail and the digest use
        who = Requester(f"cli:{getpass.getuser()}", "secretariat", "cli")
        with application.store.session() as session:
            tx = application.tx(session)
            report = runner.execute(commands, who, tx)
    failed = False
    for text, done in report:
        mark = "[green]✓[/]" if done.ok else "[red]✗[/]"
        out.print(f"{mark} {text}  {in_locale(done.text, locale)}", highlight=False)
        failed = failed or not done.ok
    if failed:
        raise typer.Exit(1)


@audit_app.command("list")
def audit_list(config: ConfigOpt = None, as_json: JsonOpt = False, limit: LimitOpt = None) -> None:
    """One line per command run: when, who, via, from which message, the line, its record and result."""
    settings = _settings(config, check_secrets=False)
    zone = settings.chamber.zone
    rows = _newest(settings, AuditEntry, None, (), _rows_wanted(limit, as_json))
    items = [
        {
            "id": r.id,
            "at": r.at.astimezone(zone).isoformat() if r.at else None,
            "actor": r.actor,
            "role": r.role,
            "via": r.via,
            "inbound_id": r.inbound_id,
            "command": r.command,
            "line": r.line,
            "record": r.record,
            "ok": r.ok,
            "result": r.result,
        }
        for r in rows
    ]
    if as_json:
        out.print_json(json.dumps(items, ensure_ascii=False))
        return
    lines = [
        (
            str(i["id"]),
            str(i["at"] or "")[:16].replace("T", " "),
            str(i["actor"]),
            f"{i['via']}" + (f" #{i['inbound_id']}" if i["inbound_id"] else ""),
            str(i["line"]),
            "done" if i["ok"] else "refused",
            str(i["result"]),
        )
        for i in items
    ]
    if not lines:
        err.print("no command has been run yet")
    _print_lines(("id", "at", "actor", "via", "line", "result", "details"), lines)
