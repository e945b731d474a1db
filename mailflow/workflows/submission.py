"""信息报送: a liaison's news, technology or demand report becomes a Submission with a reference."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailflow.store import Submission
from mailflow.workflows.references import next_reference

if TYPE_CHECKING:
    from mailflow.steps import Context

PREFIX = "BS"  # 报送


def handle(ctx: Context) -> None:
    mail = ctx.parsed
    reference = next_reference(ctx.session, PREFIX, ctx.now, ctx.settings.zone)
    ctx.session.add(
        Submission(
            reference=reference,
            inbound_id=ctx.row.id or 0,
            unit_id=ctx.row.unit_id,
            liaison_id=ctx.row.liaison_id,
            category=ctx.row.category,
            title=mail.subject[:500],
            text=mail.text,
            photo_count=sum(1 for c in ctx.checks if c.is_photo),
            created_at=ctx.now,
        )
    )
    ctx.notes["reference"] = reference
