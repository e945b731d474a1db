"""#采用 / #不采用 / #退修: the secretariat screens submissions (Ch. 4), and the digest's queue of them.

A decision is taken on a submission that waits for one (received, or returned and not yet
revised); one adopted or not adopted is settled, and a second decision is told so, with who
decided and when. The row is read with FOR UPDATE: on PostgreSQL two secretariat members who
decide at once queue on the row, and the second reads the first's decision (on SQLite the
write transaction itself is taken first). The liaison who wrote is told each outcome, in the
submission's thread, so that a reply to a request for revision comes back as its next version.

The queue puts liaison-written submissions first (Art. 5: their articles are adopted with
priority), then the oldest first: what waits longest is decided first.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case
from sqlmodel import Session, col, select

from mailflow.commands.grammar import own_text
from mailflow.store import InboundMessage, Liaison, Submission, SubmissionState, Unit
from mailflow.workflows.contract import Call, CommandSpec, DigestItem, DigestSection, Done, Words, Workflow
from mailflow.workflows.tx import Tx

# What a decision may be taken on; adopted and rejected are settled.
OPEN = (SubmissionState.RECEIVED, SubmissionState.RETURNED)
SETTLED = (SubmissionState.ADOPTED, SubmissionState.REJECTED)

# Where an adopted submission is published, by every word the secretariat may write for it.
OUTLETS = {
    "期刊": "journal", "会刊": "journal", "刊物": "journal", "journal": "journal",
    "网站": "site", "网页": "site", "官网": "site", "site": "site", "website": "site", "web": "site",
    "全部": "all", "都": "all", "均": "all", "期刊和网站": "all", "期刊网站": "all", "all": "all", "both": "all",
}  # fmt: skip
OUTLET_LABELS = {
    "journal": Words("会刊", "the journal"),
    "site": Words("商会网站", "the website"),
    "all": Words("会刊和商会网站", "the journal and the website"),
}
STATE_LABELS = {
    SubmissionState.RECEIVED: Words("待筛选", "waiting for screening"),
    SubmissionState.AWAITING_REVIEW: Words("待单位负责人审核", "waiting for the unit head's review"),
    SubmissionState.ADOPTED: Words("已采用", "adopted"),
    SubmissionState.REJECTED: Words("不予采用", "not adopted"),
    SubmissionState.RETURNED: Words("已退修", "returned for revision"),
}


def adopt(call: Call, tx: Tx) -> Done:
    """#采用 BS-2026-0042 [期刊|网站|全部]: published where named (both when nothing is named)."""
    word = call.args[1].strip().lower() if len(call.args) > 1 else "全部"
    outlet = OUTLETS.get(word)
    if outlet is None:
        zh = f"“{word}”不是发布渠道：请写 期刊、网站 或 全部"
        return Done(False, (zh, f"{word!r} is not an outlet: write journal, site or all"), call.args[0].upper())
    sub, refused = _open(call, tx)
    if sub is None:
        return refused
    _decide(sub, SubmissionState.ADOPTED, call, tx, note="", outlets=outlet)
    label = OUTLET_LABELS[outlet]
    _tell(tx, sub, "submission_adopted", {"outlets": label})
    zh = f"{sub.reference} 已采用，拟在{label.zh}刊发，已告知报送人"
    return Done(True, (zh, f"{sub.reference} adopted for {label.en}; the sender is told"), sub.reference)


def reject(call: Call, tx: Tx) -> Done:
    """#不采用 BS-2026-0042 原因"""
    sub, refused = _open(call, tx)
    if sub is None:
        return refused
    reason = _line(call.tail)
    _decide(sub, SubmissionState.REJECTED, call, tx, note=reason)
    _tell(tx, sub, "submission_rejected", {"reason": reason})
    zh = f"{sub.reference} 不予采用，已告知报送人原因"
    return Done(True, (zh, f"{sub.reference} not adopted; the sender is told why"), sub.reference)


def revise(call: Call, tx: Tx) -> Done:
    """#退修 BS-2026-0042 意见: the sender is asked to revise; the revision comes back as the next version."""
    sub, refused = _open(call, tx)
    if sub is None:
        return refused
    opinion = _line(call.tail)
    _decide(sub, SubmissionState.RETURNED, call, tx, note=opinion)
    _tell(tx, sub, "submission_returned", {"opinion": opinion})
    zh = f"{sub.reference} 已退修，已将修改意见告知报送人"
    return Done(True, (zh, f"{sub.reference} returned for revision; the sender has the opinion"), sub.reference)


