"""The sender process of `mailflow run`, against a real aiosmtpd on 127.0.0.1: it delivers as soon
as it is woken, a settle returns when everything queued before it has left, and a sender that
dies is replaced without sending what it was handing over a second time."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import state
from returns import returns_within
from servers.smtp import Recorder

from mailflow.clock import SystemClock
from mailflow.outbound.dispatch import Dispatcher
from mailflow.outbound.outbox import Draft, queue_once
from mailflow.outbound.render import Rendered
from mailflow.outbound.sender import InlineSender, SenderProcess
from mailflow.outbound.smtp import SmtpTransport
from mailflow.store import Outbox, OutboxState, Store
from mailflow.store.db import make_engine
from sqlmodel import col, select

SENDER = "mishuchu@chamber.example.org"


class Home:
    """A store on disk and a sender process whose dispatcher (made in the child) uses it."""

    def __init__(
        self, tmp: Path, port: int, *, timeout: float = 5, look_again: float = 30, stall_after: float | None = None
    ) -> None:
        self.url = f"sqlite:///{tmp / 'send.db'}"
        self.store = Store.open(self.url)
        self.clock = SystemClock()
        self.port, self.timeout = port, timeout
        self.queued = 0
        # The daemon's own dispatcher, for what the daemon does itself: recover after a death.
        self.local = self.dispatcher(self.store)
        self.sender = SenderProcess(
            lambda: self.dispatcher(Store(make_engine(self.url))),
            self.local.recover,
            look_again=look_again,
            stall_after=stall_after,
        )

    def dispatcher(self, store: Store) -> Dispatcher:
        transport = SmtpTransport(
            "127.0.0.1", self.port, security="none", timeout=self.timeout, data_timeout=self.timeout
        )
        return Dispatcher(store, transport, self.clock, sender=SENDER, sender_name="商会秘书处")

    def queue(self, count: int, to: str | None = None) -> None:
        """`count` letters in one commit, as a workflow queues them (to `to`, or each to a liaison)."""
        rendered = Rendered("【会议通知】2026年度联络员会议", "王芳：\n\n您好！\n", "<p>王芳：</p>")
        with self.store.session() as session:
            drafts = [
                Draft(
                    key=f"notice:{i}",
                    kind="notice",
                    recipients=[to or f"liaison{i}@unit.example.cn"],
                    rendered=rendered,
                )
                for i in range(self.queued, self.queued + count)
            ]
            queue_once(session, *drafts, now=self.clock.now(), message_id_domain="mailflow.test")
        self.queued += count

    def rows(self) -> list[Outbox]:
        with self.store.session() as session:
            return list(session.exec(select(Outbox).order_by(col(Outbox.id))))

    def states(self) -> list[str]:
        return [row.state for row in self.rows()]

    def close(self) -> None:
        self.sender.close()
        self.local.close()
        self.store.close()


@pytest.fixture
def home(tmp_path: Path, smtp_server: tuple[Recorder, int]) -> Iterator[Home]:
    made = Home(tmp_path, smtp_server[1])
    yield made
    made.close()


def test_a_woken_sender_delivers_without_being_asked_to_settle(home: Home, smtp_server: tuple[Recorder, int]) -> None:
    """GIVEN a running sender process, WHEN letters are queued and it is woken, THEN they reach the
    SMTP server on its own initiative; a settle then counts them, once."""
    recorder, _ = smtp_server
    home.sender.start()
    home.queue(3)
    home.sender.wake()
    assert recorder.wait_for(3, 30), "the sender delivered on a wake alone"
    assert home.sender.settle(lambda: False) == 3
    assert home.sender.settle(lambda: False) == 0
    assert home.states() == [OutboxState.SENT] * 3


def test_a_settle_returns_when_everything_queued_before_it_has_left(
    home: Home, smtp_server: tuple[Recorder, int]
) -> None:
    """GIVEN letters queued in several commits and no wake, WHEN the daemon settles (the end of
    `run --once`), THEN it returns only once every one of them is at the server and recorded."""
    recorder, _ = smtp_server
    home.sender.start()
    for _ in range(3):
        home.queue(10)
    assert home.sender.settle(lambda: False) == 30
    assert len(recorder.received) == 30
    assert home.states() == [OutboxState.SENT] * 30


def test_a_sender_killed_at_the_final_dot_is_replaced_and_never_resends_that_letter(
    home: Home, smtp_server: tuple[Recorder, int]
) -> None:
    """GIVEN a sender process killed (SIGKILL) while the server holds a letter it has not yet
    answered, WHEN the daemon next settles (or starts a pass), THEN another sender starts, the
    letter in hand is ambiguous and left alone (it did arrive), and new letters go out as before."""
    recorder, _ = smtp_server
    home.sender.start()
    first = home.sender.pid
    assert first is not None
    recorder.kill_at, recorder.victim = "dot", lambda: os.kill(first, signal.SIGKILL)
    home.queue(1)
    home.sender.wake()
    assert recorder.wait_for(1, 30)

    home.queue(1)
    assert home.sender.settle(lambda: False) == 1
    assert home.sender.pid not in (None, first), "a new sender took over"
    assert home.states() == [OutboxState.AMBIGUOUS, OutboxState.SENT]
    assert len(recorder.received) == 2, "the ambiguous letter was not sent again"


def test_a_letter_queued_by_another_process_goes_out_without_a_wake(
    tmp_path: Path, smtp_server: tuple[Recorder, int]
) -> None:
    """GIVEN a running sender, WHEN someone else queues a letter and wakes nobody (`mailflow outbox
    retry` from the command line, another worker), THEN the sender finds it on its next look."""
    recorder, port = smtp_server
    home = Home(tmp_path, port, look_again=0.2)
    try:
        home.sender.start()
        assert home.sender.settle(lambda: False) == 0  # started, and idle
        home.queue(1)
        assert recorder.wait_for(1, 30), "found without a wake"
    finally:
        home.close()


def test_a_pass_that_finds_its_sender_dead_starts_another(home: Home, smtp_server: tuple[Recorder, int]) -> None:
    """GIVEN a sender that died while idle, WHEN the daemon's next pass starts it, THEN a new
    sender takes over and a wake alone delivers again."""
    recorder, _ = smtp_server
    home.sender.start()
    first = home.sender.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    while state(first) != "Z":
        pass  # dead, and waiting for the daemon to look
    home.sender.start()
    assert home.sender.pid not in (None, first)
    home.queue(1)
    home.sender.wake()
    assert recorder.wait_for(1, 30)


@pytest.mark.parametrize("silent_at", ["mail", "dot"])
def test_a_stopped_daemon_stops_its_sender_which_gives_up_on_a_silent_server(
    tmp_path: Path, smtp_server: tuple[Recorder, int], silent_at: str
) -> None:
    """GIVEN a server that goes silent at MAIL FROM (or after the final dot), WHEN the daemon is
    asked to stop while it waits for the settle, THEN the sender is told to stop, gives up on
    the letter in hand after its timeout (to retry later; or ambiguous, as the server may have
    it after the dot), and the settle returns."""
    recorder, port = smtp_server
    recorder.stall_at = silent_at
    home = Home(tmp_path, port, timeout=0.5)
    try:
        home.sender.start()
        home.queue(1)
        asked: list[bool] = []

        def stop_soon() -> bool:
            asked.append(True)
            return len(asked) > 1  # the daemon's stop arrives while the settle waits

        assert home.sender.settle(stop_soon) == 0
        [row] = home.rows()
        if silent_at == "mail":
            assert (row.state, row.last_error) == (OutboxState.RETRY, "no reply from the server within 0.5 s")
        else:
            assert (row.state, row.last_error) == (OutboxState.AMBIGUOUS, "no reply after the final dot within 0.5 s")
    finally:
        home.close()


def test_the_inline_sender_sends_when_the_pass_settles(home: Home, smtp_server: tuple[Recorder, int]) -> None:
    """GIVEN the inline sender (tests, the demo), WHEN woken, THEN nothing leaves until the settle."""
    recorder, _ = smtp_server
    inline = InlineSender(home.local)
    home.queue(2)
    inline.wake()
    assert recorder.received == []
    assert inline.settle(lambda: False) == 2
    assert len(recorder.received) == 2


def test_a_letter_that_cannot_go_does_not_hold_up_the_settle(home: Home, smtp_server: tuple[Recorder, int]) -> None:
    """GIVEN a running sender and letters queued around one to 张三@例子.中国 on a server that does
    not offer SMTPUTF8, WHEN the daemon settles (the end of `run --once`), THEN it returns, the
    others are delivered once, and that one is dead with the reason; the sender goes on."""
    recorder, _ = smtp_server
    home.sender.start()
    home.queue(2)
    home.queue(1, to="张三@例子.中国")
    home.queue(2)
    assert returns_within(30, lambda: home.sender.settle(lambda: False)) == 4
    assert len(recorder.received) == 4
    rows = home.rows()
    assert [row.state for row in rows] == [OutboxState.SENT] * 2 + [OutboxState.DEAD] + [OutboxState.SENT] * 2
    assert rows[2].last_error == "the server does not offer SMTPUTF8, needed for 张三@例子.中国"
    home.queue(1)
    assert home.sender.settle(lambda: False) == 1


def test_a_sender_that_makes_no_progress_is_killed_and_replaced(
    tmp_path: Path, smtp_server: tuple[Recorder, int]
) -> None:
    """GIVEN a sender whose letter gets no answer for longer than the bound on progress (the server
    goes silent at MAIL FROM; the bound is set below the SMTP timeout here, as a sender stuck for
    any reason would look), WHEN the daemon settles, THEN the sender is killed, the letter in hand
    is ambiguous as for a sender that died, another sender starts, and the settle returns."""
    recorder, port = smtp_server
    recorder.stall_at = "mail"
    home = Home(tmp_path, port, timeout=60, stall_after=0.5)
    try:
        home.sender.start()
        first = home.sender.pid
        home.queue(1)
        assert returns_within(30, lambda: home.sender.settle(lambda: False)) == 0
        assert home.sender.pid not in (None, first), "a new sender took over"
        assert first is not None and state(first) is None, "the stuck one is gone"
        [row] = home.rows()
        assert row.state == OutboxState.AMBIGUOUS
        recorder.stall_at = None
        home.queue(1)
        assert home.sender.settle(lambda: False) == 1
    finally:
        home.close()


def test_a_sender_waits_out_a_locked_database_without_dying(tmp_path: Path, smtp_server: tuple[Recorder, int]) -> None:
    """GIVEN letters queued and another process holding the database's write lock WHEN the daemon
    settles THEN the sender reports nothing sent and stays the same process (it waits, it does not
    die and get replaced), and once the lock is gone the letters leave, once."""
    recorder, port = smtp_server
    home = Home(tmp_path, port)
    home.sender.close()
    home.sender = SenderProcess(
        lambda: home.dispatcher(Store(make_engine(home.url, busy_timeout=0.2))), home.local.recover
    )
    locker = sqlite3.connect(tmp_path / "send.db", isolation_level=None)
    try:
        home.sender.start()
        first = home.sender.pid
        home.queue(2)
        locker.execute("BEGIN IMMEDIATE")
        assert returns_within(30, lambda: home.sender.settle(lambda: False)) == 0
        assert home.sender.pid == first and first is not None and state(first) not in (None, "Z")
        locker.execute("ROLLBACK")
        assert returns_within(30, lambda: home.sender.settle(lambda: False)) == 2
        assert home.sender.pid == first
        assert len(recorder.received) == 2
    finally:
        locker.close()
        home.close()
