"""What the secretariat's digest says of requests: due dates in a year whose holidays nobody has
entered (a decision: the working days, and so the reminders, are guessed), the open requests with
their answers so far, and the misses recorded since the last digest, those Art. 4 counts marked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from mailflow.store import InfoRequest, Liaison, RequestRecipient, Unit
from mailflow.workflows.contract import DigestItem, DigestSection
from mailflow.workflows.requests.sending import RequestPolicy
from mailflow.workflows.requests.standing import ART4, counts, streaks


def sections(policy: RequestPolicy, zone: ZoneInfo) -> tuple[DigestSection, ...]:
    def uncovered(session: Session, since: datetime, now: datetime, locale: str) -> list[DigestItem]:
        items = []
        for request in _open(session):
            remind = policy.remind_on(request.due)
            years = policy.calendar.uncovered([request.due, *([remind] if remind else [])])
            if not years:
                continue
            year = "、".join(map(str, years))
            text = (
                f"due {request.due}: the public holidays of {year} are not known (chinese-calendar, config); "
                "working days are counted as Monday to Friday. Enter them in config.yaml under "
                "holidays.extra_off and holidays.extra_workdays"
                if locale.startswith("en")
                else f"截止日期 {request.due}：{year} 年的法定节假日及调休安排尚未收录，工作日暂按周一至周五计算；"
                "请在 config.yaml 的 holidays.extra_off、holidays.extra_workdays 中填写"
            )
            items.append(DigestItem(request.reference, text))
        return items

    def open_ones(session: Session, since: datetime, now: datetime, locale: str) -> list[DigestItem]:
        rows = _open(session)
        tally = counts(session, [r.id for r in rows if r.id is not None])
        items = []
        for request in rows:
            c = tally.get(request.id or 0)
            answered, asked = (c.answered, c.asked) if c else (0, 0)
            if locale.startswith("en"):
                text = f"“{request.title}” due {request.due}: {answered} of {asked} units answered"
                text += f", {len(request.unreached)} without a liaison" if request.unreached else ""
            else:
                text = f"《{request.title}》截止 {request.due}：已报送 {answered}/{asked} 家"
                text += f"，{len(request.unreached)} 家无在岗联络员" if request.unreached else ""
            items.append(DigestItem(request.reference, text))
        return items

    def misses(session: Session, since: datetime, now: datetime, locale: str) -> list[DigestItem]:
        rows: Sequence[Any] = (
            session.connection()
            .execute(
                columns(
                    *[col(c) for c in (InfoRequest.reference, Unit.name, Liaison.name)],
                    *[col(c) for c in (Liaison.id, RequestRecipient.answered_at)],
                )
                .select_from(InfoRequest)
                .join(RequestRecipient, col(RequestRecipient.request_id) == col(InfoRequest.id))
                .join(Unit, col(Unit.id) == col(RequestRecipient.unit_id))
                .join(Liaison, col(Liaison.id) == col(RequestRecipient.liaison_id))
                .where(col(InfoRequest.closed_at) >= since, col(RequestRecipient.missed).is_(True))
                .order_by(col(InfoRequest.id), col(Unit.code))
            )
            .all()
        )
        run = streaks(session) if rows else {}
        items = []
        for reference, unit, liaison, liaison_id, answered_at in rows:
            times = run.get(liaison_id, 0)
            english = locale.startswith("en")
            text = f"{unit} {liaison}" + ((" (answered late)" if english else "（逾期报送）") if answered_at else "")
            if times >= ART4:
                text += (
                    f" — {times} misses in a row (Art. 4)" if english else f" —— 连续 {times} 次未按期报送（第四条）"
                )
            items.append(DigestItem(reference, text))
        return items

    return (
        DigestSection(
            "request_calendar", ("报送任务：节假日安排未收录", "Requests: holidays not known"), uncovered, True
        ),
        DigestSection("requests", ("进行中的报送任务", "Requests open"), open_ones),
        DigestSection("request_misses", ("报送任务未按期报送", "Requests not answered in time"), misses),
    )


def _open(session: Session) -> list[InfoRequest]:
    query = select(InfoRequest).where(col(InfoRequest.closed_at).is_(None)).order_by(col(InfoRequest.due))
    return list(session.exec(query).all())
