"""登记 / 变更: a request to register or change a unit's liaison, kept pending for the secretariat."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from mailflow.members.registry import appoint
from mailflow.store import InboundMessage, Registration, Unit
from mailflow.workflows.contract import (
    Call,
    CommandSpec,
    DigestItem,
    DigestSection,
    Done,
    Handled,
    Incoming,
    Reply,
    Words,
    Workflow,
)
from mailflow.workflows.tx import Tx

PREFIXES = {"registration": "DJ", "liaison_change": "BG"}  # 登记, 变更


def handle(message: Incoming, tx: Tx) -> Handled:
    reference = tx.reference(PREFIXES[message.intent])
    tx.add(
        Registration(
            reference=reference,
            inbound_id=message.inbound_id,
            kind=message.intent,
            email=message.sender,
            name=message.mail.from_.name if message.mail.from_ else "",
            unit_id=message.unit_id,
            created_at=tx.now,
        )
    )
    names = "、".join(check.safe_name for check in message.checks if not check.inline)
    values = {"email": message.sender, "reference": reference, "certificate": names or Words("未附", "none attached")}
    return Handled(reference=reference, reply=Reply("ack_registration", values))


def approve(call: Call, tx: Tx) -> Done:
    """#批准 DJ-2026-0007 [统一社会信用代码]: the applicant becomes the unit's active liaison (Art. 3)."""
    reg, refused = _pending(call, tx)
    if reg is None:
        return refused
    unit = _unit(call, tx, reg)
    if unit is None:
        zh = f"{reg.reference} 找不到所属单位：请在编号后写明单位的统一社会信用代码，或先导入会员名录"
        return Done(False, (zh, f"{reg.reference}: which unit? add its credit code after the reference"), reg.reference)
    why = f"批准 {reg.reference}"
    name = reg.name or reg.email
    liaison, _ = appoint(tx.session, unit, name, reg.email, now=tx.now, today=tx.local().date(), why=why)
    reg.state, reg.unit_id = "approved", unit.id
    values = {"name": liaison.name, "email": reg.email, "unit_name": unit.name, "reference": reg.reference}
    tx.letter(
        "liaison_welcome", reg.email, values, key=f"registration:{reg.reference}:welcome", reference=reg.reference
    )
    if unit.leader_email:
        leader = {**values, "leader_name": unit.leader_name or ""}
        tx.letter(
            "leader_notice",
            unit.leader_email,
            leader,
            key=f"registration:{reg.reference}:leader",
            reference=reg.reference,
        )
    zh = f"{reg.reference} 已批准：{liaison.name}（{reg.email}）为“{unit.name}”联络员，已通知本人" + (
        "及单位负责人" if unit.leader_email else ""
    )
    return Done(True, (zh, f"{reg.reference} approved: {reg.email} is the liaison of {unit.name}"), reg.reference)


def send_back(call: Call, tx: Tx) -> Done:
    """#退回 DJ-2026-0007 原因: the applicant is told why, and may apply again."""
    reg, refused = _pending(call, tx)
    if reg is None:
        return refused
    reason = call.tail.strip()
    reg.state = "returned"
    values = {"name": reg.name or reg.email, "reference": reg.reference, "reason": reason}
    tx.letter(
        "registration_returned",
        reg.email,
        values,
        key=f"registration:{reg.reference}:returned",
        reference=reg.reference,
    )
    return Done(
        True,
        (f"{reg.reference} 已退回，已告知申请人原因", f"{reg.reference} returned; the applicant is told why"),
        reg.reference,
    )


def _pending(call: Call, tx: Tx) -> tuple[Registration | None, Done]:
    ref = call.args[0].upper()
    reg = tx.find(Registration, "reference", ref)
    if reg is None:
        return None, Done(False, (f"没有编号为 {ref} 的登记申请", f"no registration numbered {ref}"))
    if reg.state != "pending":
        return None, Done(False, (f"{ref} 已处理（{reg.state}）", f"{ref} was settled already ({reg.state})"), ref)
    return reg, Done(True, ("", ""))


def _unit(call: Call, tx: Tx, reg: Registration) -> Unit | None:
    """The unit named by a code after the reference, else the applicant's own, else the one the subject names."""
    if len(call.args) > 1:
        return tx.find(Unit, "code", call.args[1].upper())
    if reg.unit_id is not None:
        return tx.get(Unit, reg.unit_id)
    message = tx.get(InboundMessage, reg.inbound_id)
    subject = message.subject or "" if message else ""
    named = [u for u in tx.session.exec(select(Unit)).all() if u.name and u.name in subject]
    return named[0] if len(named) == 1 else None


def pending(session: Session, since: datetime, now: datetime, locale: str) -> list[DigestItem]:
    units: dict[int | None, str] = dict(session.exec(select(Unit.id, Unit.name)).all())
    query = select(Registration).where(Registration.state == "pending").order_by(col(Registration.id))
    items = []
    for reg in session.exec(query).all():
        who = " ".join(x for x in (units.get(reg.unit_id, ""), reg.name, reg.email) if x)
        items.append(DigestItem(reg.reference, who, "approve"))
    return items


WORKFLOW = Workflow(
    name="registration",
    intents={"registration": handle, "liaison_change": handle},
    open_to_unknown=frozenset({"registration"}),  # anyone may ask to register
    new_record=frozenset({"registration", "liaison_change"}),
    commands=(
        CommandSpec(
            "approve",
            ("批准", "approve"),
            ("#批准 登记编号 [统一社会信用代码]", "#approve reference [credit-code]"),
            ("批准联络员登记", "approve a liaison's registration"),
            approve,
            min_args=1,
            max_args=2,
        ),
        CommandSpec(
            "return",
            ("退回", "return"),
            ("#退回 登记编号 原因", "#return reference reason"),
            ("退回联络员登记并说明原因", "send a registration back with the reason"),
            send_back,
            min_args=2,
        ),
    ),
    digest=(DigestSection("registrations", ("联络员登记待审核", "Registrations awaiting approval"), pending, True),),
    samples={
        "ack_registration": {
            "name": "李明",
            "email": "liming@example.cn",
            "reference": "DJ-2026-0007",
            "certificate": "单位有效证明.pdf",
        },
        "liaison_welcome": {
            "name": "李明",
            "email": "liming@example.cn",
            "unit_name": "成都宏达机械有限公司",
            "reference": "DJ-2026-0007",
        },
        "leader_notice": {
            "name": "李明",
            "email": "liming@example.cn",
            "unit_name": "成都宏达机械有限公司",
            "reference": "DJ-2026-0007",
            "leader_name": "李建国",
        },
        "registration_returned": {"name": "李明", "reference": "DJ-2026-0007", "reason": "单位证明未加盖公章"},
    },
)
