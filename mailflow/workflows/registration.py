"""登记 / 变更: a request to register or change a unit's liaison, kept pending for the secretariat."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailflow.store import Registration
from mailflow.workflows.references import next_reference

if TYPE_CHECKING:
    from mailflow.steps import Context

PREFIXES = {"registration": "DJ", "liaison_change": "BG"}  # 登记, 变更


def handle(ctx: Context) -> None:
    kind = ctx.row.intent or "registration"
    mail = ctx.parsed
    reference = next_reference(ctx.session, PREFIXES[kind], ctx.now, ctx.settings.zone)
    ctx.session.add(
        Registration(
            reference=reference,
            inbound_id=ctx.row.id or 0,
            kind=kind,
            email=ctx.row.sender or "",
            name=mail.from_.name if mail.from_ else "",
            unit_id=ctx.row.unit_id,
            created_at=ctx.now,
        )
    )
    ctx.notes["reference"] = reference
