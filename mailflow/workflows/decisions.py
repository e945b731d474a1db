"""#批准 / #退回: the secretariat decides a registration (DJ-) or a change (BG-).

Approving a registration or a change of liaison makes the proposed liaison the unit's active one
(those before it `replaced`, with the date), welcomes the liaison, tells the one replaced and the
unit's leader. Approving a change of details writes each field with its history. A return tells
the applicant why. Every history line names the command's audit entry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailflow.members.form import LABELS
from mailflow.members.registry import active_liaisons, appoint, record_change, withdraw
from mailflow.members.uscc import code_fault, normalise_code
from mailflow.store import Liaison, LiaisonStatus, Registration, RegistrationState, Unit
from mailflow.workflows.contract import Call, DigestItem, Done
from mailflow.workflows.registration import KINDS, active_elsewhere
from mailflow.workflows.tx import Tx


def approve(call: Call, tx: Tx) -> Done:
    """#批准 DJ-2026-0007 [统一社会信用代码]"""
    reg, refused = _open(call, tx)
    if reg is None:
        return refused
    if reg.kind == "unit_change":
        return _apply_details(call, tx, reg)
    unit, refused = _unit(call, tx, reg)
    if unit is None:
        return refused
    email = str(reg.form.get("liaison_email") or reg.email)
    held = active_elsewhere(tx.session, email, unit.id)
    if held is not None:
        return Done(
            False,
            (f"{reg.reference}：{email} 已是“{held}”的联络员，未批准", f"{email} is the liaison of {held}"),
            reg.reference,
        )
    why = f"批准 {reg.reference}"
    pending = tx.get(Liaison, reg.liaison_id) if reg.liaison_id is not None else None
    if pending is not None and pending.status != LiaisonStatus.PENDING:
        pending = None
    before = [x for x in active_liaisons(tx.session, unit) if pending is None or x.id != pending.id]
    liaison, _ = appoint(
        tx.session, unit, pending.name if pending else reg.name, email,
        phone=str(reg.form.get("liaison_phone", "")), position=str(reg.form.get("liaison_position", "")),
        now=tx.now, today=tx.local().date(), why=why, audit_id=call.audit_id, pending=pending,
    )  # fmt: skip
    reg.state, reg.unit_id, reg.liaison_id, reg.decided_at = RegistrationState.APPROVED, unit.id, liaison.id, tx.now
    values = {
        "name": liaison.name,
        "email": email,
        "unit_name": unit.name,
        "reference": reg.reference,
        "kind": KINDS[reg.kind],
    }
    key = f"registration:{reg.reference}"
    tx.letter("liaison_welcome", email, values, key=f"{key}:welcome", reference=reg.reference)
    for old in before:
        gone = {**values, "old_name": old.name, "today": tx.local().date().isoformat()}
        tx.letter("liaison_replaced", old.email, gone, key=f"{key}:replaced:{old.id}", reference=reg.reference)
    if unit.leader_email and unit.leader_email.lower() != email.lower():
        leader = {**values, "leader_name": unit.leader_name or "", "old_names": "、".join(x.name for x in before)}
        tx.letter("leader_notice", unit.leader_email, leader, key=f"{key}:leader", reference=reg.reference)
    told = "已通知本人" + ("、原联络员" if before else "") + ("及单位负责人" if unit.leader_email else "")
    zh = f"{reg.reference} 已批准：{liaison.name}（{email}）为“{unit.name}”联络员，{told}"
    return Done(True, (zh, f"{reg.reference} approved: {email} is the liaison of {unit.name}"), reg.reference)


