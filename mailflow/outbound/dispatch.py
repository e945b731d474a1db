"""The dispatcher's sole purpose is to hand due outbox rows to the transport and record what happened.

Rows are taken a few dozen at a time (sixteen times what the transport carries at once) and
marked `sending` in one commit; the commit that takes the next ones also writes the outcomes that
came in meanwhile. The connections get them a few at a time (twice what they carry), each batch
released first in the handover journal (outbound.handover), synced to disk, and the next batch
once the connections hold no more than one letter each. If the process dies, the next start reads
that journal: a letter the server accepted is recorded as sent, one whose final dot may have left
without an answer becomes `ambiguous` (at most one per connection), is listed, and is resent
only by `mailflow outbox retry` (SMTP cannot be made transactional, RFC 1047); the others never
reached the server and are sent again. After a reboot only the synced lines count: the letters
released since the last sync are ambiguous, at most 4 × slots. Without a journal every letter
taken and not recorded is ambiguous, so it takes only 4 × slots at a time and the next ones when
the lanes hold the last: at most 5 × slots. A transport that can safely hand a letter over twice
(the file transport) gets them all back instead. A temporary
failure is retried with exponential backoff until max_attempts; a permanent one is dead at
once, with the reason kept, and so is a letter that cannot be built: one letter's fault never
holds up the others. What a take reads and a record writes (flagged addresses, parts, shared
texts) is in `ledger`; the bytes of the parts come from the blob store `parts` as each letter is
built, and a part missing or damaged there makes that letter dead, with the reason. With `per_minute`, letters leave no faster than that (providers throttle), spaced evenly.
`progress` is told of every step with the letters in hand, so that whoever runs the dispatcher can
tell a slow server from a dispatcher that is stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from mailflow.clock import Clock
from mailflow.errors import AmbiguousDelivery, DeliveryError, PermanentDelivery, TransientDelivery
from mailflow.outbound.handover import Fate, HandoverJournal
from mailflow.outbound.ledger import Ledger, Outcome, Unstarted
from mailflow.outbound.outbox import build_message, verp_address, wire_address
from mailflow.outbound.mime import OutgoingPart
from mailflow.outbound.parts import PartReader
from mailflow.outbound.transports import Letter, Transport
from mailflow.store import BlobStore, Outbox, OutboxState, Store

log = logging.getLogger("mailflow.send")
# How long a transport that says nothing of it may take over one letter (the file transport: a write).
_QUICK_HOLD = 60.0
# The handover journal is emptied, when nothing is in hand, once it grows past this.
_JOURNAL_BYTES = 1 << 20
# Beyond the transport's own time: a commit that waits for the database (SQLite's busy timeout is 30 s).
_COMMIT_ALLOWANCE = 120.0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (not on Windows): a third less CPU for each SMTP exchange."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


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
        journal: HandoverJournal | None = None,
        parts: BlobStore | None = None,
    ) -> None:
        self.store = store
        self.transport = transport
        self.clock = clock
        self.sender = sender
        self.sender_name = sender_name
        self.ledger = Ledger(clock, max_attempts=max_attempts, retry_base_seconds=retry_base_seconds)
        self.limit = RateLimit(per_minute, clock, burst=transport.slots) if per_minute else None
        self.verp = verp
        self.parts = PartReader(parts)
        self.sleep = sleep  # a test's clock-moving sleep; the event loop's otherwise
        self.journal = None if transport.idempotent else journal
        if self.journal is not None and hasattr(transport, "on_final_dot"):
            transport.on_final_dot = self.journal.note
        # Letters taken at a time, and handed to the connections at a time. With a journal, a
        # take (a commit that waits for the disk, and SQL that holds the interpreter) serves
        # sixteen letters a connection: at four, the takes were a fifth of a 5,000-letter circular.
        # The connections get two letters each at a time, each batch released (synced) first.
        # Without one, a crash leaves every letter taken ambiguous: four a connection, the next
        # ones taken when the lanes hold the last. A transport that may hand a letter over twice
        # loses nothing by a crash: a large chunk.
        slots = transport.slots
        if transport.idempotent:
            self.chunk, self.release, self.low_water = 100, 100, 0
        elif self.journal is not None:
            self.chunk, self.release, self.low_water = 16 * slots, 2 * slots, slots
        else:
            self.chunk, self.release, self.low_water = 4 * slots, 4 * slots, 0
        self._loop = asyncio.Runner(loop_factory=_loop_factory())
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="mailflow-outbox-commit")
        # Releases sync the journal beside a take's commit, not after it.
        self._journaling = ThreadPoolExecutor(1, thread_name_prefix="mailflow-outbox-journal")
        self.progress: Callable[[int], None] = _unwatched  # told at every step: the letters in hand
        self._in_hand = 0  # taken (marked `sending`) and not yet recorded
        # Outcomes a failed commit could not record (the database went away): recorded by the next run.
        self._unrecorded: list[Outcome] = []
        self._carried: dict[int, tuple[OutgoingPart, ...]] = {}  # the parts of letters taken, until built

    @property
    def in_hand(self) -> int:
        """Letters taken (marked `sending`) whose outcome is not yet recorded."""
        return self._in_hand

    @property
    def longest_silence(self) -> float:
        """How long this dispatcher may go without a step while it holds letters: the longest its
        transport may take over one letter, and a commit that waits for the database."""
        return float(getattr(self.transport, "longest_hold", _QUICK_HOLD)) + _COMMIT_ALLOWANCE

    def close(self) -> None:
        self._loop.run(self.transport.aclose())
        self._loop.close()
        self._committer.shutdown()
        self._journaling.shutdown()

    def recover(self) -> int:
        """At start, or once a dead sender is gone: rows it left `sending` are sent again, or
        ambiguous when their final dot may have left (see the module). Returns how many it found."""
        told = self.journal.read() if self.journal is not None else None
        with self.store.session() as session:
            rows = session.exec(select(Outbox).where(Outbox.state == OutboxState.SENDING)).all()
            for row in rows:
                fate = (
                    Fate.AGAIN if self.transport.idempotent else told.fate(row.message_id) if told else Fate.AMBIGUOUS
                )
                if fate == Fate.SENT:  # accepted; the sender died before it could record it
                    row.state, row.sent_at = OutboxState.SENT, self.clock.now()
                elif fate == Fate.AGAIN:
                    # Never reached the server: this attempt does not count against the letter.
                    row.state, row.next_attempt_at = OutboxState.QUEUED, self.clock.now()
                    row.attempts = max(0, row.attempts - 1)
                else:
                    row.state = OutboxState.AMBIGUOUS
                    row.last_error = "the sender stopped while this message was being handed over; it may have arrived"
        if self.journal is not None:
            self.journal.clear()  # after the commit: a crash before it reads the same journal again
        return len(rows)

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Send everything due now; return how many were sent."""
        sent = self._loop.run(self._run(should_stop))
        if self.journal is not None and self._in_hand == 0 and self.journal.size() > _JOURNAL_BYTES:
            self.journal.clear()  # every letter noted is recorded now
        return sent

    def seconds_to_next(self) -> float | None:
        """How long until the next letter is due (a retry), or None when nothing waits."""
        with self.store.session() as session:
            due = session.exec(
                select(func.min(Outbox.next_attempt_at)).where(col(Outbox.state).in_(OutboxState.DUE))
            ).one()
        return None if due is None else max(0.0, (due - self.clock.now()).total_seconds())

    async def _run(self, should_stop: Callable[[], bool]) -> int:
        """Take letters a chunk at a time, release them to the slots a batch at a time, and record
        outcomes as they come in."""
        lanes: asyncio.Queue[Any] = asyncio.Queue()
        low = asyncio.Event()  # the lanes hold no more than `low_water` letters not yet started
        done, self._unrecorded = self._unrecorded, []
        self.ledger.flags = None
        taken: deque[Any] = deque()  # taken (marked `sending`) and not yet released

        async def lane(slot: int) -> None:
            while (row := await lanes.get()) is not None:
                if lanes.qsize() <= self.low_water:
                    low.set()
                failure = await self._deliver(slot, row)
                if failure is None and self.journal is not None:
                    self.journal.sent(row.message_id)
                done.append((row, failure, self.clock.now()))
                self.progress(self._in_hand)

        async def pause(seconds: float) -> None:
            left = seconds
            while left > 0 and not should_stop():
                self.progress(self._in_hand)  # waiting on the rate limit is not being stuck
                step = min(0.5, left)
                if self.sleep is not None:
                    await asyncio.sleep(0)  # the slots work first, then the test's clock moves
                    self.sleep(step)
                else:
                    await asyncio.sleep(step)
                left -= step

        async def take(size: int) -> tuple[int, list[Any]]:
            """One commit records what finished meanwhile and takes the next letters."""
            finished, done[:] = done[:], []
            try:
                return await self._take(size, finished)
            except BaseException:
                done[:0] = finished  # not recorded: kept for the final take, or the next run
                raise

        workers = [asyncio.create_task(lane(slot)) for slot in range(self.transport.slots)]
        ahead: asyncio.Future[tuple[int, list[Any]]] | None = None  # the next take, under way
        sent = 0
        try:
            while not should_stop():
                await self.transport.close_idle()  # before the server times them out (see smtp.IDLE_QUIT)
                if not taken:
                    if ahead is None:
                        size = self.chunk
                        if self.limit is not None:
                            size = await self.limit.wait(size, pause)
                            if should_stop():
                                break
                        ahead = asyncio.ensure_future(take(size))
                    recorded, letters = await ahead
                    ahead = None
                    sent += recorded
                    if not letters:
                        break
                    taken.extend(letters)
                batch = [taken.popleft() for _ in range(min(self.release, len(taken)))]
                for row in await self._release(batch, done):
                    lanes.put_nowait(row)
                if not taken and self.journal is not None and self.limit is None:
                    # The next take's commit waits for the disk while the lanes send these.
                    ahead = asyncio.ensure_future(take(self.chunk))
                if lanes.qsize() > self.low_water:
                    low.clear()
                    await low.wait()
        finally:
            for _ in workers:
                lanes.put_nowait(None)
            await asyncio.gather(*workers)
            if ahead is not None:  # a stop came while it was under way: its letters go back
                with contextlib.suppress(Exception):
                    recorded, letters = await ahead
                    sent += recorded
                    taken.extend(letters)
            done.extend((row, Unstarted("taken, never started"), self.clock.now()) for row in taken)
            try:
                sent += (await self._take(0, done))[0]
            except BaseException:
                self._unrecorded = done  # the letters' outcomes are known; only the store failed
                raise
        return sent

    async def _release(self, batch: list[Any], done: list[Outcome]) -> list[Any]:
        """The letters of `batch` that may start: all, once the journal has them on disk; none,
        with a temporary failure each, when it cannot be written (a full disk): they wait."""
        if self.journal is None or not batch:
            return batch
        try:
            await asyncio.wrap_future(self._journaling.submit(self.journal.release, [r.message_id for r in batch]))
        except OSError as exc:
            log.error("the handover journal cannot be written: %s", exc)
            failure = TransientDelivery(f"the handover journal cannot be written: {exc}")
            done.extend((row, failure, self.clock.now()) for row in batch)
            return []
        return batch

    async def _take(self, size: int, done: list[Outcome]) -> tuple[int, list[Any]]:
        """In one transaction: record the outcomes in `done`, then mark up to `size` due rows
        `sending`. Returns (letters sent, rows taken).

        A Core connection, not a session: this runs every few letters, and nothing here needs
        the ORM. The commit waits for the disk (synchronous=FULL), so it runs on a thread of its
        own while the connections go on with the letters they hold; the rows taken are handed
        over only once it is done.
        """
        with self.store.engine.connect() as conn:
            transaction = conn.begin()
            try:
                sent = self.ledger.record(conn, done)
                rows, carried = self.ledger.take(conn, size) if size else ([], {})
            except BaseException:
                transaction.rollback()
                raise
            commit = self._committer.submit(transaction.commit)
            try:
                await asyncio.wrap_future(commit)
            except asyncio.CancelledError:
                commit.result()  # the connection is not closed under a commit still running
                raise
        self._carried.update(carried)
        self._in_hand += len(rows) - len(done)
        self.progress(self._in_hand)
        return sent, rows

    async def _deliver(self, slot: int, row: Any) -> DeliveryError | None:
        """Build one letter and hand it to the transport; the failure, or None when it was delivered.

        Never raises: a lane that died on one letter left the letters queued behind it waiting
        for ever, and the run (`run --once`, a stop) with them.
        """
        try:
            letter = self._letter(row)  # built here, between the replies it waits for
        except Exception as exc:  # noqa: BLE001 - this letter's fault: it goes nowhere, the others go on
            log.exception("outbox %s cannot be built", row.id)
            return PermanentDelivery(f"the letter cannot be built: {type(exc).__name__}: {exc}")
        try:
            await self.transport.send(slot, letter)
        except DeliveryError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - whether it left is unknown; never resend on our own
            log.exception("the %s transport failed", self.transport.name)
            return AmbiguousDelivery(f"the transport failed: {type(exc).__name__}: {exc}")
        return None

    def _letter(self, row: Any) -> Letter:
        parts = self.parts.wire(self._carried.pop(row.id, ()))
        body = None
        if row.body_id is not None:
            if row.body_id not in self.ledger.bodies:  # let go since it was taken: rare, read again
                with self.store.engine.connect() as conn:
                    self.ledger.read_bodies(conn, [row])
            body = self.ledger.bodies[row.body_id]  # a KeyError makes this letter dead, with the reason
        return Letter(
            verp_address(self.sender, row) if self.verp else self.sender,
            tuple([wire_address(r) for r in self.ledger.recipients(row)]),
            build_message(row, sender=self.sender, sender_name=self.sender_name, parts=parts, body=body),
            row.message_id,
        )

    def retry(self, row_id: int) -> str:
        """A person's word: send a dead or ambiguous message again."""
        with self.store.session() as session:
            row = session.get(Outbox, row_id)
            if row is None:
                return "missing"
            if row.state in (OutboxState.DEAD, OutboxState.AMBIGUOUS, OutboxState.RETRY):
                row.state, row.next_attempt_at, row.attempts = OutboxState.QUEUED, self.clock.now(), 0
            return row.state


def _unwatched(_in_hand: int) -> None:
    """Progress that nobody watches (a dispatcher run inline)."""
