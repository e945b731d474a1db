"""A bounce of mail we sent: the outbox row is marked bounced and the address flagged.

The letter is found by our Message-ID in the bounce, or, with VERP on, by the address the
bounce was sent to (it names the letter).

Runs after the pipeline has decided the message is a bounce (it is ignored, never answered).
A delay notice (4.x.x, Action: delayed) is noted on the row but changes nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import select

from mailflow.outbound.outbox import read_verp, verp_matches
from mailflow.screen.bounces import read_bounce
from mailflow.store import AddressFlag, Outbox, OutboxState
from mailflow.store.db import find_one

if TYPE_CHECKING:
    from mailflow.steps import Context, Outcome


def record(ctx: Context, outcome: Outcome) -> None:
    if ctx.row.intent != "bounce" or ctx.mail is None:
        return
    bounce = read_bounce(ctx.mail, ctx.settings.message_id_domain)
    sent = None
    if bounce.message_id is not None:
        sent = ctx.session.exec(select(Outbox).where(Outbox.message_id == bounce.message_id)).first()
    if sent is None and ctx.settings.verp_base:
        sent = _by_verp(ctx, ctx.settings.verp_base)
    if sent is None:
        return
    ctx.notes["bounced_outbox"] = str(sent.id)
    if not bounce.permanent:
        sent.last_error = f"delayed: {bounce.describe()}"[:1000]
        return
    sent.state, sent.last_error = OutboxState.BOUNCED, bounce.describe()[:1000]
    for address in [bounce.recipient] if bounce.recipient else sent.recipients:
        _flag(ctx, address, bounce.describe())


def _by_verp(ctx: Context, base: str) -> Outbox | None:
    """The letter named by the address the bounce was sent to (see outbound.outbox.verp_address)."""
    mail = ctx.parsed
    addresses = [a.email for a in mail.to]
    for name in ("delivered-to", "x-original-to", "envelope-to"):
        addresses += (mail.header(name) or "").replace("<", " ").replace(">", " ").split()
    for address in addresses:
        found = read_verp(address, base)
        if found is not None:
            row = ctx.session.get(Outbox, found[0])
            if row is not None and verp_matches(row, found[1]):
                return row
    return None


def _flag(ctx: Context, address: str, reason: str) -> None:
    flag = find_one(ctx.session, AddressFlag, "email", address)
    if flag is None:
        flag = AddressFlag(email=address, first_at=ctx.now)
        ctx.session.add(flag)
    flag.bounces += 1
    flag.reason, flag.last_at = reason[:1000], ctx.now
