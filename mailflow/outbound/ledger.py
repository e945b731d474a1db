"""The outbox's side of sending: the statements that take due letters and record what became of them.

A take marks up to `size` due rows `sending` and reads what their letters are built from: the
columns, the parts (outbound.parts) and the shared texts (outbox_body), each in one query. A row
whose every recipient is flagged (see `suppression`) is recorded dead in the same transaction;
one with some flagged goes to the others and says whom it left out. A record writes the outcomes
of the letters sent since the last take: sent, back to the queue untried, retried with backoff,
dead or ambiguous; and flags an address refused for good at RCPT TO. The dispatcher runs both in
one transaction (see `dispatch`); the statements are built once so that SQLAlchemy compiles them
once, and run on a Core connection (an ORM session compiled the bulk UPDATE anew on every call).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, get_type_hints

from sqlalchemy import Connection, bindparam, update
from sqlmodel import select

from mailflow.clock import Clock
from mailflow.errors import AmbiguousDelivery, DeliveryError, PermanentDelivery, RecipientRefused, TransientDelivery
from mailflow.outbound import suppression
from mailflow.outbound.mime import OutgoingPart
from mailflow.outbound.outbox import BODY_TABLE, OUTBOX_TABLE, Sendable, wire_address
from mailflow.outbound.parts import parts_of
from mailflow.store import OutboxState

log = logging.getLogger("mailflow.send")
Outcome = tuple[Any, DeliveryError | None, datetime]  # the row as claimed, failure or None, when

_T = OUTBOX_TABLE
_DUE = (
    select(_T.c.id)
    .where(_T.c.state.in_(OutboxState.DUE), _T.c.next_attempt_at <= bindparam("now"))
    .order_by(_T.c.next_attempt_at, _T.c.id)
    .limit(bindparam("size"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    update(_T)
    .where(_T.c.id.in_(_DUE.scalar_subquery()))
    .values(state=OutboxState.SENDING, attempts=_T.c.attempts + 1)
    # What a letter is built from (outbox.Sendable) and what its outcome is worked out from: not
    # every column, since each datetime read back from SQLite is parsed from text.
    .returning(*(_T.c[name] for name in (*get_type_hints(Sendable), "body_id", "attempts", "next_attempt_at")))
)
_B = BODY_TABLE
_BODIES = select(_B.c.id, _B.c.text, _B.c.html).where(_B.c.id.in_(bindparam("ids", expanding=True)))
_RECORD_SENT = (
    update(_T)
    .where(_T.c.id == bindparam("row"))
    .values(state=OutboxState.SENT, sent_at=bindparam("at"), last_error=bindparam("note"))
)
_RECORD_BACK = (  # taken and never started (a stop came first): this try does not count
    update(_T)
    .where(_T.c.id == bindparam("row"))
    .values(state=OutboxState.QUEUED, attempts=_T.c.attempts - 1, next_attempt_at=bindparam("at"))
)
_RECORD_FAILED = (
    update(_T)
    .where(_T.c.id == bindparam("row"))
    .values(state=bindparam("state"), last_error=bindparam("error"), next_attempt_at=bindparam("next"))
)


class Unstarted(TransientDelivery):
    """A letter taken that was never handed to the transport: it goes back as it was."""


class Ledger:
    """Takes and records for one dispatcher; remembers, between the two, what a letter needs."""

    def __init__(self, clock: Clock, *, max_attempts: int, retry_base_seconds: float) -> None:
        self.clock = clock
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.flags: bool | None = None  # whether any address is flagged: asked once a run
        # Letters taken that go to only some of their recipients: (those it goes to, whom it left out and why).
        self.withheld: dict[int, tuple[tuple[str, ...], str]] = {}
        self.bodies: dict[int, tuple[str, str]] = {}  # shared texts (outbox_body) of letters taken lately

    def take(self, conn: Connection, size: int) -> tuple[list[Any], dict[int, tuple[OutgoingPart, ...]]]:
        """Up to `size` due rows marked `sending` (less those dead for flagged addresses), and their parts."""
        rows = self.withhold(conn, self.claim(conn, size))
        if not rows:
            return [], {}
        self.read_bodies(conn, rows)
        return rows, parts_of(conn, [row.id for row in rows])

    def recipients(self, row: Any) -> tuple[str, ...]:
        """Whom the letter goes to: its recipients, less those flagged when it was taken."""
        return self.withheld[row.id][0] if row.id in self.withheld else tuple(row.recipients)

    def read_bodies(self, conn: Connection, rows: list[Any]) -> None:
        """The shared texts of the rows taken that are not known yet: one query; a circular's
        thousands of letters read theirs once."""
        wanted = {row.body_id for row in rows if row.body_id is not None and row.body_id not in self.bodies}
        if not wanted:
            return
        if len(self.bodies) > 64:
            self.bodies.clear()  # a letter in hand whose body went is read again when it is built
        for found in conn.execute(_BODIES, {"ids": sorted(wanted)}):
            self.bodies[found.id] = (found.text, found.html)

    def claim(self, conn: Connection, size: int) -> list[Any]:
        claimed = conn.execute(_CLAIM, {"now": self.clock.now(), "size": size}).all()
        return sorted(claimed, key=lambda r: (r.next_attempt_at, r.id))

    def withhold(self, conn: Connection, rows: list[Any]) -> list[Any]:
        """The rows taken, less those whose every recipient is flagged: those are recorded dead with
        the reason, in this transaction. A row with some recipients flagged goes to the others."""
        if self.flags is None:
            # Asked once a run: mostly no address is flagged, and a look-up per take cost a fifth
            # of the dispatcher's time. A refusal at RCPT in this run sets it again; a flag the pipeline
            # sets meanwhile counts from the next run.
            self.flags = suppression.any_active(conn, self.clock.now())
        if not rows or not self.flags:
            return rows
        flagged = suppression.suppressed(conn, [r for row in rows for r in row.recipients], self.clock.now())
        if not flagged:
            return rows
        going: list[Any] = []
        dead: list[Outcome] = []
        for row in rows:
            left_out = [r for r in row.recipients if suppression.key(r) in flagged]
            if not left_out:
                going.append(row)
                continue
            why = [flagged[suppression.key(r)] for r in left_out]
            rest = tuple(r for r in row.recipients if suppression.key(r) not in flagged)
            if not rest:
                reason = why[0] if len(why) == 1 else "; ".join(f"{r}: {w}" for r, w in zip(left_out, why, strict=True))
                dead.append((row, PermanentDelivery(reason), self.clock.now()))
                continue
            note = "; ".join(f"not sent to {r}: {w}" for r, w in zip(left_out, why, strict=True))
            self.withheld[row.id] = (rest, note)
            going.append(row)
        self.record(conn, dead)
        return going

    def record(self, conn: Connection, done: list[Outcome]) -> int:
        """Write the outcomes in `done`, and flag the addresses refused for good; returns how many were sent."""
        if not done:
            return 0
        notes = {row.id: self.withheld.pop(row.id, ((), None))[1] for row, _, _ in done}
        sent = [{"row": row.id, "at": at, "note": notes[row.id]} for row, failure, at in done if failure is None]
        if sent:
            conn.execute(_RECORD_SENT, sent)
        back = [{"row": row.id, "at": at} for row, failure, at in done if isinstance(failure, Unstarted)]
        if back:
            conn.execute(_RECORD_BACK, back)
        failed = [self._failed(row, f) for row, f, _ in done if f is not None and not isinstance(f, Unstarted)]
        if failed:
            conn.execute(_RECORD_FAILED, failed)
        for row, failure, at in done:
            state = "sent" if failure is None else type(failure).__name__
            log.info("outbox %s %s", row.id, state, extra={"outbox": row.id, "state": state})
            if isinstance(failure, RecipientRefused) and suppression.blames_address(str(failure)):
                self.flags = True
                suppression.hard(conn, self._refused(row, failure.recipient), str(failure), at)
        return len(sent)

    @staticmethod
    def _refused(row: Any, sent_as: str) -> str:
        """The row's recipient that went on the wire as `sent_as` (an IDNA domain is flagged as written)."""
        return next((r for r in row.recipients if wire_address(r) == sent_as), sent_as)

    def _failed(self, row: Any, failure: DeliveryError) -> dict[str, Any]:
        """The row's new state after `failure` (`row` as claimed: its attempts include this one)."""
        state, next_attempt = OutboxState.RETRY, row.next_attempt_at
        if isinstance(failure, AmbiguousDelivery):
            state = OutboxState.AMBIGUOUS
        elif isinstance(failure, PermanentDelivery) or row.attempts >= self.max_attempts:
            state = OutboxState.DEAD
        else:
            delay = self.retry_base_seconds * 2 ** (row.attempts - 1)
            next_attempt = self.clock.now() + timedelta(seconds=delay)
        return {"row": row.id, "state": state, "error": str(failure)[:1000], "next": next_attempt}
