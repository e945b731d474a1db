"""登记 (Art. 3): a liaison registers for a unit with the unit's certificate; the secretariat decides.

Every registration gets its DJ- reference at once. Without a readable certificate (the policy in
rules/ says which file types count: a scan, a photo or a PDF) it waits as `awaiting_certificate`
and the answer says exactly what to attach; a reply with the file, or a mail naming the reference,
completes the same registration. A complete one is sent to the secretariat at once, with the
details read from the mail's form, the certificate attached and the two command lines to answer
it (`#批准` / `#退回`, mailflow.workflows.decisions). The unit is matched by its credit code or
name; when the form says the unit is joining, it is created on approval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailflow.members.form import LABELS, Form, read_form
from mailflow.members.registry import propose
from mailflow.parse.model import Attachment
from mailflow.reasons import Reason
from mailflow.store import InboundState, Liaison, LiaisonStatus, Registration, RegistrationState, Unit
from mailflow.validate import AttachmentCheck
from mailflow.validate.filetypes import label
from mailflow.workflows.contract import Handled, Incoming, Reply, Words
from mailflow.workflows.tx import Tx

KINDS = {
    "registration": Words("联络员登记", "liaison registration"),
    "liaison_change": Words("联络员变更", "change of liaison"),
    "unit_change": Words("单位信息变更", "change of unit details"),
}


@dataclass(frozen=True)
class Secretariat:
    """Who is told of a complete application at once, not only in the next digest."""

    addresses: tuple[str, ...] = ()

    def tell(
        self, tx: Tx, reg: Registration, details: list[dict[str, Any]], files: Sequence[tuple[Attachment, str]] = ()
    ) -> None:
        parts = [tx.attach(attachment.data, name) for attachment, name in files]  # typed by the checked name
        unit = tx.get(Unit, reg.unit_id) if reg.unit_id is not None else None
        approve = f"#批准 {reg.reference}"
        if unit is None and reg.kind == "registration" and not reg.form.get("joining"):
            approve += " 统一社会信用代码"  # the secretariat names the unit the form did not
        values = {
            "reference": reg.reference,
            "kind": KINDS[reg.kind],
            "name": reg.name,
            "email": reg.email,
            "unit_name": unit.name if unit else reg.form.get("name", ""),
            "unit_state": _unit_state(unit, reg),
            "details": details,
            "certificates": [name for _, name in files],
            "approve_line": approve,
            "return_line": f"#退回 {reg.reference} 原因",
        }
        for address in self.addresses:
            tx.letter(
                "registration_notice", address, values, key=f"registration:{reg.reference}:notice:{address}",
                reference=reg.reference, attachments=parts,
            )  # fmt: skip


class Registrations:
    """The handlers for a registration mail and for the mail that completes one."""

    def __init__(self, secretariat: Secretariat) -> None:
        self.secretariat = secretariat

    def register(self, message: Incoming, tx: Tx) -> Handled:
        if message.role == "secretariat":
            return Handled(InboundState.HELD, (Reason("request_from_secretariat"),))
        form = read_form(message.mail.text)
        email = form.get("liaison_email") or message.sender
        held = active_elsewhere(tx.session, email)
        if held is not None:
            return Handled(InboundState.REJECTED, (Reason("already_liaison", {"email": email, "unit": held}),))
        reg = open_registration(tx.session, message.sender)
        if reg is not None:  # written again instead of replying: the same registration
            return self.complete(reg, message, tx, form)
        unit = (
            match_unit(tx.session, form)
            or (tx.get(Unit, message.unit_id) if message.unit_id else None)
            or named_in(tx.session, message.mail.subject)
        )
        display = message.mail.from_.name if message.mail.from_ else ""
        name = form.get("liaison_name") or display or email
        reg = tx.add(
            Registration(
                reference=tx.reference("DJ"), inbound_id=message.inbound_id, kind="registration", email=message.sender,
                name=name[:100], unit_id=unit.id if unit else None, state=RegistrationState.AWAITING_CERTIFICATE,
                created_at=tx.now, form={**form.values, "joining": form.joining},
            )
        )  # fmt: skip
        if unit is not None:
            liaison = propose(
                tx.session, unit, name[:100], email, phone=form.get("liaison_phone"),
                position=form.get("liaison_position"), now=tx.now, why=f"登记申请 {reg.reference}",
            )  # fmt: skip
            reg.liaison_id = liaison.id
        return self.complete(reg, message, tx, form)

    def follow_up(self, message: Incoming, tx: Tx) -> Handled:
        """A reply to our letter about DJ-/BG-…, or a mail naming it: completes a registration that
        waits for its certificate; anything else is for the secretariat to read in that thread."""
        reg = tx.find(Registration, "reference", message.follow_up)
        # Without a file it is a note for the secretariat (and a robot answering our letters meets
        # the one answer a thread gets, not a reminder each time).
        brings_files = any(not check.inline for check in message.checks)
        waits = reg is not None and reg.state == RegistrationState.AWAITING_CERTIFICATE
        if reg is None or not waits or not brings_files or not _from_applicant(reg, message, tx):
            return Handled(InboundState.HELD, (Reason("reply_to_letter", {"letter": message.follow_up or ""}),))
        return self.complete(reg, message, tx, read_form(message.mail.text))

    def complete(self, reg: Registration, message: Incoming, tx: Tx, form: Form) -> Handled:
        """Take what this mail adds; with a certificate now in hand, the secretariat is told."""
        reg.form = {**{k: v for k, v in form.values.items() if v}, **reg.form} | {
            "joining": reg.form.get("joining") or form.joining
        }
        files = [
            (a, c.safe_name)
            for a, c in zip(message.mail.attachments, message.checks, strict=True)
            if message.policy.is_certificate(c)
        ]
        if files and reg.state == RegistrationState.AWAITING_CERTIFICATE:
            reg.state, reg.certificate_inbound_id = RegistrationState.PENDING, message.inbound_id
            self.secretariat.tell(tx, reg, form_lines(reg.form), files)
        return acknowledged(
            reg,
            form_lines(reg.form),
            complete=reg.state != RegistrationState.AWAITING_CERTIFICATE,
            certificate="、".join(name for _, name in files) or Words("未附", "none attached"),
            unreadable=[
                _unreadable(c) for c in message.checks if not c.inline and not message.policy.is_certificate(c)
            ],
            types="、".join(label(t) for t in message.policy.certificate_types),
            problems=[Words(*p) for p in form.problems],
        )


def acknowledged(
    reg: Registration,
    details: Sequence[Mapping[str, Any]],
    *,
    complete: bool = True,
    certificate: str | Words = "",
    unreadable: Sequence[Words] = (),
    types: str = "",
    problems: Sequence[Words] = (),
) -> Handled:
    """The application's answer (ack_registration): what was read, and what is still missing."""
    values = {
        "reference": reg.reference, "kind": KINDS[reg.kind], "email": reg.email, "complete": complete,
        "certificate": certificate, "unreadable": list(unreadable), "types": types, "problems": list(problems),
        "details": list(details),
    }  # fmt: skip
    return Handled(reference=reg.reference, reply=Reply("ack_registration", values))


