"""The loop: ingest every source, run the pipeline, wait for mail; run_once() is one pass.

A stop (SIGTERM, SIGINT) is a request: the message in hand is finished and committed, then
the loop returns. A source that fails is retried with exponential backoff while the others
go on; its error is kept for `mailflow status`.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from sqlmodel import select

from mailflow.app import App
from mailflow.errors import SourceDropped, SourceError
from mailflow.ingest.archiver import Archiver, PassReport
from mailflow.ingest.source import MailSource
from mailflow.store import FolderState

log = logging.getLogger("mailflow.daemon")


@dataclass
class RunReport:
    ingest: PassReport = field(default_factory=PassReport)
    processed: int = 0
    errors: list[str] = field(default_factory=list)
    ingest_seconds: float = 0.0
    pipeline_seconds: float = 0.0


class Daemon:
    def __init__(self, app: App, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.app = app
        self._sleep = sleep
        self._stop = False
        self._failures: dict[str, int] = {}

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

    def run_once(self, progress: Callable[[], None] | None = None) -> RunReport:
        """Ingest every source and run the pipeline over everything archived.

        Ingest (network and fsync: mostly waiting) runs in a thread while this thread runs
        the pipeline (parsing: CPU) over each batch as soon as it is committed.
        """
        report = RunReport()
        # Ingest blocks on the network and on fsync hundreds of times a pass; each time it
        # returns it must win the GIL back from the parsing thread, which by default keeps
        # it 5 ms. A shorter interval stops that convoy from setting the pace of ingest.
        sys.setswitchinterval(0.0005)
        archived = threading.Event()
        started = time.perf_counter()
        ingest = threading.Thread(target=self._ingest_all, args=(report, archived.set), name="mailflow-ingest")
        ingest.start()
        pipeline_started = time.perf_counter()
        while True:
            finished = not ingest.is_alive()
            archived.clear()
            done = self.app.pipeline.run_pending(self.stopping, progress)
            report.processed += done
            if self._stop or (finished and not done):
                break
            if not done:
                archived.wait(timeout=0.5)
        ingest.join()
        report.pipeline_seconds = time.perf_counter() - pipeline_started
        report.ingest_seconds = report.ingest_seconds or time.perf_counter() - started
        return report

    def _ingest_all(self, report: RunReport, on_batch: Callable[[], None]) -> None:
        started = time.perf_counter()
        for source, archiver in self.app.sources:
            if self._stop:
                break
            try:
                report.ingest.add(self._ingest(source, archiver, on_batch))
                self._failures.pop(source.name, None)
            except SourceError as exc:
                self._failures[source.name] = self._failures.get(source.name, 0) + 1
                report.errors.append(f"{source.name}: {exc}")
                self._record_error(source, str(exc))
                log.warning("source %s failed: %s", source.name, exc)
            except Exception as exc:  # noqa: BLE001 - a bug in ingest must not kill the daemon silently
                log.exception("ingest from %s failed", source.name)
                report.errors.append(f"{source.name}: {type(exc).__name__}: {exc}")
        report.ingest_seconds = time.perf_counter() - started

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

    def _record_error(self, source: MailSource, message: str) -> None:
        now = self.app.clock.now()
        with self.app.store.session() as session:
            for row in session.exec(select(FolderState).where(FolderState.source == source.name)).all():
                row.last_error, row.last_error_at = message[:1000], now

    # -- the loop ------------------------------------------------------------------------

    def run_forever(self) -> None:
        log.info("mailflow running", extra={"sources": [s.describe() for s, _ in self.app.sources]})
        while not self._stop:
            report = self.run_once()
            if self._stop:
                break
            if report.errors:
                self._backoff()
                continue
            self._wait_for_mail()
        log.info("mailflow stopped")

    def _backoff(self) -> None:
        worst = max(self._failures.values(), default=1)
        delay = min(2 ** (worst - 1), self.app.settings.daemon.reconnect_max_seconds)
        for source, _ in self.app.sources:
            if source.name in self._failures:
                source.close()
        log.info("retrying in %.0f s", delay)
        deadline = time.monotonic() + delay
        while not self._stop and time.monotonic() < deadline:
            self._sleep(min(0.5, deadline - time.monotonic()))

    def _wait_for_mail(self) -> None:
        if not self.app.sources:
            self._sleep(1.0)
            return
        intervals = [s.poll_interval for s in self.app.settings.sources]
        source = self.app.sources[0][0]
        try:
            source.wait(min(intervals), self.stopping)
        except SourceError as exc:
            log.info("wait on %s ended: %s", source.name, exc)
            source.close()
