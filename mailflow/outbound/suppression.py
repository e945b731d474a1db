"""Addresses we do not mail: after a hard bounce until mail comes from them, after three soft bounces within seven days for seven days."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from mailflow.store import AddressFlag

SOFT_LIMIT = 3  # soft bounces within SOFT_WINDOW that stop mail to an address
SOFT_WINDOW = timedelta(days=7)  # how long a soft bounce counts, and how long the mail it stops stays stopped

_F = AddressFlag.metadata.tables["address_flag"]
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# Enhanced status classes (RFC 3463) that put the fault on the mail system, the network, the
# protocol or a policy: a relay refused for want of a login, or a letter taken for spam, says
# nothing against the address, and must not silence it.
_NOT_THE_ADDRESS = frozenset({"3", "4", "5", "7"})


def blames_address(text: str | None) -> bool:
    """Whether a permanent failure (a DSN's status, a server's reply) puts the fault on the address:
    yes unless its enhanced status code names another cause; with no such code we cannot tell, and
    a refusal of this recipient is taken at its word."""
    found = _ENHANCED.search(text or "")
    return found is None or found.group(2) not in _NOT_THE_ADDRESS


def hard(conn: Connection, address: str, reason: str, now: datetime) -> None:
    """A permanent failure: `address` is not mailed again until mail comes from it (see `clear`)."""
    email = key(address)
    _ensure(conn, email, now)
    conn.execute(
        update(_F)
        .where(_F.c.email == email)
        .values(bounces=_F.c.bounces + 1, reason=reason[:1000], last_at=now, suppressed_until=None)
    )
    conn.execute(update(_F).where(_F.c.email == email, _F.c.suppressed_at.is_(None)).values(suppressed_at=now))


def soft(conn: Connection, address: str, reason: str, now: datetime) -> None:
    """A temporary failure or a delay: counted for seven days; the third within them stops mail to
    `address` for seven days (one already stopped for good stays so)."""
    email = key(address)
    _ensure(conn, email, now)
    # FOR UPDATE: the list is read, then written; two bounces at once must not lose one.
    flag = conn.execute(
        select(_F.c.soft_bounces_at, _F.c.suppressed_at, _F.c.suppressed_until)
        .where(_F.c.email == email)
        .with_for_update()
    ).one()
    recent = [at for at in flag.soft_bounces_at if datetime.fromisoformat(at) > now - SOFT_WINDOW]
    recent.append(now.isoformat())
    values: dict[str, Any] = {"soft_bounces_at": recent}
    if len(recent) >= SOFT_LIMIT and not (flag.suppressed_at is not None and flag.suppressed_until is None):
        values.update(
            reason=f"{len(recent)} temporary failures within 7 days, the last: {reason}"[:1000],
            bounces=_F.c.bounces + 1,
            last_at=now,
            suppressed_at=now,
            suppressed_until=now + SOFT_WINDOW,
        )
    conn.execute(update(_F).where(_F.c.email == email).values(**values))


def flagged(conn: Connection) -> set[str]:
    """Every address with a flag, suppressing or not (few: one per address that ever bounced)."""
    return {email for (email,) in conn.execute(select(_F.c.email))}


def clear(conn: Connection, address: str) -> None:
    """Mail came from `address` (or it was corrected): it works, and is mailed again."""
    conn.execute(delete(_F).where(_F.c.email == key(address)))


# Built once: asked at the start of every dispatcher run.
_ANY_ACTIVE = (
    select(_F.c.email)
    .where(
        _F.c.suppressed_at.is_not(None), or_(_F.c.suppressed_until.is_(None), _F.c.suppressed_until > bindparam("now"))
    )
    .limit(1)
)


def any_active(conn: Connection, now: datetime) -> bool:
    """Whether any address is kept from mail now: when none is, letters need no look-up each."""
    return conn.execute(_ANY_ACTIVE, {"now": now}).first() is not None


def suppressed(conn: Connection, addresses: Iterable[str], now: datetime) -> dict[str, str]:
    """For each of `addresses` not mailed now (by its lower-case form), why, as a letter's reason."""
    keys = {key(a) for a in addresses}
    if not keys:
        return {}
    rows = conn.execute(
        select(_F.c.email, _F.c.reason, _F.c.last_at, _F.c.suppressed_at, _F.c.suppressed_until).where(
            _F.c.email.in_(keys),
            _F.c.suppressed_at.is_not(None),
            or_(_F.c.suppressed_until.is_(None), _F.c.suppressed_until > now),
        )
    )
    return {row.email: _notice(row) for row in rows}


def key(address: str) -> str:
    """The form an address is flagged under."""
    return address.strip().lower()


def _notice(row: Any) -> str:
    when = f"address bounced on {_utc(row.last_at or row.suppressed_at)}: {row.reason}"
    if row.suppressed_until is None:
        return f"{when}; correct it or wait for mail from it"
    return f"{when}; not mailed before {_utc(row.suppressed_until)} unless corrected or mail comes from it"


def _utc(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC"


def _ensure(conn: Connection, email: str, now: datetime) -> None:
    """The address's row exists afterwards, whoever inserted it. The sender (a refusal at RCPT) and
    the pipeline (a bounce) may flag one address at the same moment from two processes: a plain
    INSERT would fail the slower transaction, and with it the letters it was recording."""
    values = {"email": email, "reason": "", "bounces": 0, "first_at": now, "soft_bounces_at": []}
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        upsert = (sqlite if dialect == "sqlite" else postgresql).insert(_F).values(values)
        conn.execute(upsert.on_conflict_do_nothing(index_elements=["email"]))
        return
    if conn.execute(select(_F.c.id).where(_F.c.email == email)).first() is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(_F).values(values))
        except IntegrityError:  # inserted meanwhile by the other process: what we wanted
            pass
