"""What the secretariat reads about circulars already sent: a digest section (each recent circular,
its letters sent, waiting, bounced and failed, and the units it did not reach) and `#通知情况`,
which says the same of one circular with every address that failed."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from mailflow.reasons import in_locale
from mailflow.store import Circular
from mailflow.workflows.circular.delivery import NOT_DELIVERED, Tally, letters, state_name, tallies
from mailflow.workflows.circular.reading import LABELS
from mailflow.workflows.contract import Call, CommandSpec, DigestItem, DigestSection, Done
from mailflow.workflows.tx import Tx

SHOWN_UNITS = 5  # units named in a digest line; `#通知情况` names every failed address (up to SHOWN_LETTERS)
SHOWN_LETTERS = 30


def section(days: int) -> DigestSection:
    """Circulars of the last `days` days, one line each: those sent since the last digest, and those
    with letters still waiting or not delivered (bounces come in over days); one whose every letter
    went out is not repeated. Listed, not counted: a letter a unit did not get is for the
    secretariat to act on, so each line names those units."""

    def gather(session: Session, since: datetime, now: datetime, locale: str) -> list[DigestItem]:
        recent = session.exec(
            select(Circular).where(col(Circular.created_at) >= now - timedelta(days=days)).order_by(col(Circular.id))
        ).all()
        counted = tallies(session, [c.reference for c in recent])
        return [
            DigestItem(c.reference, summary(c, counted[c.reference], locale), "circular_status")
            for c in recent
            if (c.created_at and c.created_at >= since) or counted[c.reference].sent < counted[c.reference].total
        ]

    return DigestSection("circulars", ("近期通知送达情况", "Circulars of the last days"), gather)


def summary(circular: Circular, tally: Tally, locale: str) -> str:
    """《subject》to whom, N letters: sent, waiting, bounced, failed (and to which units)."""
    audience = in_locale(LABELS.get(circular.audience, (circular.audience, circular.audience)), locale)
    units = list(tally.units[:SHOWN_UNITS])
    more = len(tally.units) - len(units)
    if locale.startswith("en"):
        text = (
            f"“{circular.subject}” to {audience}, {circular.letters} letter(s): {tally.sent} sent,"
            f" {tally.waiting} waiting, {tally.bounced} bounced, {tally.failed} failed"
        )
        if units:
            text += f" (not delivered: {', '.join(units)}" + (f" and {more} more" if more else "") + ")"
        return text
    text = (
        f"《{circular.subject}》{audience} {circular.letters} 封：已发出 {tally.sent}，待发 {tally.waiting}，"
        f"退回 {tally.bounced}，失败 {tally.failed}"
    )
    if units:
        text += f"（未送达：{'、'.join(units)}" + (f"等 {len(tally.units)} 家" if more else "") + "）"
    return text


def spec() -> CommandSpec:
    return CommandSpec(
        "circular_status", ("通知情况", "circular-status"), ("#通知情况 编号", "#circular-status reference"),
        ("查看一份通知的送达情况及未送达的单位", "how a circular's letters fared, and which units it missed"),
        run, min_args=1, max_args=1,
    )  # fmt: skip


def run(call: Call, tx: Tx) -> Done:
    reference = call.args[0].upper()
    circular = tx.find(Circular, "reference", reference)
    if circular is None:
        return Done(False, (f"没有编号为 {reference} 的通知", f"no circular numbered {reference}"))
    tally = tallies(tx.session, [reference])[reference]
    failed = [letter for letter in letters(tx.session, reference) if letter.state in NOT_DELIVERED]
    shown = failed[:SHOWN_LETTERS]
    zh = summary(circular, tally, "zh-CN")
    en = summary(circular, tally, "en")
    if shown:
        zh += "。未送达：" + "；".join(
            f"{x.unit or '（未登记）'} {x.address}（{state_name(x.state, 'zh-CN')}：{(x.last_error or '')[:80]}）"
            for x in shown
        )
        en += ". Not delivered: " + "; ".join(
            f"{x.unit or '(no unit)'} {x.address} ({state_name(x.state, 'en')}: {(x.last_error or '')[:80]})"
            for x in shown
        )
        if len(failed) > len(shown):
            zh += f"；另有 {len(failed) - len(shown)} 封"
            en += f"; and {len(failed) - len(shown)} more"
    return Done(True, (zh, en), reference)
