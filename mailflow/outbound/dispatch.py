"""The dispatcher's sole purpose is to hand due outbox rows to the transport and record what happened.

Each row is marked `sending` in a commit of its own before the transport is called. If the
process dies after that, the next start cannot know whether the message left: such rows
become `ambiguous`, are listed, and are resent only by `mailflow outbox retry` (SMTP cannot
be made transactional, RFC 1047). A temporary failure is retried with exponential backoff
until max_attempts; a permanent one is dead at once, with the reason kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlmodel import col, select

from mailflow.clock import Clock
from mailflow.errors import AmbiguousDelivery, DeliveryError, PermanentDelivery
from mailflow.outbound.outbox import build_message
from mailflow.outbound.transports import Transport
from mailflow.store import Outbox, OutboxState, Store

log = logging.getLogger("mailflow.send")


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
    ) -> None:
        self.store = store
        self.transport = transport
        self.clock = clock
        self.sender = sender
        self.sender_name = sender_name
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds

    def recover(self) -> int:
        """At start: rows left `sending` by a process that died are ambiguous (see the module)."""
        with self.store.session() as session:
            rows = session.exec(select(Outbox).where(Outbox.state == OutboxState.SENDING)).all()
            for row in rows:
                row.state = OutboxState.AMBIGUOUS
                row.last_error = "the sender stopped while this message was being handed over; it may have arrived"
        return len(rows)

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Send everything due now; return how many were sent."""
        sent = 0
        while not should_stop():
            row_id = self._take()
            if row_id is None:
                break
            sent += self._send(row_id)
        return sent

    def _take(self) -> int | None:
        now = self.clock.now()
        with self.store.session() as session:
            row = session.exec(
                select(Outbox)
                .where(col(Outbox.state).in_(OutboxState.DUE), col(Outbox.next_attempt_at) <= now)
                .order_by(col(Outbox.next_attempt_at), col(Outbox.id))
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            row.state = OutboxState.SENDING
            row.attempts += 1
            return row.id

    def _send(self, row_id: int) -> int:
        # No transaction is open while the transport works: a slow server must not hold
        # the database's write lock against the pipeline and the archiver.
        with self.store.session() as session:
            row = session.get(Outbox, row_id)
            assert row is not None
            message = build_message(row, sender=self.sender, sender_name=self.sender_name)
            recipients, message_id = list(row.recipients), row.message_id
        failure: DeliveryError | None = None
        try:
            self.transport.send(self.sender, recipients, message, message_id=message_id)
        except DeliveryError as exc:
            failure = exc
        with self.store.session() as session:
            row = session.get(Outbox, row_id)
            assert row is not None
            self._record(row, failure)
            log.info("outbox %s %s", row.id, row.state, extra={"outbox": row.id, "state": row.state})
            return 1 if row.state == OutboxState.SENT else 0

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