def _open(call: Call, tx: Tx) -> tuple[Submission | None, Done]:
    """The submission the call names, locked for this transaction, if a decision may be taken on it."""
    ref = call.args[0].upper()
    tx.session.flush()  # this transaction's own decisions first (two lines on one reference in a mail)
    query = select(Submission).where(Submission.reference == ref).with_for_update()
    # Once the lock is ours, what another transaction committed is what counts, not what this session read.
    sub = tx.session.exec(query.execution_options(populate_existing=True)).first()
    if sub is None:
        return None, Done(False, (f"没有编号为 {ref} 的报送信息", f"no submission numbered {ref}"), ref)
    if sub.state == SubmissionState.AWAITING_REVIEW:
        zh = f"{ref} 尚待单位负责人审核（第四章），审核确认后再作决定"
        return None, Done(False, (zh, f"{ref} still waits for the unit head's review (Ch. 4)"), ref)
    if sub.state not in OPEN:
        state = STATE_LABELS.get(sub.state, Words(sub.state, sub.state))
        when = tx.local(sub.decided_at).strftime("%Y-%m-%d %H:%M") if sub.decided_at else ""
        who = sub.decided_by or ""
        zh = f"{ref} 已有决定：{state.zh}（{who} {when}），本次未作更改"
        en = f"{ref} was decided already: {state.en} ({who} {when}); nothing changed"
        return None, Done(False, (zh, en), ref)
    return sub, Done(True, ("", ""))


def _decide(sub: Submission, state: str, call: Call, tx: Tx, *, note: str, outlets: str | None = None) -> None:
    sub.state, sub.outlets, sub.decision_note = state, outlets, note
    sub.decided_at, sub.decided_by = tx.now, call.actor[:320]


def _tell(tx: Tx, sub: Submission, kind: str, values: dict[str, object]) -> None:
    """The letter of the outcome to whoever sent the version decided, in the submission's thread."""
    inbound = tx.get(InboundMessage, sub.latest_inbound_id or sub.inbound_id)
    to = inbound.sender if inbound is not None else None
    if not to:
        return
    liaison = tx.get(Liaison, sub.liaison_id) if sub.liaison_id is not None else None
    unit = tx.get(Unit, sub.unit_id) if sub.unit_id is not None else None
    base = {
        "name": liaison.name if liaison is not None else to,
        "unit_name": unit.name if unit is not None else "",
        "reference": sub.reference,
        "title": sub.title,
        "version": sub.version,
    }
    key = f"submission:{sub.reference}:v{sub.version}:{kind}"
    tx.letter(kind, to, {**base, **values}, key=key, reference=sub.reference)


def _line(text: str) -> str:
    """The secretariat's reason or opinion as one line, as it goes into a letter."""
    return " ".join(text.split())[:1000]


def tell_if_urgent(tx: Tx, reference: str, secretariat: tuple[str, ...]) -> None:
    """An important event's submission that waits for screening reaches the secretariat at once (Ch. 4:
    reported promptly, so decided the same day), once per version, with the lines that decide it."""
    sub = tx.find(Submission, "reference", reference)
    if sub is None or not sub.urgent or sub.state not in OPEN:
        return
    unit = tx.get(Unit, sub.unit_id) if sub.unit_id is not None else None
    liaison = tx.get(Liaison, sub.liaison_id) if sub.liaison_id is not None else None
    excerpt = " ".join(own_text(sub.text).split())
    values = {
        "reference": sub.reference, "title": sub.title, "version": sub.version,
        "unit_name": unit.name if unit is not None else "", "name": liaison.name if liaison is not None else "",
        "event_on": sub.event_date.isoformat() if sub.event_date else "",
        "excerpt": excerpt[:300] + ("…" if len(excerpt) > 300 else ""), "photos": sub.photo_count,
        "adopt_line": Words(f"#采用 {sub.reference} 全部", f"#adopt {sub.reference} all"),
        "revise_line": Words(f"#退修 {sub.reference} 修改意见", f"#revise {sub.reference} opinion"),
        "reject_line": Words(f"#不采用 {sub.reference} 原因", f"#reject {sub.reference} reason"),
    }  # fmt: skip
    for address in secretariat:
        key = f"submission:{sub.reference}:v{sub.version}:urgent:{address}"
        tx.letter("submission_urgent", address, values, key=key, reference=sub.reference)


