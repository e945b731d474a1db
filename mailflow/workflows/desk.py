"""The secretariat's desk commands: resend, fix a bouncing address, reprocess a message, show a record.

Each is a `CommandSpec` in the same table every workflow adds its verbs to (the registry): the
digest writes its command lines from it and `#帮助` lists it, so no letter names a command that
does not exist. A command runs inside the caller's transaction (`Tx`) and returns one `Done`:
the line of the report that says what happened.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailflow.members.registry import record_change

from mailflow.reasons import Reason
from mailflow.store import (
    AddressFlag,
    AuditEntry,
    InboundMessage,
    InboundState,
    InfoRequest,
    Liaison,
    Outbox,
    OutboxState,
    Registration,
    StoredAttachment,
    Submission,
    Unit,
)
from mailflow.workflows.contract import Call, CommandSpec, Done, Words
from mailflow.workflows.requests.standing import Counts, counts
from mailflow.workflows.screening import OUTLET_LABELS, STATE_LABELS
from mailflow.workflows.tx import Tx

RESENDABLE = (OutboxState.DEAD, OutboxState.AMBIGUOUS, OutboxState.RETRY, OutboxState.BOUNCED)
REPROCESSABLE = (InboundState.HELD, InboundState.REJECTED, InboundState.FAILED)


def specs() -> tuple[CommandSpec, ...]:
    """The desk's verbs (#帮助 is the command workflow's, since it lists the whole table)."""
    return (
        CommandSpec(
            "resend", ("重发", "resend"), ("#重发 编号", "#resend number"), ("重新发送一封邮件", "send a letter again"),
            resend, min_args=1, max_args=1,
        ),
        CommandSpec(
            "fix_address", ("更正邮箱", "fix-address"), ("#更正邮箱 原邮箱 新邮箱", "#fix-address old new"),
            ("更正退信的邮箱并重发退回的邮件", "correct a bouncing address and resend what bounced"),
            fix_address, min_args=2, max_args=2,
        ),
        CommandSpec(
            "reprocess", ("重新处理", "reprocess"), ("#重新处理 编号", "#reprocess number"),
            ("按现行规则重新处理一封来信", "run a received message again under today's rules"),
            reprocess, min_args=1, max_args=1,
        ),
        CommandSpec(
            "show", ("查询", "show"), ("#查询 编号", "#show reference"),
            ("查看一个编号的记录", "show the record of a reference"), show, min_args=1, max_args=1,
        ),
    )  # fmt: skip


def _number(text: str) -> int | None:
    text = text.lstrip("#")
    return int(text) if text.isdigit() and len(text) < 10 else None


def resend(call: Call, tx: Tx) -> Done:
    number = _number(call.args[0])
    row = tx.get(Outbox, number) if number is not None else None
    if row is None:
        return Done(False, (f"没有编号为 {call.args[0]} 的邮件", f"no letter numbered {call.args[0]}"))
    if row.state not in RESENDABLE:
        return Done(
            False, (f"邮件 #{row.id} 状态为 {row.state}，无需重发", f"letter #{row.id} is {row.state}"), f"#{row.id}"
        )
    _queue_again(row, tx)
    return Done(True, (f"邮件 #{row.id} 已重新排队发送", f"letter #{row.id} queued again"), f"#{row.id}")


def _queue_again(row: Outbox, tx: Tx) -> None:
    """Due now, with its attempts counted afresh and its last failure forgotten."""
    row.state, row.next_attempt_at, row.attempts, row.last_error = OutboxState.QUEUED, tx.now, 0, None


def fix_address(call: Call, tx: Tx) -> Done:
    old, new = call.args[0].lower(), call.args[1]
    if "@" not in new or any(ch.isspace() for ch in new):
        return Done(False, (f"{new} 不是有效的邮箱", f"{new} is not an email address"))
    changed = 0
    why = f"更正邮箱 {old} → {new}"[:300]
    for liaison in tx.session.exec(select(Liaison).where(func.lower(Liaison.email) == old)).all():
        unit = tx.get(Unit, liaison.unit_id)
        if unit is not None:
            record_change(tx.session, unit, "liaison", liaison.id or 0, "email", liaison.email, new, tx.now, why,
                          call.audit_id)  # fmt: skip
        liaison.email, changed = new, changed + 1
    for unit in tx.session.exec(select(Unit).where(func.lower(Unit.leader_email) == old)).all():
        record_change(tx.session, unit, "unit", unit.id or 0, "leader_email", unit.leader_email, new, tx.now, why,
                      call.audit_id)  # fmt: skip
        unit.leader_email, changed = new, changed + 1
    flag = tx.find(AddressFlag, "email", old)
    if flag is not None:
        tx.session.delete(flag)
    resent = 0
    for row in tx.session.exec(select(Outbox).where(col(Outbox.state).in_(RESENDABLE))).all():
        if old in (r.lower() for r in row.recipients):
            row.recipients = [new if r.lower() == old else r for r in row.recipients]
            _queue_again(row, tx)
            resent += 1
    if not changed and flag is None and not resent:
        return Done(False, (f"没有使用 {old} 的记录", f"nothing uses {old}"))
    zh = f"{old} 已更正为 {new}：{changed} 条记录，重发 {resent} 封邮件"
    return Done(True, (zh, f"{old} corrected to {new}: {changed} record(s), {resent} letter(s) resent"), old)


def reprocess(call: Call, tx: Tx) -> Done:
    number = _number(call.args[0])
    row = tx.get(InboundMessage, number) if number is not None else None
    if row is None:
        return Done(False, (f"没有编号为 {call.args[0]} 的来信", f"no message numbered {call.args[0]}"))
    if row.state not in REPROCESSABLE:
        return Done(False, (f"来信 #{row.id} 状态为 {row.state}，无需重新处理", f"message #{row.id} is {row.state}"))
    reopen(tx.session, row)
    return Done(
        True, (f"来信 #{row.id} 将按现行规则重新处理", f"message #{row.id} will be processed again"), f"#{row.id}"
    )


def reopen(session: Session, row: InboundMessage) -> None:
    """Put a finished message back in the queue as if just archived (its stored attachments go;
    they are cut again from the raw mail)."""
    for attachment in session.exec(select(StoredAttachment).where(StoredAttachment.inbound_id == row.id)).all():
        session.delete(attachment)
    row.state, row.reasons, row.attempts = InboundState.ARCHIVED, [], 0
    row.intent = row.category = row.rule = None


def show(call: Call, tx: Tx) -> Done:
    ref = call.args[0].upper()
    record: Submission | Registration | None = tx.find(Submission, "reference", ref) or tx.find(
        Registration, "reference", ref
    )
    if record is not None:
        message = tx.get(InboundMessage, record.inbound_id)
        sender = message.sender if message else ""
        state = getattr(record, "state", "recorded")
        when = f"{tx.local(record.created_at):%Y-%m-%d %H:%M}" if record.created_at else ""
        zh, en = f"{ref}：{sender}，{when} 收到，状态 {state}", f"{ref}: {sender}, received {when}, {state}"
        if isinstance(record, Submission):
            zh, en = _submission(tx, record, sender or "", when)
        history_zh, history_en = _history(tx, ref)
        return Done(True, (zh + history_zh, en + history_en), ref)
    request = tx.find(InfoRequest, "reference", ref)
    if request is not None:
        return _request(tx, request)
    number = _number(ref)
    message = tx.get(InboundMessage, number) if number is not None else None
    if message is not None:
        why = "；".join(Reason.from_json(r).text("zh-CN") for r in message.reasons)
        why_en = "; ".join(Reason.from_json(r).text("en") for r in message.reasons)
        zh = f"来信 #{message.id}：{message.sender or '?'}《{message.subject or ''}》，状态 {message.state} {why}"
        return Done(True, (zh.strip(), f"message #{message.id}: {message.state} {why_en}".strip()), f"#{message.id}")
    return Done(False, (f"没有编号为 {ref} 的记录", f"no record numbered {ref}"))


def _submission(tx: Tx, sub: Submission, sender: str, when: str) -> tuple[str, str]:
    """Where a submission stands: its state in words, its version, and the decision with its note."""
    state = STATE_LABELS.get(sub.state, Words(sub.state, sub.state))
    zh = f"{sub.reference}《{sub.title}》：{sender}，{when} 收到，{state.zh}，第{sub.version}版"
    en = f"{sub.reference} “{sub.title}”: {sender}, received {when}, {state.en}, version {sub.version}"
    if sub.outlets in OUTLET_LABELS:
        zh, en = zh + f"，刊发于{OUTLET_LABELS[sub.outlets].zh}", en + f", for {OUTLET_LABELS[sub.outlets].en}"
    if sub.decided_at is not None:
        decided = f"{tx.local(sub.decided_at):%Y-%m-%d %H:%M}"
        note = f"：{sub.decision_note}" if sub.decision_note else ""
        zh += f"（{sub.decided_by} {decided} 决定{note}）"
        en += f" (decided by {sub.decided_by} {decided}{': ' + sub.decision_note if sub.decision_note else ''})"
    return zh, en


def _request(tx: Tx, request: InfoRequest) -> Done:
    """A request for information: due when, and its units by outcome so far."""
    done = counts(tx.session, [request.id or 0]).get(request.id or 0, Counts())
    closed = "已截止" if request.closed_at else "征集中"
    zh = (
        f"{request.reference}《{request.title}》：截止 {request.due}，{closed}；已报送 {done.answered}/{done.asked} 家"
        f"（逾期 {done.late}），已提醒 {done.reminded} 家，未报送记录 {done.missed} 家"
    )
    en = (
        f"{request.reference} “{request.title}”: due {request.due}, {'closed' if request.closed_at else 'open'}; "
        f"{done.answered}/{done.asked} answered ({done.late} late), {done.reminded} reminded, {done.missed} missed"
    )
    if request.unreached:
        zh += f"；{len(request.unreached)} 家无在岗联络员"
        en += f"; {len(request.unreached)} unit(s) without a liaison"
    history_zh, history_en = _history(tx, request.reference)
    return Done(True, (zh + history_zh, en + history_en), request.reference)


def _history(tx: Tx, ref: str) -> tuple[str, str]:
    """The letters sent under a reference and the commands run on it, oldest first."""
    letters = tx.session.exec(select(Outbox.id, Outbox.kind, Outbox.state).where(Outbox.reference == ref)).all()
    done = tx.session.exec(
        select(AuditEntry.line, AuditEntry.ok).where(AuditEntry.record == ref).order_by(col(AuditEntry.id))
    ).all()
    sent = "、".join(f"#{i} {kind}（{state}）" for i, kind, state in letters)
    sent_en = ", ".join(f"#{i} {kind} ({state})" for i, kind, state in letters)
    ran = "、".join(f"{line}（{'已执行' if ok else '未执行'}）" for line, ok in done)
    ran_en = ", ".join(f"{line} ({'done' if ok else 'refused'})" for line, ok in done)
    zh = (f"；往来邮件：{sent}" if sent else "") + (f"；指令记录：{ran}" if ran else "")
    en = (f"; letters: {sent_en}" if sent_en else "") + (f"; commands: {ran_en}" if ran_en else "")
    return zh, en
