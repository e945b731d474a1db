"""`mailflow roster export FILE` and `mailflow roster send [--force]`: the list of approved liaisons (Art. 3)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import col, func, select

from mailflow.app import make_roster
from mailflow.members import SheetError
from mailflow.members.roster import write_roster
from mailflow.outbound.render import local_time
from mailflow.reasons import in_locale
from mailflow.store import Liaison, LiaisonStatus, Unit

from mailflow.cli.base import ConfigOpt, _app, app, err, out

roster_app = typer.Typer(no_args_is_help=True, help="The roster of approved liaisons: export, send.")
app.add_typer(roster_app, name="roster")

FileArg = Annotated[Path, typer.Argument(help=".xlsx, .csv (UTF-8 with BOM, for Excel) or .html (a printable page)")]


@roster_app.command("export")
def roster_export(file: FileArg, config: ConfigOpt = None) -> None:
    """The roster as it is published now: active liaisons by unit, with a title row (.xlsx, .csv or .html)."""
    with _app(config) as application, application.store.session() as session:
        roster = make_roster(application.settings, application.renderer).current(session, application.clock.now())
        active = select(Liaison.unit_id).where(Liaison.status == LiaisonStatus.ACTIVE)
        without = session.exec(select(func.count()).select_from(Unit).where(col(Unit.id).not_in(active))).one()
    try:
        write_roster(file, roster)
    except SheetError as exc:
        err.print(f"[red]error:[/] {exc.zh} ({exc.en})", highlight=False)
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"[red]error:[/] cannot write {file}: {exc.strerror or exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"{roster.liaisons} liaison(s) of {roster.units} unit(s) written to {file}", highlight=False)
    if without:
        err.print(f"{without} unit(s) without an active liaison are not listed (mailflow units list)", highlight=False)


@roster_app.command("send")
def roster_send(
    config: ConfigOpt = None,
    force: Annotated[bool, typer.Option("--force", help="send it even though nothing changed")] = False,
) -> None:
    """Queue the roster letter to every active liaison now, when the roster changed since the last one."""
    line = "mailflow roster send" + (" --force" if force else "")
    with _app(config) as application:
        locale, zone = application.settings.chamber.locale, application.settings.chamber.zone
        publication = make_roster(application.settings, application.renderer)
        with application.store.session() as session:
            tx = application.tx(session)
            issued = publication.publish(tx, force=force)
            when = local_time(issued.at, zone, locale) if issued.at else ""
            if issued.outcome == "sent":
                text = (
                    f"{issued.reference}：名录已印发，{issued.letters} 封信已排队（{issued.units} 家单位、"
                    f"{issued.liaisons} 名联络员），下次运行时发出",
                    f"{issued.reference}: {issued.letters} letter(s) queued ({issued.liaisons} liaison(s) of "
                    f"{issued.units} unit(s)); they go with the next run",
                )
            elif issued.outcome == "unchanged":
                text = (
                    f"名录自 {issued.reference}（{when}）以来没有变化，未发送（如需重发，请加 --force）",
                    f"unchanged since {issued.reference} ({when}); nothing sent (--force sends it all the same)",
                )
            else:
                text = ("没有在任的联络员，未发送", "there is no active liaison; nothing sent")
            tx.audit(
                actor=f"cli:{getpass.getuser()}", role="secretariat", via="cli", command="roster-send", line=line,
                ok=issued.outcome == "sent", result=in_locale(text, locale), record=issued.reference,
            )  # fmt: skip
    out.print(in_locale(text, locale), markup=False, highlight=False)
    if issued.outcome == "empty":
        raise typer.Exit(1)
