"""The dispatcher's sole purpose is to hand due outbox rows to the transport and record what happened.

Rows are taken a batch at a time (as many as the transport carries at once) and marked
`sending` in one commit before the transport is called. If the process dies after that, the
next start cannot know whether they left: such rows become `ambiguous`, are listed, and are
resent only by `mailflow outbox retry` (SMTP cannot be made transactional, RFC 1047). A
transport that can safely hand a letter over twice (the file transport) gets them back
instead. A temporary failure is retried with exponential backoff until max_attempts; a
permanent one is dead at once, with the reason kept. With `per_minute`, letters leave no
faster than that (providers throttle), spaced evenly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select

from mailflow.clock import Clock, nap
from mailflow.errors import AmbiguousDelivery, DeliveryError, PermanentDelivery
from mailflow.outbound.outbox import build_message, verp_address
from mailflow.outbound.transports import Letter, Transport
from mailflow.store import Outbox, OutboxState, Store

log = logging.getLogger("mailflow.send")


class RateLimit:
    """At most `per_minute` letters a minute, evenly spaced; a burst of at most `burst`."""

    def __init__(self, per_minute: float, clock: Clock, *, burst: int = 1) -> None:
        self.interval = 60.0 / per_minute
        self.clock = clock
        self.burst = max(1, burst)
        self._next: datetime | None = None  # when the next letter may leave

    def wait(self, wanted: int, sleep: Callable[[float], None], should_stop: Callable[[], bool]) -> int:
        """Wait until at least one letter may leave; return how many may leave now (<= wanted)."""
        now = self.clock.now()
        if self._next is None or self._next < now - timedelta(seconds=self.interval * self.burst):
            self._next = now - timedelta(seconds=self.interval * (self.burst - 1))
        if self._next > now:
            nap((self._next - now).total_seconds(), should_stop, sleep)
            now = self.clock.now()
        allowed = 1 + int((now - self._next).total_seconds() // self.interval)
        granted = max(1, min(wanted, allowed, self.burst))
        self._next += timedelta(seconds=self.interval * granted)
        return granted


class Dispatcher:
    def __init__(
        self,
        store: Store,
        transport: Transport,
        clock: Clock,
        *,
        sender: str,
        sender_name: str,
        max_attempts: int = 5,
        retry_base_seconds: float = 60.0,
        per_minute: float = 0,
        verp: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.verp = verp
        self.store = store
        self.transport = transport
        self.clock = clock
        self.sender = sender
        self.sender_name = sender_name
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.limit = RateLimit(per_minute, clock, burst=transport.batch) if per_minute else None
        self.sleep = sleep

    def recover(self) -> int:
        """At start: rows left `sending` by a process that died are ambiguous (see the module)."""
        with self.store.session() as session:
            rows = session.exec(select(Outbox).where(Outbox.state == OutboxState.SENDING)).all()
            for row in rows:
                if self.transport.idempotent:
                    row.state, row.next_attempt_at = OutboxState.QUEUED, self.clock.now()
                else:
                    row.state = OutboxState.AMBIGUOUS
                    row.last_error = "the sender stopped while this message was being handed over; it may have arrived"
        return len(rows)

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Send everything due now; return how many were sent."""
        sent = 0
        while not should_stop():
            size = self.transport.batch
            if self.limit is not None:
                size = self.limit.wait(size, self.sleep, should_stop)
                if should_stop():
                    break
            letters = self._take(size)
            if not letters:
                break
            sent += self._send(letters)
        return sent

    def seconds_to_next(self) -> float | None:
        """How long until the next letter is due (a retry), or None when nothing waits."""
        with self.store.session() as session:
            due = session.exec(
                select(func.min(Outbox.next_attempt_at)).where(col(Outbox.state).in_(OutboxState.DUE))
            ).one()
        return None if due is None else max(0.0, (due - self.clock.now()).total_seconds())

    def _take(self, size: int) -> dict[int, Letter]:
        """Mark up to `size` due rows `sending` in one commit; then build their letters."""
        now = self.clock.now()
        with self.store.session() as session:
            rows = session.exec(
                select(Outbox)
                .where(col(Outbox.state).in_(OutboxState.DUE), col(Outbox.next_attempt_at) <= now)
                .order_by(col(Outbox.next_attempt_at), col(Outbox.id))
                .limit(size)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                row.state = OutboxState.SENDING
                row.attempts += 1
        return {
            row.id or 0: Letter(
                verp_address(self.sender, row) if self.verp else self.sender,
                tuple(row.recipients),
                build_message(row, sender=self.sender, sender_name=self.sender_name),
                row.message_id,
            )
            for row in rows
        }

    def _send(self, letters: dict[int, Letter]) -> int:
        # No transaction is open while the transport works: a slow server must not hold
        # the database's write lock against the pipeline and the archiver.
        try:
            results = self.transport.send_many(list(letters.values()))
        except Exception as exc:  # noqa: BLE001 - which letters left is unknown; never resend on our own
            log.exception("the %s transport failed", self.transport.name)
            results = [AmbiguousDelivery(f"the transport failed: {type(exc).__name__}: {exc}")] * len(letters)
        sent = 0
        with self.store.session() as session:
            rows = {r.id: r for r in session.exec(select(Outbox).where(col(Outbox.id).in_(list(letters)))).all()}
            for row_id, failure in zip(letters, results, strict=True):
                row = rows[row_id]
                self._record(row, failure)
                log.info("outbox %s %s", row.id, row.state, extra={"outbox": row.id, "state": row.state})
                sent += row.state == OutboxState.SENT
        return sent

    def _record(self, row: Outbox, failure: DeliveryError | None) -> None:
        if failure is None:
            row.state, row.sent_at, row.last_error = OutboxState.SENT, self.clock.now(), None
            return
        row.last_error = str(failure)[:1000]
        if isinstance(failure, AmbiguousDelivery):
            row.state = OutboxState.AMBIGUOUS
        elif isinstance(failure, PermanentDelivery) or row.attempts >= self.max_attempts:
            row.state = OutboxState.DEAD
        else:
            row.state = OutboxState.RETRY
            delay = self.retry_base_seconds * 2 ** (row.attempts - 1)
            row.next_attempt_at = self.clock.now() + timedelta(seconds=delay)

    def retry(self, row_id: int) -> str:
        """A person's word: send a dead or ambiguous message again."""
        with self.store.session() as session:
            row = session.get(Outbox, row_id)
            if row is None:
                return "missing"
            if row.state in (OutboxState.DEAD, OutboxState.AMBIGUOUS, OutboxState.RETRY):
                row.state, row.next_attempt_at, row.attempts = OutboxState.QUEUED, self.clock.now(), 0
            return row.state
