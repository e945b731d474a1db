"""The dispatcher's sole purpose is to hand due outbox rows to the transport and record what happened.

Rows are taken a few at a time (twice what the transport carries at once) and marked
`sending` in one commit before the transport gets them; outcomes are written as they come
in, a chunk per commit. If the process dies in between, the next start cannot know whether
those letters left: they become `ambiguous`, are listed, and are resent only by
`mailflow outbox retry` (SMTP cannot be made transactional, RFC 1047). A transport that can
safely hand a letter over twice (the file transport) gets them back instead. A temporary
failure is retried with exponential backoff until max_attempts; a permanent one is dead at
once, with the reason kept. With `per_minute`, letters leave no faster than that (providers
throttle), spaced evenly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlmodel import Session, col, select

from mailflow.clock import Clock
from mailflow.errors import AmbiguousDelivery, DeliveryError, PermanentDelivery
from mailflow.outbound.outbox import OUTBOX_TABLE, build_message, verp_address
from mailflow.outbound.transports import Letter, Transport
from mailflow.store import Outbox, OutboxState, Store

log = logging.getLogger("mailflow.send")
Outcome = tuple[int, DeliveryError | None, datetime]  # row id, failure or None, when


class RateLimit:
    """At most `per_minute` letters a minute, evenly spaced; a burst of at most `burst`."""

    def __init__(self, per_minute: float, clock: Clock, *, burst: int = 1) -> None:
        self.interval = 60.0 / per_minute
        self.clock = clock
        self.burst = max(1, burst)
        self._next: datetime | None = None  # when the next letter may leave

    async def wait(self, wanted: int, pause: Callable[[float], Awaitable[None]]) -> int:
        """Wait until at least one letter may leave; return how many may leave now (<= wanted)."""
        now = self.clock.now()
        if self._next is None or self._next < now - timedelta(seconds=self.interval * self.burst):
            self._next = now - timedelta(seconds=self.interval * (self.burst - 1))
        if self._next > now:
            await pause((self._next - now).total_seconds())
            now = self.clock.now()
        allowed = 1 + int((now - self._next).total_seconds() // self.interval)
        granted = max(1, min(wanted, allowed, self.burst))
        self._next += timedelta(seconds=self.interval * granted)
        return granted


class Dispatcher:
    """Streams due letters to the transport's slots on an event loop of its own (kept across runs,
    so that SMTP connections are reused from one pass to the next)."""

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
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.store = store
        self.transport = transport
        self.clock = clock
        self.sender = sender
        self.sender_name = sender_name
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.limit = RateLimit(per_minute, clock, burst=transport.slots) if per_minute else None
        self.verp = verp
        self.sleep = sleep  # a test's clock-moving sleep; the event loop's otherwise
        # Letters taken at a time: as many as the slots carry, twice over, so that the next are
        # built while the slots work. A crash leaves at most 2 × slots letters ambiguous. A
        # transport that may hand a letter over twice loses nothing by a crash: a large chunk.
        self.chunk = 100 if transport.idempotent else 2 * transport.slots
        self._loop = asyncio.Runner()

    def close(self) -> None:
        self._loop.run(self.transport.aclose())
        self._loop.close()

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
        return self._loop.run(self._run(should_stop))

    def seconds_to_next(self) -> float | None:
        """How long until the next letter is due (a retry), or None when nothing waits."""
        with self.store.session() as session:
            due = session.exec(
                select(func.min(Outbox.next_attempt_at)).where(col(Outbox.state).in_(OutboxState.DUE))
            ).one()
        return None if due is None else max(0.0, (due - self.clock.now()).total_seconds())

    async def _run(self, should_stop: Callable[[], bool]) -> int:
        """Take letters a chunk at a time and feed the slots; record outcomes as they come in."""
        lanes: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.transport.slots)
        done: list[Outcome] = []

        async def lane(slot: int) -> None:
            while (row := await lanes.get()) is not None:
                row_id, letter = row.id, self._letter(row)  # built here, between the replies it waits for
                try:
                    await self.transport.send(slot, letter)
                    done.append((row_id, None, self.clock.now()))
                except DeliveryError as exc:
                    done.append((row_id, exc, self.clock.now()))
                except Exception as exc:  # noqa: BLE001 - whether it left is unknown; never resend on our own
                    log.exception("the %s transport failed", self.transport.name)
                    failure = AmbiguousDelivery(f"the transport failed: {type(exc).__name__}: {exc}")
                    done.append((row_id, failure, self.clock.now()))

        async def pause(seconds: float) -> None:
            left = seconds
            while left > 0 and not should_stop():
                step = min(0.5, left)
                if self.sleep is not None:
                    await asyncio.sleep(0)  # the slots work first, then the test's clock moves
                    self.sleep(step)
                else:
                    await asyncio.sleep(step)
                left -= step

        workers = [asyncio.create_task(lane(slot)) for slot in range(self.transport.slots)]
        sent = 0
        try:
            while not should_stop():
                size = self.chunk
                if self.limit is not None:
                    size = await self.limit.wait(size, pause)
                    if should_stop():
                        break
                # One commit records what finished meanwhile and takes the next letters.
                recorded, letters = self._take(size, done)
                sent += recorded
                if not letters:
                    break
                for item in letters:
                    await lanes.put(item)
        finally:
            for _ in workers:
                await lanes.put(None)
            await asyncio.gather(*workers)
            sent += self._take(0, done)[0]
        return sent

    def _take(self, size: int, done: list[Outcome]) -> tuple[int, list[Any]]:
        """In one transaction: record the outcomes in `done` (and empty it), then mark up to `size`
        due rows `sending`. Returns (letters sent, rows taken)."""
        with self.store.session() as session:
            sent = self._record(session, done)
            rows = self._claim(session, size) if size else []
        return sent, rows

    def _letter(self, row: Any) -> Letter:
        return Letter(
            verp_address(self.sender, row) if self.verp else self.sender,
            tuple(row.recipients),
            build_message(row, sender=self.sender, sender_name=self.sender_name),
            row.message_id,
        )

    def _claim(self, session: Session, size: int) -> list[Any]:
        now = self.clock.now()
        table = OUTBOX_TABLE
        due = (
            select(col(Outbox.id))
            .where(col(Outbox.state).in_(OutboxState.DUE), col(Outbox.next_attempt_at) <= now)
            .order_by(col(Outbox.next_attempt_at), col(Outbox.id))
            .limit(size)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(table)
            .where(table.c.id.in_(due.scalar_subquery()))
            .values(state=OutboxState.SENDING, attempts=table.c.attempts + 1)
            .returning(*table.c)
        )
        return sorted(session.execute(claim).all(), key=lambda r: (r.next_attempt_at, r.id))

    def _record(self, session: Session, done: list[Outcome]) -> int:
        """Write the outcomes gathered so far and empty `done`; returns how many were sent."""
        if not done:
            return 0
        finished, done[:] = list(done), []
        sent = [{"row": row_id, "at": at} for row_id, failure, at in finished if failure is None]
        if sent:
            session.execute(
                update(OUTBOX_TABLE)
                .where(OUTBOX_TABLE.c.id == bindparam("row"))
                .values(state=OutboxState.SENT, sent_at=bindparam("at"), last_error=None),
                sent,
                execution_options={"synchronize_session": False},
            )
        failed = {row_id: failure for row_id, failure, _ in finished if failure is not None}
        if failed:
            for row in session.exec(select(Outbox).where(col(Outbox.id).in_(list(failed)))).all():
                self._failed(row, failed[row.id or 0])
        for row_id, failure, _ in finished:
            state = "sent" if failure is None else type(failure).__name__
            log.info("outbox %s %s", row_id, state, extra={"outbox": row_id, "state": state})
        return len(sent)

    def _failed(self, row: Outbox, failure: DeliveryError) -> None:
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
