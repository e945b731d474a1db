"""Where the dispatcher runs: inline, after each pass of the daemon, or in a process of its own.

`mailflow run` sends from a forked process (SenderProcess), so that letters leave while the
pipeline is still working through a backlog, a slow or throttling SMTP server never holds up
the mail coming in, and the SMTP connections never wait for the parser to give up the
interpreter lock. The daemon wakes the sender after every commit that may have queued letters;
the sender wakes itself for the next retry. The two share nothing but the database: the outbox
is the queue, so a sender that dies, alone or with the daemon, leaves rows the next one
resumes from (what a killed sender was handing over is settled from its journal, see `dispatch`); one that
died on its own is replaced at the start of the next pass. A sender that holds letters and
takes no step for longer than its dispatcher allows (Heartbeat) is stuck: it is killed and
replaced as if it had died. Tests and the demo send inline (InlineSender), on the caller's
clock and transport.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import select
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Protocol

from mailflow.children import live_and_leave
from mailflow.outbound.dispatch import Dispatcher
from mailflow.store.faults import Outage, fault_of

log = logging.getLogger("mailflow.send")

# What the daemon writes to the sender's pipe: one byte each. A stop is SIGTERM (see _StopOnSignal).
_WAKE, _SETTLE = b"w", b"s"


class Sender(Protocol):
    background: bool  # sends on its own, between the daemon's passes

    def start(self) -> None: ...

    def wake(self) -> None:
        """Letters may have been queued: get them on their way."""

    def settle(self, should_stop: Callable[[], bool]) -> int:
        """Send everything due now; return how many letters were sent since the last settle."""
        ...

    def seconds_to_next(self) -> float | None:
        """How soon the daemon must wake for a retry (None: nothing waits, or the sender keeps its own time)."""
        ...

    def stopped(self) -> list[str]:
        """Why each sender process stopped on its own since the last call: each is a failure."""
        ...

    def close(self) -> None: ...


class InlineSender:
    """The dispatcher in the daemon's own process: letters leave when the pass settles."""

    background = False

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    def start(self) -> None:
        pass

    def wake(self) -> None:
        pass

    def settle(self, should_stop: Callable[[], bool]) -> int:
        return self.dispatcher.run(should_stop)

    def seconds_to_next(self) -> float | None:
        return self.dispatcher.seconds_to_next()

    def stopped(self) -> list[str]:
        return []  # it is the daemon's own process: what stops it stops the daemon

    def close(self) -> None:
        pass


class Heartbeat:
    """The sender's progress, in memory it shares with the daemon: when it last took a step, the
    letters it held then, and how long it may go without a step while it holds some.

    The sender writes and the daemon reads, without a lock: each value is one aligned 8-byte
    word, and a read that falls between two writes sees a fresh time, never a false stall.
    time.monotonic is the system's CLOCK_MONOTONIC, the same in both processes.
    """

    def __init__(self) -> None:
        self._shared = multiprocessing.get_context("fork").RawArray("d", 3)  # last step, in hand, bound

    def allow(self, seconds: float) -> None:
        self._shared[2] = seconds

    def beat(self, in_hand: int) -> None:
        self._shared[0] = time.monotonic()
        self._shared[1] = in_hand

    def stuck(self) -> tuple[int, float] | None:
        """(letters in hand, seconds without a step) when that is longer than allowed, else None."""
        last, in_hand, bound = self._shared[:]
        silent = time.monotonic() - last
        return (int(in_hand), silent) if in_hand and bound and silent > bound else None


