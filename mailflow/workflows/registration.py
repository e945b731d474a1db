"""登记 / 变更: a request to register or change a unit's liaison, kept pending for the secretariat."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from mailflow.store import Registration, Unit
from mailflow.workflows.contract import DigestItem, DigestSection, Handled, Incoming, Reply, Words, Workflow
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
    digest=(DigestSection("registrations", ("联络员登记待审核", "Registrations awaiting approval"), pending, True),),
    samples={
        "ack_registration": {
            "name": "李明",
            "email": "liming@example.cn",
            "reference": "DJ-2026-0007",
            "certificate": "单位有效证明.pdf",
        }
    },
)
