"""`mailflow submissions list | show`: what liaisons sent, where each stands, and every version of it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlmodel import Session, col, select

from mailflow.reasons import in_locale
from mailflow.store import InfoRequest, Liaison, StoredAttachment, Submission, SubmissionVersion, Unit
from mailflow.workflows.screening import OUTLET_LABELS, STATE_LABELS
from mailflow.workflows.submission import CATEGORY_LABELS

from mailflow.cli.base import ConfigOpt, JsonOpt, LimitOpt, StateOpt, _open_store, _settings, app, err, out
from mailflow.cli.listing import _newest, _print_lines, _rows_wanted

submissions_app = typer.Typer(no_args_is_help=True, help="Submissions (信息报送): list, show.")
app.add_typer(submissions_app, name="submissions")

STATES = tuple(STATE_LABELS)


@submissions_app.command("list")
def submissions_list(
    config: ConfigOpt = None, as_json: JsonOpt = False, state: StateOpt = None, limit: LimitOpt = None
) -> None:
    """One line per submission (the newest N): reference, state, unit, title, version, flags."""
    settings = _settings(config, check_secrets=False)
    rows: list[Submission] = _newest(settings, Submission, state, STATES, _rows_wanted(limit, as_json))
    store = _open_store(settings)
    try:
        with store.session() as session:
            names = _Names.read(session)
            items = [_item(names, row, settings.chamber.zone) for row in rows]
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps(items, ensure_ascii=False))
        return
    locale = settings.chamber.locale
    lines = [
        (
            i["reference"], in_locale(STATE_LABELS[i["state"]], locale) if i["state"] in STATE_LABELS else i["state"],
            i["unit"] or "", i["title"], str(i["version"]), _flags(i, locale), str(i["updated_at"] or "")[:16],
        )
        for i in items
    ]  # fmt: skip
    if not lines:
        err.print("no submission yet")
    _print_lines(("reference", "state", "unit", "title", "version", "flags", "latest"), lines)


@submissions_app.command("show")
def submissions_show(
    reference: Annotated[str, typer.Argument(help="the submission's reference, e.g. BS-2026-0042")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One submission: where it stands, the decision, every version, and the photos of the latest."""
    settings = _settings(config, check_secrets=False)
    zone = settings.chamber.zone
    store = _open_store(settings)
    try:
        with store.session() as session:
            row = session.exec(select(Submission).where(Submission.reference == reference.strip().upper())).first()
            if row is None:
                err.print(f"no submission {reference}", markup=False, highlight=False)
                raise typer.Exit(1)
            item = _item(_Names.read(session), row, zone)
            item["text"] = row.text
            item["versions"] = [
                {"version": v.version, "at": _when(v.created_at, zone), "inbound_id": v.inbound_id, "title": v.title,
                 "photos": v.photo_count, "characters": len(v.text)}
                for v in session.exec(
                    select(SubmissionVersion)
                    .where(SubmissionVersion.submission_id == row.id)
                    .order_by(col(SubmissionVersion.version))
                ).all()
            ]  # fmt: skip
            files = select(StoredAttachment).where(
                StoredAttachment.inbound_id == (row.latest_inbound_id or row.inbound_id)
            )
            item["attachments"] = [
                {"name": a.original_name or a.filename, "type": a.detected_type, "size": a.size, "width": a.width,
                 "height": a.height}
                for a in session.exec(files.order_by(col(StoredAttachment.id))).all()
            ]  # fmt: skip
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps(item, ensure_ascii=False))
        return
    _print_one(item, settings.chamber.locale)


@dataclass(frozen=True)
class _Names:
    """Units', liaisons' and requests' names by id, read once for a whole listing."""

    units: dict[int | None, str]
    liaisons: dict[int | None, str]
    requests: dict[int | None, str]

    @classmethod
    def read(cls, session: Session) -> _Names:
        return cls(
            dict(session.exec(select(Unit.id, Unit.name)).all()),
            dict(session.exec(select(Liaison.id, Liaison.name)).all()),
            dict(session.exec(select(InfoRequest.id, InfoRequest.reference)).all()),
        )


def _item(names: _Names, row: Submission, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "reference": row.reference, "state": row.state, "unit": names.units.get(row.unit_id),
        "liaison": names.liaisons.get(row.liaison_id), "by_liaison": row.liaison_id is not None,
        "category": row.category, "title": row.title, "version": row.version, "photos": row.photo_count,
        "received_at": _when(row.created_at, zone), "updated_at": _when(row.updated_at, zone),
        "event_date": row.event_date.isoformat() if row.event_date else None, "late_days": row.late_days,
        "urgent": row.urgent, "review": row.review, "outlets": row.outlets,
        "decided_at": _when(row.decided_at, zone), "decided_by": row.decided_by, "decision_note": row.decision_note,
        "request": names.requests.get(row.request_id),
    }  # fmt: skip


def _when(value: Any, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).isoformat() if value is not None else None


def _flags(item: dict[str, Any], locale: str) -> str:
    zh = locale.startswith("zh")
    flags = []
    if item["urgent"]:
        flags.append("重要" if zh else "important")
    if item["late_days"]:
        flags.append(f"逾期{item['late_days']}天" if zh else f"{item['late_days']} days late")
    if not item["by_liaison"]:
        flags.append("非联络员" if zh else "not a liaison")
    if item["outlets"] in OUTLET_LABELS:
        flags.append(in_locale(OUTLET_LABELS[item["outlets"]], locale))
    return ("，" if zh else ", ").join(flags)


def _print_one(item: dict[str, Any], locale: str) -> None:
    state = in_locale(STATE_LABELS[item["state"]], locale) if item["state"] in STATE_LABELS else item["state"]
    category = CATEGORY_LABELS.get(item["category"] or "", (item["category"] or "", item["category"] or ""))
    head = [
        f"{item['reference']}  {state}  {item['title']}",
        f"unit: {item['unit'] or '-'}  liaison: {item['liaison'] or '-'}  category: {in_locale(category, locale)}",
        f"received: {item['received_at'] or '-'}  latest: {item['updated_at'] or '-'}  version: {item['version']}",
        f"event: {item['event_date'] or '-'}  late: {item['late_days'] or 0} day(s)  review: {item['review'] or '-'}",
    ]
    if item["decided_at"]:
        head.append(f"decided: {item['decided_at']} by {item['decided_by']}  {item['decision_note']}")
    if item["request"]:
        head.append(f"answers: {item['request']}")
    for line in head:
        out.print(line, markup=False, highlight=False)
    versions = [
        (str(v["version"]), str(v["at"] or "")[:16], f"#{v['inbound_id']}", v["title"], str(v["photos"]))
        for v in item["versions"]
    ]
    _print_lines(("version", "at", "mail", "title", "photos"), versions)
    size = "{width}×{height}"
    files = [
        (a["name"], a["type"] or "", size.format(**a) if a["width"] else "", str(a["size"]))
        for a in item["attachments"]
    ]
    if files:
        _print_lines(("attachment", "type", "pixels", "bytes"), files)