def form_lines(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The form's fields as (label, value) lines for a letter, in the form's order."""
    return [{"label": Words(*LABELS[k]), "value": str(values[k])} for k in LABELS if values.get(k)]


def match_unit(session: Session, form: Form) -> Unit | None:
    """The member unit the form names: by credit code, else by its full name."""
    if form.get("code"):
        found = session.exec(select(Unit).where(Unit.code == form.get("code"))).first()
        if found is not None:
            return found
    if form.get("name"):
        return session.exec(select(Unit).where(Unit.name == form.get("name"))).first()
    return None


def named_in(session: Session, subject: str) -> Unit | None:
    """The one member unit whose full name the subject holds (【登记】宏达机械有限公司 李明), if exactly one."""
    if not subject:
        return None
    found = [unit for unit in session.exec(select(Unit)).all() if unit.name and unit.name in subject]
    return found[0] if len(found) == 1 else None


def active_elsewhere(session: Session, email: str, unit_id: int | None = None) -> str | None:
    """The name of a unit (other than `unit_id`) whose active liaison `email` is, if any."""
    query = (
        select(Unit.name)
        .join(Liaison, col(Liaison.unit_id) == col(Unit.id))
        .where(func.lower(Liaison.email) == email.lower(), Liaison.status == LiaisonStatus.ACTIVE)
    )
    if unit_id is not None:
        query = query.where(Liaison.unit_id != unit_id)
    return session.exec(query).first()


def open_registration(session: Session, email: str) -> Registration | None:
    query = select(Registration).where(
        func.lower(Registration.email) == email.lower(),
        Registration.kind == "registration",
        col(Registration.state).in_(RegistrationState.OPEN),
    )
    return session.exec(query.order_by(col(Registration.id).desc())).first()


def _from_applicant(reg: Registration, message: Incoming, tx: Tx) -> bool:
    if message.sender in (reg.email.lower(), str(reg.form.get("liaison_email", "")).lower()):
        return True
    unit = tx.get(Unit, reg.unit_id) if reg.unit_id is not None else None
    return unit is not None and (unit.leader_email or "").lower() == message.sender


def _unit_state(unit: Unit | None, reg: Registration) -> Words:
    if unit is not None:
        return Words(f"在册会员单位（{unit.code}）", f"a member unit ({unit.code})")
    if reg.form.get("joining"):
        return Words("新入会单位，批准时建立", "joining the chamber: created on approval")
    return Words(
        "未能对应到在册会员单位，批准时请写明其统一社会信用代码", "not matched to a member unit: name its credit code"
    )


def _unreadable(check: AttachmentCheck) -> Words:
    if check.reasons:
        zh = "；".join(r.zh for r in check.reasons)
        en = "; ".join(r.en for r in check.reasons)
        return Words(f"{check.safe_name}：{zh}", f"{check.safe_name}: {en}")
    kind = label(check.detected_type) if check.detected_type else "无法识别"
    return Words(
        f"{check.safe_name}：不是扫描件、照片或 PDF（{kind}）", f"{check.safe_name}: not a scan, photo or PDF ({kind})"
    )
