"""Run one ingest pass beside the pipeline: in a thread, or in a forked process for a backlog.

Ingest is mostly waiting (network, fsync) and the pipeline mostly parsing, so they overlap.
In a thread they still share one interpreter lock; for a long backlog a forked process gives
ingest a core of its own. Either way the caller hears of each committed batch and, at the
end, gets the pass's report.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from mailflow.children import live_and_leave

log = logging.getLogger("mailflow.ingest")

# work(on_batch) -> whatever the pass reports; it must be picklable for the process runner.
Work = Callable[[Callable[[], None]], Any]


class ThreadRunner:
    def __init__(self, work: Work) -> None:
        self._batch = threading.Event()
        self._result: Any = None
        self._thread = threading.Thread(target=self._run, args=(work,), name="mailflow-ingest")

    def _run(self, work: Work) -> None:
        try:
            self._result = work(self._batch.set)
        finally:
            self._batch.set()  # the end wakes a waiting caller too, or it would wait out its timeout

    def start(self) -> None:
        self._thread.start()

    def running(self) -> bool:
        return self._thread.is_alive()

    def wait_for_batch(self, timeout: float) -> bool:
        """Wait until a batch is committed or the pass ends; False if `timeout` passed first."""
        woken = self._batch.wait(timeout)
        self._batch.clear()
        return woken

    def result(self) -> Any:
        self._thread.join()
        return self._result


class ProcessRunner:
    """Forks; the child runs `work` and sends "batch" after each commit and the report at the end.

    The child dies with its parent, so a killed daemon leaves no orphan fetching mail, and
    runs no finaliser of the parent's objects (see children.live_and_leave).
    """

    def __init__(self, work: Work, before_work: Callable[[], None]) -> None:
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(target=self._child, args=(work, before_work, sender), name="mailflow-ingest")
        self._sender = sender
        self._result: Any = None
        self._done = False

    @staticmethod
    def _child(work: Work, before_work: Callable[[], None], sender: Connection) -> None:
        def body() -> None:
            before_work()
            result = work(lambda: sender.send(("batch", None)))
            sender.send(("done", result))

        live_and_leave(body, log, sender)

    def start(self) -> None:
        self._process.start()
        self._sender.close()  # the child holds the writing end now

    def running(self) -> bool:
        return not self._done

    def wait_for_batch(self, timeout: float) -> bool:
        """Wait until a batch is committed or the pass ends; False if `timeout` passed first."""
        return self._drain(timeout)

    def _drain(self, timeout: float) -> bool:
        heard = False
        try:
            while not self._done and self._receiver.poll(timeout):
                kind, payload = self._receiver.recv()
                if kind == "done":
                    self._result, self._done = payload, True
                heard, timeout = True, 0
        except (EOFError, OSError):
            self._done = heard = True  # the child is gone; join() says how
        return heard

    def result(self) -> Any:
        while not self._done:
            self._drain(1.0)
        self._process.join()
        if self._process.exitcode not in (0, None):
            log.error("ingest process ended with %s", self._process.exitcode)
        return self._result

    def terminate(self) -> None:
        if self._process.is_alive() and self._process.pid:
            os.kill(self._process.pid, signal.SIGTERM)