def send_back(call: Call, tx: Tx) -> Done:
    """#退回 DJ-2026-0007 原因: the applicant is told why, and may apply again."""
    reg, refused = _open(call, tx)
    if reg is None:
        return refused
    reason = call.tail.strip()
    reg.state, reg.decided_at = RegistrationState.RETURNED, tx.now
    pending = tx.get(Liaison, reg.liaison_id) if reg.liaison_id is not None else None
    if pending is not None and pending.status == LiaisonStatus.PENDING:
        withdraw(
            tx.session,
            pending,
            now=tx.now,
            today=tx.local().date(),
            why=f"退回 {reg.reference}：{reason}"[:300],
            audit_id=call.audit_id,
        )
    values = {"name": reg.name or reg.email, "reference": reg.reference, "reason": reason, "kind": KINDS[reg.kind]}
    key = f"registration:{reg.reference}:returned"
    tx.letter("registration_returned", reg.email, values, key=key, reference=reg.reference)
    return Done(
        True,
        (f"{reg.reference} 已退回，已告知申请人原因", f"{reg.reference} returned; the applicant is told why"),
        reg.reference,
    )


def retire(call: Call, tx: Tx) -> Done:
    """#离任 邮箱 [原因]: an active liaison leaves without a successor; the unit's leader is asked for one."""
    address = call.args[0].lower()
    query = select(Liaison).where(func.lower(Liaison.email) == address, Liaison.status == LiaisonStatus.ACTIVE)
    liaison = tx.session.exec(query).first()
    if liaison is None:
        return Done(False, (f"{address} 不是在册联络员", f"{address} is not an active liaison"), address)
    unit = tx.get(Unit, liaison.unit_id)
    assert unit is not None
    why = ("离任：" + call.tail.strip() if call.tail.strip() else "离任")[:300]
    liaison.status, liaison.ended_on = LiaisonStatus.RETIRED, tx.local().date()
    record_change(
        tx.session, unit, "liaison", liaison.id or 0, "status", "active", "retired", tx.now, why, call.audit_id
    )
    tx.session.flush()  # the batch's session does not flush on its own before a query
    told = ""
    if unit.leader_email and not active_liaisons(tx.session, unit):
        values = {"leader_name": unit.leader_name or "", "unit_name": unit.name, "name": liaison.name,
                  "today": tx.local().date().isoformat()}  # fmt: skip
        key = f"liaison:{liaison.id}:retired"
        tx.letter("liaison_retired", unit.leader_email, values, key=key)
        told = "，已请单位负责人推荐新联络员"
    zh = f"{liaison.name}（{address}）已离任“{unit.name}”联络员{told}"
    return Done(True, (zh, f"{address} no longer the liaison of {unit.name}"), address)


def pending(session: Session, since: datetime, now: datetime, locale: str) -> list[DigestItem]:
    """Applications the secretariat has to decide, oldest first."""
    units: dict[int | None, str] = dict(session.exec(select(Unit.id, Unit.name)).all())
    query = select(Registration).where(Registration.state == RegistrationState.PENDING).order_by(col(Registration.id))
    items = []
    for reg in session.exec(query).all():
        kind = KINDS[reg.kind].en if locale.startswith("en") else KINDS[reg.kind].zh
        unit = units.get(reg.unit_id, "") or str(reg.form.get("name", ""))
        who = " ".join(x for x in (kind, unit, reg.name, reg.email) if x)
        items.append(DigestItem(reg.reference, who, "approve"))
    return items


def _open(call: Call, tx: Tx) -> tuple[Registration | None, Done]:
    ref = call.args[0].upper()
    reg = tx.find(Registration, "reference", ref)
    if reg is None:
        return None, Done(False, (f"没有编号为 {ref} 的登记或变更申请", f"no registration or change numbered {ref}"))
    if reg.state not in RegistrationState.OPEN:
        return None, Done(False, (f"{ref} 已处理（{reg.state}）", f"{ref} was settled already ({reg.state})"), ref)
    return reg, Done(True, ("", ""))