class SenderProcess:
    """A forked process that runs a dispatcher whenever it is woken, and for each retry when due.

    `make_dispatcher` runs in the child: the dispatcher's database connections, SMTP
    connections and event loop are made there, never shared across the fork. `recover` runs
    in the daemon when a sender has died, before another starts: what the dead one was
    handing over is settled (sent, sent again, or ambiguous and never sent again on our own). `stall_after` is how long
    the sender may hold letters without a step; by default its dispatcher's `longest_silence`.
    """

    background = True

    def __init__(
        self,
        make_dispatcher: Callable[[], Dispatcher],
        recover: Callable[[], int],
        *,
        look_again: float = 30.0,
        stall_after: float | None = None,
    ) -> None:
        self._make = make_dispatcher
        self._recover = recover
        # Letters that others queue (`mailflow outbox retry`, another worker) come without a
        # wake: the sender looks for them at least this often.
        self._look_again = look_again
        self._stall_after = stall_after
        self._heartbeat = Heartbeat()
        self._process: BaseProcess | None = None
        self._pipe = -1  # the writing end of the pipe the sender reads its wakes from
        self._replies: Connection | None = None  # the sender's answers to settle
        self._stopped: list[str] = []  # why each sender that stopped on its own did, until stopped() is asked

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the sender, or a new one if it died. Call it at a quiet moment (the start of a
        pass): no other thread of the daemon should be inside a database transaction while it
        forks, or SQLite's bookkeeping of that transaction's locks would come along."""
        if self._process is not None:
            self._kill_if_stuck()
            if self._process.is_alive():
                return
            self._bury()
        context = multiprocessing.get_context("fork")
        wake_r, wake_w = os.pipe()
        # A wake never blocks the daemon: when the pipe is full, the sender has wakes enough to read.
        os.set_blocking(wake_w, False)
        replies, reply_w = context.Pipe(duplex=False)
        self._heartbeat = Heartbeat()
        process = context.Process(
            target=_serve,
            args=(self._make, wake_r, reply_w, self._look_again, self._heartbeat, self._stall_after),
            name="mailflow-send",
        )
        process.start()
        os.close(wake_r)
        reply_w.close()
        self._process, self._pipe, self._replies = process, wake_w, replies
        log.info("sender started", extra={"pid": process.pid})

    def wake(self) -> None:
        self._write(_WAKE)  # a dead sender is replaced at the next start or settle

    def settle(self, should_stop: Callable[[], bool]) -> int:
        # A sender that dies meanwhile is replaced and asked again: what is due must still go.
        for _ in range(3):
            if not should_stop():  # a daemon that is stopping starts no new sender
                self.start()
            sent = self._ask_to_settle(should_stop)
            if sent is not None:
                return sent
            self._bury()  # what it held is settled now, even if no other sender follows
            if should_stop():
                return 0
        log.error("the sender kept stopping; what is due goes out on the next pass")
        return 0

    def _ask_to_settle(self, should_stop: Callable[[], bool]) -> int | None:
        """The sender's answer (a stopped sender's last word is one too), or None if it died first."""
        if self._process is None or self._replies is None:
            return None
        self._write(_SETTLE)
        asked_to_stop = False
        while True:
            ready = wait([self._replies, self._process.sentinel], timeout=0.5)
            if self._replies in ready:
                try:
                    return int(self._replies.recv())
                except EOFError:
                    pass
            if ready:  # the sender is gone: wait until it is reaped, so that is_alive() says so
                self._process.join()
                return None
            if self._kill_if_stuck():
                continue  # its sentinel is ready at the next wait
            if should_stop() and not asked_to_stop:
                # The sender finishes the letters in hand and answers with what it sent.
                os.kill(self._process.pid or 0, signal.SIGTERM)
                asked_to_stop = True

    def seconds_to_next(self) -> float | None:
        return None

    def stopped(self) -> list[str]:
        found, self._stopped = self._stopped, []
        return found

    def close(self) -> None:
        """Stop the sender: it finishes the letters in hand (a stop, not a kill), then exits; one
        that is stuck is killed (what it held is settled at the next start)."""
        if self._process is None:
            return
        if self._process.is_alive():
            os.kill(self._process.pid or 0, signal.SIGTERM)
        while self._process.exitcode is None:
            self._process.join(0.5)
            self._kill_if_stuck()
        self._process = None
        self._close_pipes()

    def _kill_if_stuck(self) -> bool:
        """Kill a sender that has held letters without a step for longer than it may: a hung
        server it has no timeout for, a lock it waits for, a bug. Killed, not asked to stop, since
        a sender in that state would not get to its stop either."""
        stuck = self._heartbeat.stuck()
        if stuck is None or self._process is None or not self._process.is_alive():
            return False
        in_hand, silent = stuck
        log.error("the sender has held %d letters for %.0f s without a step; killing it", in_hand, silent)
        os.kill(self._process.pid or 0, signal.SIGKILL)
        return True

    def _bury(self) -> None:
        """A sender that stopped on its own: note why, and settle what it was handing over."""
        if self._process is None:
            return
        self._process.join()
        why = _exit_reason(self._process.exitcode)
        log.error("the sender stopped (%s)", why)
        self._stopped.append(f"the sender stopped ({why})")
        self._process = None
        self._close_pipes()
        self._recover()

    def _write(self, command: bytes) -> None:
        while self._pipe >= 0:
            try:
                os.write(self._pipe, command)
                return
            except BlockingIOError:
                if command == _WAKE:
                    return
                # A settle must arrive: wait until the sender reads (or dies).
                select.select([self._process.sentinel] if self._process else [], [self._pipe], [], 1.0)
            except BrokenPipeError:
                return  # the sender is gone; the next start or settle starts another

    def _close_pipes(self) -> None:
        if self._pipe >= 0:
            os.close(self._pipe)
            self._pipe = -1
        if self._replies is not None:
            self._replies.close()
            self._replies = None


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _serve(
    make_dispatcher: Callable[[], Dispatcher],
    wake: int,
    replies: Connection,
    look_again: float,
    heartbeat: Heartbeat,
    stall_after: float | None,
) -> None:
    """The sender process: send what is due, wait for a wake or the next retry, again; until stopped."""

    def body() -> None:
        # Everything that came with the fork lives as long as this process: keep the collector
        # from walking it again and again (the daemon's own modules, tables, templates).
        gc.freeze()
        stop = _StopOnSignal()
        dispatcher = make_dispatcher()
        heartbeat.allow(stall_after or dispatcher.longest_silence)
        dispatcher.progress = heartbeat.beat
        outage = Outage(look_again, who="sender")

        def send() -> int:
            """Send what is due; while the database is away, wait (one log line, backoff) and send nothing."""
            try:
                done = dispatcher.run(stop)
            except Exception as exc:
                detail = fault_of(exc)
                if detail is None:
                    raise
                # Waiting for the store is no stall: letters held meanwhile are recorded when it is back.
                heartbeat.beat(dispatcher.in_hand)
                stop.pause(outage.failed(detail))
                heartbeat.beat(dispatcher.in_hand)
                return 0
            outage.recovered()
            return done

        def next_due() -> float | None:
            """When the next retry falls due; None while the store is away or gives no answer."""
            if outage.active:
                return None
            try:
                return dispatcher.seconds_to_next()
            except Exception as exc:
                if fault_of(exc) is None:
                    raise
                return None  # the next send meets the outage and waits for it

        try:
            sent = 0
            while not stop():
                sent += send()
                due = next_due()
                commands = stop.wait(wake, look_again if due is None else min(due, look_again))
                if commands == b"EOF":
                    break
                if _SETTLE in commands:
                    # Asked after the daemon's last commit: this run sees every letter it queued.
                    replies.send(sent + send())
                    sent = 0
            replies.send(sent)  # the last word: what was sent since the last settle
        finally:
            dispatcher.close()

    live_and_leave(body, log, replies)


class _StopOnSignal:
    """SIGTERM or SIGINT asks the sender to stop; a wait in progress ends at once (a wakeup fd)."""

    def __init__(self) -> None:
        self._stop = False
        self._signals, writer = os.pipe()
        os.set_blocking(writer, False)
        signal.set_wakeup_fd(writer)
        signal.signal(signal.SIGTERM, self._handler)
        signal.signal(signal.SIGINT, self._handler)

    def _handler(self, _signum: int, _frame: FrameType | None) -> None:
        self._stop = True

    def __call__(self) -> bool:
        return self._stop

    def pause(self, seconds: float) -> None:
        """Wait `seconds` or until a stop, leaving the daemon's commands for the next `wait`."""
        if not self._stop:
            select.select([self._signals], [], [], seconds)

    def wait(self, wake: int, timeout: float) -> bytes:
        """The commands that arrive within `timeout` (b"EOF" when the daemon closed the pipe)."""
        if self._stop:
            return b""
        readable, _, _ = select.select([wake, self._signals], [], [], timeout)
        if wake not in readable:
            return b""
        return os.read(wake, 65536) or b"EOF"
