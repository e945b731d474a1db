"""A bounce of mail we sent: the outbox row is marked bounced and the address flagged.

The letter is found by our Message-ID in the bounce, or, with VERP on, by the address the
bounce was sent to (it names the letter).

Runs after the pipeline has decided the message is a bounce (it is ignored, never answered).
A permanent failure that blames the address stops mail to it (outbound.suppression); a delay
notice or a temporary failure is noted on the row and counted as a soft bounce. Mail a person
sends from a flagged address clears the flag: the address works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import select

from mailflow.outbound import suppression
from mailflow.outbound.outbox import read_verp, verp_matches
from mailflow.screen.bounces import read_bounce
from mailflow.store import InboundState, Outbox, OutboxState

if TYPE_CHECKING:
    from mailflow.context import Context
    from mailflow.workflows.contract import Handled

_FLAGGED = "mailflow.flagged_addresses"  # session.info: the flagged addresses, read once per transaction
# Held for a doubtful From: such mail says nothing of whether the address it names works.
_DOUBTFUL_SENDER = frozenset({"forged_sender", "no_sender"})


def record(ctx: Context, outcome: Handled) -> None:
    if ctx.mail is None:
        return
    if ctx.row.intent == "bounce":
        ctx.session.info.pop(_FLAGGED, None)  # it may flag an address: read them again
        _bounced(ctx)
    elif ctx.row.sender and _written_by_a_person(ctx, outcome) and suppression.key(ctx.row.sender) in _flagged(ctx):
        suppression.clear(ctx.session.connection(), ctx.row.sender)


def _flagged(ctx: Context) -> set[str]:
    """Every flagged address, read once per transaction: mostly none, and a DELETE for each
    message a person sends cost more than reading the few there are."""
    flagged: set[str] | None = ctx.session.info.get(_FLAGGED)
    if flagged is None:
        flagged = suppression.flagged(ctx.session.connection())
        ctx.session.info[_FLAGGED] = flagged
    return flagged


def _bounced(ctx: Context) -> None:
    bounce = read_bounce(ctx.parsed, ctx.settings.message_id_domain)
    sent = None
    if bounce.message_id is not None:
        sent = ctx.session.exec(select(Outbox).where(Outbox.message_id == bounce.message_id)).first()
    if sent is None and ctx.settings.verp_base:
        sent = _by_verp(ctx, ctx.settings.verp_base)
    if sent is None:
        return
    ctx.notes["bounced_outbox"] = str(sent.id)
    addresses = [bounce.recipient] if bounce.recipient else sent.recipients
    conn = ctx.session.connection()
    if not bounce.permanent:
        sent.last_error = f"delayed: {bounce.describe()}"[:1000]
        for address in addresses:
            suppression.soft(conn, address, bounce.describe(), ctx.now)
        return
    sent.state, sent.last_error = OutboxState.BOUNCED, bounce.describe()[:1000]
    if suppression.blames_address(bounce.status or bounce.diagnostic):
        for address in addresses:
            suppression.hard(conn, address, bounce.describe(), ctx.now)


def _written_by_a_person(ctx: Context, outcome: Handled) -> bool:
    """Not a robot's (ignored: auto-replies, reports, duplicates), and from a From we believe."""
    if outcome.state == InboundState.IGNORED or ctx.parsed.sender_problem:
        return False
    return not any(reason.code in _DOUBTFUL_SENDER for reason in outcome.reasons)


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