def queue(session: Session, since: datetime, now: datetime, locale: str) -> list[DigestItem]:
    """Submissions waiting for screening: liaison-written first (Art. 5), then the oldest first; then
    those decided before a newer version came (published as revised unless the secretariat acts)."""
    units: dict[int | None, str] = dict(session.exec(select(Unit.id, Unit.name)).all())
    liaison_first = case((col(Submission.liaison_id).is_(None), 1), else_=0)
    revised_after = col(Submission.state).in_(SETTLED) & (col(Submission.updated_at) > col(Submission.decided_at))
    query = (
        select(Submission)
        .where(col(Submission.state).in_(OPEN) | revised_after)
        .order_by(col(Submission.state).in_(SETTLED), liaison_first, col(Submission.updated_at), col(Submission.id))
    )
    en = locale.startswith("en")
    items = []
    for sub in session.exec(query).all():
        marks = _marks(sub, en)
        flags = f" ({'; '.join(marks)})" if en and marks else (f"（{'；'.join(marks)}）" if marks else "")
        summary = f"{units.get(sub.unit_id, '')} {sub.title}".strip() + flags
        if sub.state in SETTLED:
            items.append(DigestItem(sub.reference, summary, "show"))
        else:
            args = Words(f"{sub.reference} 全部", f"{sub.reference} all")
            items.append(DigestItem(sub.reference, summary, "adopt", args))
    return items


def _marks(sub: Submission, en: bool) -> list[str]:
    marks = []
    if sub.state in SETTLED:
        state = STATE_LABELS[sub.state]
        marks.append(f"{state.en}, then version {sub.version} came" if en else f"{state.zh}后收到第{sub.version}版")
    if sub.urgent:
        marks.append("important: today" if en else "重要事件，请当日处理")
    if sub.late_days:
        marks.append(f"{sub.late_days} days late" if en else f"逾期{sub.late_days}天")
    if sub.version > 1 and sub.state not in SETTLED:
        marks.append(f"version {sub.version}" if en else f"第{sub.version}版")
    if sub.state == SubmissionState.RETURNED:
        marks.append("returned, no revision yet" if en else "已退修，未收到修改稿")
    if sub.liaison_id is None:
        marks.append("not from a liaison" if en else "非联络员报送")
    return marks


def awaiting_review(session: Session, since: datetime, now: datetime, locale: str) -> list[DigestItem]:
    """Submissions that wait for the unit head's review (the liaison was told what to add): counted."""
    query = select(Submission.reference, Submission.title).where(Submission.state == SubmissionState.AWAITING_REVIEW)
    return [DigestItem(ref, title) for ref, title in session.exec(query.order_by(col(Submission.id))).all()]


COMMANDS = (
    CommandSpec(
        "adopt",
        ("采用", "adopt"),
        ("#采用 编号 期刊|网站|全部", "#adopt reference journal|site|all"),
        ("采用报送信息，在会刊、网站或两处刊发", "adopt a submission for the journal, the website or both"),
        adopt,
        min_args=1,
        max_args=2,
    ),
    CommandSpec(
        "reject",
        ("不采用", "reject"),
        ("#不采用 编号 原因", "#reject reference reason"),
        ("不采用报送信息并说明原因", "decline a submission, with the reason"),
        reject,
        min_args=2,
    ),
    CommandSpec(
        "revise",
        ("退修", "revise"),
        ("#退修 编号 修改意见", "#revise reference opinion"),
        ("请报送人按意见修改后再报", "ask the sender to revise, with the opinion"),
        revise,
        min_args=2,
    ),
)

_SAMPLE = {
    "name": "王芳",
    "unit_name": "成都宏达机械有限公司",
    "reference": "BS-2026-0042",
    "title": "我公司参加2026中国国际机床展览会",
    "version": 1,
}

WORKFLOW = Workflow(
    name="screening",
    commands=COMMANDS,
    digest=(
        DigestSection("submissions", ("待筛选的报送信息", "Submissions to screen"), queue, decision=True),
        DigestSection(
            "awaiting_review",
            ("待单位负责人审核确认的报送信息", "Submissions waiting for the unit head's review"),
            awaiting_review,
            counted=True,
        ),
    ),
    samples={
        "submission_adopted": {**_SAMPLE, "outlets": "会刊和商会网站"},
        "submission_rejected": {**_SAMPLE, "reason": "内容与商会会刊栏目定位不符"},
        "submission_returned": {**_SAMPLE, "version": 2, "opinion": "请补充展会成交数据，并附现场照片一张"},
        "submission_urgent": {
            **_SAMPLE,
            "title": "我公司承办2026中国（成都）智能制造高峰论坛",
            "event_on": "2026-11-24",
            "photos": 2,
            "excerpt": "11月24日上午，由我公司承办的2026中国（成都）智能制造高峰论坛在成都开幕……",
            "adopt_line": "#采用 BS-2026-0042 全部",
            "revise_line": "#退修 BS-2026-0042 修改意见",
            "reject_line": "#不采用 BS-2026-0042 原因",
        },  # fmt: skip
    },
)