def _unit(call: Call, tx: Tx, reg: Registration) -> tuple[Unit | None, Done]:
    """The unit named after the reference, else the application's own, else the one joining (created now)."""
    if len(call.args) > 1:
        code = normalise_code(call.args[1])
        unit = tx.find(Unit, "code", code)
        if unit is not None:
            return unit, Done(True, ("", ""))
        if not reg.form.get("joining"):
            return None, Done(
                False, (f"名录中没有统一社会信用代码为 {code} 的单位", f"no unit with the code {code}"), reg.reference
            )
        return _join(tx, reg, code, call)
    if reg.unit_id is not None:
        return tx.get(Unit, reg.unit_id), Done(True, ("", ""))
    if reg.form.get("joining"):
        return _join(tx, reg, str(reg.form.get("code", "")), call)
    zh = f"{reg.reference} 未能对应到会员单位：请在编号后写明单位的统一社会信用代码"
    return None, Done(
        False, (zh, f"{reg.reference}: which unit? add its credit code after the reference"), reg.reference
    )


def _join(tx: Tx, reg: Registration, code: str, call: Call) -> tuple[Unit | None, Done]:
    """A new member unit from the registration's form."""
    name = str(reg.form.get("name", ""))
    fault = code_fault(code) if code else ("未写明", "none given")
    if not name or fault is not None:
        what = "单位名称" if not name else f"统一社会信用代码（{fault[0] if fault else ''}）"
        zh = f"{reg.reference} 无法建立新会员单位：缺少或有误的{what}；请在编号后写明正确的统一社会信用代码"
        return None, Done(
            False, (zh, f"{reg.reference}: cannot create the unit: name or credit code missing or wrong"), reg.reference
        )
    if tx.find(Unit, "code", code) is not None or tx.find(Unit, "name", name) is not None:
        return None, Done(
            False,
            (f"{reg.reference}：单位“{name}”或代码 {code} 已在名录中", f"{name} or {code} is in the registry already"),
            reg.reference,
        )
    unit = tx.add(Unit(name=name, code=code, created_at=tx.now))
    for field in ("member_class", "address", "leader_name", "leader_email", "leader_phone"):
        setattr(unit, field, str(reg.form.get(field, "")) or None)
    tx.session.flush()
    record_change(
        tx.session, unit, "unit", unit.id or 0, "created", None, name, tx.now, f"入会 {reg.reference}", call.audit_id
    )
    return unit, Done(True, ("", ""))


def _apply_details(call: Call, tx: Tx, reg: Registration) -> Done:
    unit = tx.get(Unit, reg.unit_id) if reg.unit_id is not None else None
    if unit is None:
        return Done(
            False, (f"{reg.reference} 所属单位已不在名录中", f"{reg.reference}: its unit is gone"), reg.reference
        )
    changes: dict[str, str] = dict(reg.form.get("changes", {}))
    if (
        "name" in changes
        and tx.session.exec(select(Unit.id).where(Unit.name == changes["name"], Unit.id != unit.id)).first()
    ):
        return Done(
            False,
            (f"名录中已有名为“{changes['name']}”的单位", f"another unit is named {changes['name']}"),
            reg.reference,
        )
    written = []
    for field, new in changes.items():
        old = getattr(unit, field)
        if new != (old or ""):
            setattr(unit, field, new)
            record_change(
                tx.session, unit, "unit", unit.id or 0, field, old, new, tx.now, f"批准 {reg.reference}", call.audit_id
            )
            written.append(f"{LABELS[field][0]}：{old or '（无）'} → {new}")
    reg.state, reg.decided_at = RegistrationState.APPROVED, tx.now
    values = {"name": reg.name or reg.email, "unit_name": unit.name, "reference": reg.reference, "lines": written}
    key = f"registration:{reg.reference}"
    tx.letter("unit_change_applied", reg.email, values, key=f"{key}:applied", reference=reg.reference)
    if unit.leader_email and unit.leader_email.lower() != reg.email.lower():
        tx.letter(
            "unit_change_applied",
            unit.leader_email,
            {**values, "name": unit.leader_name or ""},
            key=f"{key}:leader",
            reference=reg.reference,
        )
    zh = f"{reg.reference} 已批准：“{unit.name}”{len(written)} 项信息已更新，已通知申请人"
    return Done(True, (zh, f"{reg.reference} approved: {len(written)} detail(s) of {unit.name} updated"), reg.reference)
