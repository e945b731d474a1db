"""The loop: ingest every source, run the pipeline, wait for mail; run_once() is one pass.

Letters leave through the daemon's sender: inline at the end of each pass, or (`mailflow
run`) from a process of its own, woken after every commit that may have queued one.

A stop (SIGTERM, SIGINT) is a request: the message in hand is finished and committed, then
the loop returns. A source that fails is retried with exponential backoff while the others
go on; its error is kept for `mailflow status`. When the database or the data folder fails
(locked, full, read-only, restarted), the whole pass waits with backoff, says so once in the
log and in the health file that `mailflow status` reads, and resumes by itself.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from sqlmodel import select

from mailflow.app import App
from mailflow.clock import nap
from mailflow.errors import SourceDropped, SourceError
from mailflow.ingest.archiver import Archiver, PassReport
from mailflow.ingest.runner import ProcessRunner, ThreadRunner
from mailflow.ingest.source import MailSource
from mailflow.outbound.sender import InlineSender, Sender
from mailflow.store import FolderState
from mailflow.store.faults import Outage, StoreUnavailable, fault_of
from mailflow.store.health import write_health

log = logging.getLogger("mailflow.daemon")


@dataclass
class RunReport:
    ingest: PassReport = field(default_factory=PassReport)
    processed: int = 0
    sent: int = 0
    errors: list[str] = field(default_factory=list)
    store_fault: str | None = None  # the database or the data folder failed: the pass waits, no one is to blame
    pipeline_seconds: float = 0.0  # wall time of the pass; the ingest's own is in ingest.seconds
    sender_stopped: list[str] = field(default_factory=list)  # why each sender process died meanwhile: failures


class Daemon:
    def __init__(self, app: App, *, sleep: Callable[[float], None] = time.sleep, sender: Sender | None = None) -> None:
        self.app = app
        self.sender = sender or InlineSender(app.dispatcher)
        self._sleep = sleep
        self._stop = False
        self._failures: dict[str, int] = {}
        self.outage = Outage(app.settings.daemon.reconnect_max_seconds)
        # Mail a stopped process was handing over may or may not have left: never resend it on our own.
        app.dispatcher.recover()
        for blobs in (app.raw, app.pipeline.attachments):
            blobs.sweep()  # what a killed process left half-written

    def close(self) -> None:
        """Stop the sender (a background one finishes the letters in hand)."""
        self.sender.close()

    # -- stopping ------------------------------------------------------------------------

    def request_stop(self, *_args: object) -> None:
        self._stop = True

    def stopping(self) -> bool:
        return self._stop

    def install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("stop requested (signal %s); finishing the message in hand", signum)
            self._stop = True

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    # -- one pass ------------------------------------------------------------------------

    def run_once(
        self, progress: Callable[[], None] | None = None, *, backlog: bool = False, settle: bool = True
    ) -> RunReport:
        """Ingest every source, run the pipeline over everything archived, run the jobs due, and
        (with `settle`) send every letter due before returning.

        Ingest runs beside the pipeline, which takes each batch as soon as it is committed.
        With `backlog` (a one-off pass, the first pass of the daemon) ingest runs in a
        forked process with connections of its own, so that it does not compete with the
        parsing for the interpreter lock; otherwise in a thread, on the open connections.
        """
        report = RunReport()
        started = time.perf_counter()
        try:
            self.sender.start()  # a dead sender's replacement first recovers its letters: the store may be away
        except Exception as exc:  # noqa: BLE001 - the store's failure is an outage, anything else a bug
            report.store_fault = fault_of(exc)
            if report.store_fault is None:
                raise
            return report
        runner: ThreadRunner | ProcessRunner
        if backlog and self.app.sources:
            runner = ProcessRunner(self._ingest_all, self._detach_sources)
        else:
            runner = ThreadRunner(self._ingest_all)
        runner.start()
        try:
            while True:
                finished = not runner.running()
                try:
                    done = self.app.pipeline.run_pending(self.stopping, progress, committed=self.sender.wake)
                except StoreUnavailable as exc:
                    report.store_fault = str(exc)
                    break
                report.processed += done
                if self._stop or (finished and not done):
                    break
                if not done:
                    runner.wait_for_batch(0.5)
        finally:
            if self._stop and isinstance(runner, ProcessRunner):
                runner.terminate()
            result = runner.result()
        if result is not None:
            report.ingest, errors, self._failures = result
            report.errors.extend(errors)
            report.store_fault = report.store_fault or report.ingest.store_fault
        else:
            report.errors.append("ingest ended without a report (see the log); its mail is taken next pass")
        report.pipeline_seconds = time.perf_counter() - started
        if not self._stop and report.store_fault is None:
            report.store_fault = self._run_jobs()
            self.sender.wake()
        if settle and report.store_fault is None:
            try:
                report.sent = self.sender.settle(self.stopping)
            except Exception as exc:  # noqa: BLE001 - the sender's store failing is an outage too
                report.store_fault = fault_of(exc)
                if report.store_fault is None:
                    raise
        report.sender_stopped = self.sender.stopped()
        return report

    def _run_jobs(self) -> str | None:
        """Run the jobs due; the store's failure, if that is what stopped them."""
        try:
            self.app.scheduler.run_due()  # each job logs its run
        except Exception as exc:  # noqa: BLE001 - a bug in a job must not stop the mail; the job runs again next pass
            detail = fault_of(exc)
            if detail is not None:
                return detail
            log.exception("a scheduled job failed")
        return None

    def _detach_sources(self) -> None:
        """In a forked ingest process: leave the parent's database and mailbox connections alone."""
        self.app.store.engine.dispose(close=False)
        for source, _ in self.app.sources:
            source.detach()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which ends the pass

    def _ingest_all(self, on_batch: Callable[[], None]) -> tuple[PassReport, list[str], dict[str, int]]:
        started = time.perf_counter()
        report, errors = PassReport(), []
        for source, archiver in self.app.sources:
            if self._stop:
                break
            try:
                report.add(self._ingest(source, archiver, on_batch))
                self._failures.pop(source.name, None)
            except SourceError as exc:
                log.warning("source %s failed: %s", source.name, exc)
                errors.append(self._failed(source, str(exc)))
            except Exception as exc:  # noqa: BLE001 - a bug in ingest must not kill the daemon silently
                report.store_fault = fault_of(exc)
                if report.store_fault is not None:
                    break  # the mail stays on the server, unmarked: the next pass takes it
                log.exception("ingest from %s failed", source.name)
                # Counted and shown like a mailbox's error: one that recurs on every pass must
                # back off and be seen in `status`, not be retried each second in silence.
                first_line = (str(exc).splitlines() or [""])[0]
                errors.append(self._failed(source, f"{type(exc).__name__}: {first_line}"))
        report.seconds = time.perf_counter() - started
        return report, errors, dict(self._failures)

    def _ingest(self, source: MailSource, archiver: Archiver, on_batch: Callable[[], None]) -> PassReport:
        try:
            source.open()
            return archiver.poll(source, on_batch)
        except SourceDropped as exc:
            # A connection that died while we were away (server restart, NAT timeout) is
            # normal: reconnect once at once; only a second failure counts as an outage.
            log.info("reconnecting to %s after: %s", source.name, exc)
            source.close()
            source.open()
            return archiver.poll(source, on_batch)

    def _failed(self, source: MailSource, message: str) -> str:
        """Count a failed pass of `source` for the backoff and keep its error for `status`."""
        self._failures[source.name] = self._failures.get(source.name, 0) + 1
        self._record_error(source, message)
        return f"{source.name}: {message}"

    def _record_error(self, source: MailSource, message: str) -> None:
        try:
            self._write_error(source, message)
        except Exception as exc:  # noqa: BLE001 - the store failing too is the outage's to report
            if fault_of(exc) is None:
                raise

    def _write_error(self, source: MailSource, message: str) -> None:
        now = self.app.clock.now()
        with self.app.store.session() as session:
            rows = {r.folder: r for r in session.exec(select(FolderState).where(FolderState.source == source.name))}
            for folder in source.folders:
                # A mailbox never reached has no rows yet; `status` must still show why.
                row = rows.get(folder) or FolderState(source=source.name, folder=folder)
                row.last_error, row.last_error_at = message[:1000], now
                session.add(row)

    # -- the loop ------------------------------------------------------------------------

    def run_forever(self) -> None:
        log.info("mailflow running", extra={"sources": [s.describe() for s, _ in self.app.sources]})
        self._health()  # a word left by an earlier daemon is not this one's
        first = True
        while not self._stop:
            # The first pass may face a backlog (a day of downtime): give it a process.
            # A background sender sends on its own; the pass does not wait for it.
            report = self.run_once(backlog=first, settle=not self.sender.background)
            first = False
            if self._stop:
                break
            if report.store_fault is not None:
                self._wait_for_store(report.store_fault)
                continue
            if self.outage.active:
                self.outage.recovered()
                self._health()
            if report.errors:
                self._backoff()
                continue
            self._wait_for_mail()
        log.info("mailflow stopped")

    def _wait_for_store(self, detail: str) -> None:
        delay = self.outage.failed(detail)
        self._health()
        nap(delay, self.stopping, self._sleep)

    def _health(self) -> None:
        write_health(self.app.settings.data_dir, self.outage.detail)

    def _backoff(self) -> None:
        worst = max(self._failures.values(), default=1)
        delay = min(2 ** (worst - 1), self.app.settings.daemon.reconnect_max_seconds)
        for source, _ in self.app.sources:
            if source.name in self._failures:
                source.close()
        log.info("retrying in %.0f s", delay)
        nap(delay, self.stopping, self._sleep)

    def _wait_for_mail(self) -> None:
        if not self.app.sources:
            self._sleep(1.0)
            return
        intervals = [s.poll_interval for s in self.app.settings.sources]
        # Wake for the next scheduled job or letter retry, if that comes before the next poll.
        for soon in (self.app.scheduler.seconds_to_next(), self.sender.seconds_to_next()):
            if soon is not None:
                intervals.append(max(1.0, soon))
        source = self.app.sources[0][0]
        try:
            source.wait(min(intervals), self.stopping)
        except SourceError as exc:
            log.info("wait on %s ended: %s", source.name, exc)
            source.close()
