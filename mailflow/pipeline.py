"""The pipeline's sole purpose is to bring archived messages to a final state.

The order of work for one message is `steps.STEPS`. Messages are claimed in batches and run
in one transaction per batch: a message's state, reasons and records commit together or not
at all, and the batch pays for one durable commit instead of one per message. When a message
raises, the batch is undone and run again one message per transaction, where a SAVEPOINT
around each message confines the error to the message that raised it.

When the database or the disk fails instead (locked, full, read-only, restarted), no message
is to blame: the batch is undone, its messages get back the attempt their claim counted, and
StoreUnavailable tells the daemon to wait and come back.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence

from sqlmodel import Session, col, select

from mailflow.classify import RuleSet
from mailflow.clock import Clock
from mailflow.reasons import Reason
from mailflow.context import Context, PipelineSettings, Roster
from mailflow.steps import PREPARE, STEPS, WRITE, Step
from mailflow.store import BlobStore, InboundMessage, InboundState, Store
from mailflow.store.faults import StoreUnavailable, fault_of
from mailflow.outbound.render import Renderer
from mailflow.workflows import FINISHERS, Finisher
from mailflow.workflows.contract import Handled
from mailflow.workflows.desk import reopen
from mailflow.workflows.registry import Registry

log = logging.getLogger("mailflow.pipeline")

__all__ = ["Pipeline", "PipelineSettings"]


class Pipeline:
    def __init__(
        self,
        store: Store,
        raw: BlobStore,
        attachments: BlobStore,
        rules: RuleSet,
        settings: PipelineSettings,
        clock: Clock,
        *,
        registry: Registry,
        renderer: Renderer | None = None,
        parts: BlobStore | None = None,
        finishers: Sequence[Finisher] = FINISHERS,
        batch_size: int = 100,
    ) -> None:
        self.registry = registry
        self.renderer = renderer
        self.parts = parts  # the files workflows' letters carry
        self.finishers = tuple(finishers)
        self.store = store
        self.raw = raw
        self.attachments = attachments
        self.rules = rules
        self.settings = settings
        self.clock = clock
        self.batch_size = batch_size
        self._refund: set[int] = set()  # claimed in a batch the store failed: their attempt is given back

    def run_pending(
        self,
        should_stop: Callable[[], bool] = lambda: False,
        progress: Callable[[], None] | None = None,
        *,
        committed: Callable[[], None] | None = None,
    ) -> int:
        """Process archived messages oldest first until none is left (or a stop is asked);
        `committed` is called after each batch is committed (its answers are queued then)."""
        done = 0
        roster: Roster | None = None
        claimed: list[int] = []
        try:
            self._give_back_attempts()
            while not should_stop():
                rows = self._claim()
                if not rows:
                    break
                claimed = [row.id or 0 for row in rows]
                if roster is None:
                    with self.store.session() as session:
                        roster = Roster(session)
                done += self._run_batch(rows, roster, should_stop, progress)
                claimed = []
                if committed is not None:
                    committed()
        except Exception as exc:
            detail = fault_of(exc)
            if detail is None:
                raise
            self._refund.update(claimed)
            raise StoreUnavailable(detail) from exc
        return done

    def _give_back_attempts(self) -> None:
        """The store failed under these messages before: that attempt was not theirs to count."""
        if not self._refund:
            return
        with self.store.session() as session:
            rows = session.exec(select(InboundMessage).where(col(InboundMessage.id).in_(self._refund))).all()
            for row in rows:
                if row.state == InboundState.ARCHIVED and row.attempts > 0:
                    row.attempts -= 1
        self._refund.clear()

    def _claim(self) -> list[InboundMessage]:
        """Take the oldest archived messages and count the attempt, committed before the work.

        If the work kills the process (out of memory, a crash in a C library), the counts
        survive. A message claimed before and still not finished was in a batch that died:
        it is claimed alone from then on, so a poison message fails by itself after
        max_attempts, and the innocent messages of its batch are not counted against.
        """
        with self.store.session() as session:
            rows = session.exec(
                select(InboundMessage)
                .where(InboundMessage.state == InboundState.ARCHIVED)
                .order_by(col(InboundMessage.id))
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return []
            if rows[0].attempts:
                claimed = [rows[0]]
            else:
                claimed = []
                for row in rows:
                    if row.attempts:
                        break
                    claimed.append(row)
            for row in claimed:
                row.attempts += 1
                if row.attempts > self.settings.max_attempts:
                    detail = f"stopped {row.attempts - 1} times while processing"
                    self._finish(row, Handled(InboundState.FAILED, (Reason("processing_failed", {"detail": detail}),)))
            return [row for row in claimed if row.state == InboundState.ARCHIVED]

    def _run_batch(
        self,
        rows: Sequence[InboundMessage],
        roster: Roster,
        should_stop: Callable[[], bool],
        progress: Callable[[], None] | None,
    ) -> int:
        """Run a batch in one transaction; if any message raises, undo the batch and redo it one by one.

        The steps before `act` run first for every message, holding no lock (the archiver
        writes meanwhile); then `act` and the state changes of the whole batch are written
        in one short transaction. Errors are rare (bugs, not bad mail), so the common case
        pays one commit per batch, and the rare case a second run of the batch's messages.
        """
        prepared: list[tuple[Context, Handled | None]] = []
        ids = [row.id or 0 for row in rows]  # read now: after a failed batch the rows are expired
        try:
            with Session(self.store.engine, autoflush=False, expire_on_commit=False) as work:
                for row in rows:
                    # A stop request is honoured between messages; the unstarted rest of the
                    # batch stays archived with its attempt counted, and is claimed alone later.
                    if should_stop() and prepared:
                        break
                    work.add(row)
                    ctx = self._context(row, work, roster)
                    prepared.append((ctx, self._run_steps(ctx, PREPARE)))
                for ctx, outcome in prepared:
                    self._conclude(ctx, outcome or self._run_steps(ctx, WRITE))
                work.commit()
        except Exception as exc:  # noqa: BLE001 - one message's bug must not stop the others
            if fault_of(exc) is not None:
                raise  # the store's failure, not a message's: running them one by one would blame each
            log.warning("a message in batch %s failed; running the batch one by one", ids, exc_info=True)
            prepared = []
            done: list[int] = []
            for inbound_id in ids:
                if should_stop() and done:
                    break
                self.process(inbound_id, roster)
                done.append(inbound_id)
            return self._report(done, progress)
        return self._report([ctx.row.id or 0 for ctx, _ in prepared], progress)

    @staticmethod
    def _report(done: list[int], progress: Callable[[], None] | None) -> int:
        for inbound_id in done:
            log.info("message %s finished", inbound_id, extra={"inbound": inbound_id})
            if progress:
                progress()
        return len(done)

    def _process_in_savepoint(self, session: Session, row: InboundMessage, roster: Roster) -> None:
        inbound_id = row.id
        ctx: Context | None = None
        try:
            with session.begin_nested():
                ctx = self._context(row, session, roster)
                self._conclude(ctx, self._run_steps(ctx))
        except Exception as exc:  # noqa: BLE001 - a bug in one message must not stop the daemon
            if fault_of(exc) is not None:
                raise
            log.error("processing message %s failed:\n%s", inbound_id, traceback.format_exc())
            session.expire(row)  # the savepoint is gone; so is everything the steps wrote
            if ctx is not None and ctx.mail is not None:  # keep what identifies it in listings
                row.subject = ctx.mail.subject[:2000]
                row.sender = ctx.mail.from_.email[:320] if ctx.mail.from_ else None
            detail = f"{type(exc).__name__}: {exc}"[:500]
            self._finish(row, Handled(InboundState.FAILED, (Reason("processing_failed", {"detail": detail}),)))

    def process(self, inbound_id: int, roster: Roster | None = None) -> str:
        """Run the steps over one archived message in a transaction of its own."""
        with self.store.session() as session:
            row = session.get(InboundMessage, inbound_id)
            if row is None:
                return "missing"
            if row.state == InboundState.ARCHIVED:
                self._process_in_savepoint(session, row, roster or Roster(session))
            return row.state

    @staticmethod
    def _run_steps(ctx: Context, steps: Sequence[Step] = STEPS) -> Handled | None:
        """Run `steps` in order until one returns an Handled (the last step, act, always does)."""
        for step in steps:
            outcome = step(ctx)
            if outcome is not None:
                return outcome
        return None

    def _context(self, row: InboundMessage, session: Session, roster: Roster) -> Context:
        raw = self.raw.get(row.sha256)
        now = self.clock.now()
        return Context(
            row, raw, session, now, self.settings, self.rules, self.attachments, roster, self.registry, self.renderer,
            parts=self.parts,
        )  # fmt: skip

    def _conclude(self, ctx: Context, outcome: Handled | None) -> None:
        """Record the outcome on the message, then what follows from it (in the same transaction)."""
        assert outcome is not None, "the act step always returns an outcome"
        self._finish(ctx.row, outcome)
        for finisher in self.finishers:
            finisher(ctx, outcome)

    def _finish(self, row: InboundMessage, outcome: Handled) -> None:
        row.state = outcome.state
        row.reasons = [r.to_json() for r in outcome.reasons]
        row.processed_at = self.clock.now()

    def reprocess(self, inbound_id: int) -> str:
        """Run a held, rejected or failed message again (after the rules changed)."""
        with self.store.session() as session:
            row = session.get(InboundMessage, inbound_id)
            if row is None:
                return "missing"
            reopen(session, row)
        return self.process(inbound_id)
