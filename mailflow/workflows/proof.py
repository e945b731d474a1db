"""Whether a secretariat mail is provably from the secretariat (`security.commands`), for every
workflow that acts on the secretariat's word by mail: commands, circulars.

A From header is not enough: anyone can write one. The proof is our own receiving server's
DKIM/DMARC pass for the sender (`authenticated`), or a reply to a letter we sent to that very
address (`reply`), or either. Our Message-IDs carry 64 random bits, and the letter's row names its
recipients, so a forger who never received the letter can neither guess its Message-ID nor use
one sent to somebody else.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from mailflow.store import Outbox
from mailflow.workflows.contract import Incoming

PROOFS = frozenset({"authenticated", "reply", "either"})


def checked(proof: str) -> str:
    """`proof` when it is a known policy; a ValueError naming the setting otherwise."""
    if proof not in PROOFS:
        raise ValueError(f"security.commands: {proof!r} is not one of {', '.join(sorted(PROOFS))}")
    return proof


def proven(message: Incoming, session: Session, proof: str) -> bool:
    """The message is proved to come from its sender under the policy `proof`."""
    if proof in ("authenticated", "either") and message.authenticated:
        return True
    return proof in ("reply", "either") and answers_our_letter(message, session)


def answers_our_letter(message: Incoming, session: Session) -> bool:
    """It replies to a letter of ours that went to this very address."""
    mail = message.mail
    # The newest References are the letters replied to; a hostile header may hold thousands.
    named = {m[:300] for m in (mail.in_reply_to, *mail.references[-50:]) if m}
    if not named:
        return False
    rows = session.exec(select(Outbox.recipients).where(col(Outbox.message_id).in_(named))).all()
    return any(message.sender in (r.lower() for r in recipients) for recipients in rows)
