"""The outbox: dedupe keys, the message on the wire, and the dispatcher's states across failures and crashes."""

from __future__ import annotations

import sqlite3

import asyncio
import email
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from builders import REPO
from sqlmodel import select

from mailflow.clock import FixedClock
from mailflow.errors import AmbiguousDelivery, DeliveryError, PermanentDelivery, TransientDelivery
from mailflow.outbound import Renderer
from sqlalchemy.exc import OperationalError

from mailflow.outbound.dispatch import Dispatcher
from mailflow.outbound.outbox import Draft, build_message, queue
from mailflow.workflows.registry import standard_samples
from mailflow.outbound.transports import FileTransport, Letter, MemoryTransport
from mailflow.store import Outbox, OutboxState, Store

SAMPLES = standard_samples()

CHAMBER = {"name": "成都市机械制造业商会", "signature": "秘书处", "address": "", "phone": "", "footer": ""}
DOMAIN = "mailflow.chamber.example.org"


def ack(store: Store, clock: FixedClock, key: str = "ack:inbound:1") -> int:
    rendered = Renderer(REPO / "templates", "zh-CN", CHAMBER).render(
        "ack_submission", SAMPLES["ack_submission"], sent_on="2026年11月24日"
    )
    with store.session() as session:
        row = queue(
            session,
            Draft(
                key=key,
                kind="ack_submission",
                recipients=["wangfang@hongda-machinery.cn"],
                rendered=rendered,
                in_reply_to="orig-1@hongda-machinery.cn",
                auto_submitted="auto-replied",
                reference="BS-2026-0042",
            ),
            now=clock.now(),
            message_id_domain=DOMAIN,
        )
        session.flush()
        return row.id or 0


def state(store: Store, row_id: int) -> Outbox:
    with store.session() as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        return row


def test_the_same_dedupe_key_is_never_queued_twice(store: Store, clock: FixedClock) -> None:
    first = ack(store, clock)
    assert ack(store, clock) == first
    with store.session() as session:
        assert len(session.exec(select(Outbox)).all()) == 1


def test_the_message_on_the_wire_threads_and_reads_in_chinese(store: Store, clock: FixedClock) -> None:
    row_id = ack(store, clock)
    transport = MemoryTransport()
    Dispatcher(store, transport, clock, sender="mishuchu@chamber.example.org", sender_name="商会秘书处").run()
    (sent,) = transport.outbox
    msg = email.message_from_bytes(sent.message, policy=default)
    assert msg["Subject"] == "【已收到】BS-2026-0042 我公司参加2026中国国际机床展览会"
    assert msg["In-Reply-To"] == "<orig-1@hongda-machinery.cn>" and msg["References"] == "<orig-1@hongda-machinery.cn>"
    assert msg["Message-ID"] == f"<{state(store, row_id).message_id}>" and msg["Message-ID"].endswith(f"@{DOMAIN}>")
    assert msg["Auto-Submitted"] == "auto-replied"
    assert str(msg["From"]) == "商会秘书处 <mishuchu@chamber.example.org>"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "登记编号为 BS-2026-0042" in text and "登记编号为 BS-2026-0042" in html
    assert all(len(line) <= 998 for line in sent.message.split(b"\r\n"))
    assert state(store, row_id).state == OutboxState.SENT


def test_long_headers_are_folded_and_every_line_ends_in_crlf() -> None:
    subject = "【已收到】BS-2026-0042 " + "关于我公司参加2026中国国际机床展览会并举办新产品发布会的情况报告" * 3
    references = " ".join(f"thread-{n}-{'x' * 30}@hongda-machinery.cn" for n in range(12))
    row = Outbox(
        dedupe_key="k",
        kind="ack_submission",
        recipients=["a@hongda.cn"],
        subject=subject,
        text="正文\n",
        html="<p>正文</p>",
        message_id="m@d",
        in_reply_to="thread-11@x",
        references=references,
    )
    raw = build_message(row, sender="mishuchu@chamber.example.org", sender_name="成都市机械制造业商会秘书处")
    assert b"\n" not in raw.replace(b"\r\n", b"") and raw.isascii()
    header = raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in header.split(b"\r\n")) <= 78
    msg = email.message_from_bytes(raw, policy=default)
    assert msg["Subject"] == subject and len(msg["References"].split()) == 12
    assert msg.get_body(("plain",)).get_content() == "正文\n"


class Failing:
    """A transport that fails as told, to inject what a real server does on a bad day."""

    name = "failing"
    slots = 1
    idempotent = False

    def __init__(self, *failures: DeliveryError | None) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def send(self, slot: int, letter: Letter) -> None:
        self.calls += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure

    async def close_idle(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def test_a_temporary_failure_is_retried_with_backoff_then_sent_once(store: Store, clock: FixedClock) -> None:
    row_id = ack(store, clock)
    transport = Failing(TransientDelivery("451 try later"), TransientDelivery("451 try later"))
    dispatcher = Dispatcher(store, transport, clock, sender="s@x.org", sender_name="S", retry_base_seconds=60)
    assert dispatcher.run() == 0
    assert (state(store, row_id).state, state(store, row_id).last_error) == (OutboxState.RETRY, "451 try later")
    assert dispatcher.run() == 0, "not due before its backoff has passed"
    clock.advance(seconds=60)
    assert dispatcher.run() == 0
    clock.advance(seconds=119)
    assert dispatcher.run() == 0, "the second wait is twice as long"
    clock.advance(seconds=1)
    assert dispatcher.run() == 1
    assert transport.calls == 3 and state(store, row_id).state == OutboxState.SENT


def test_a_permanent_failure_is_dead_with_its_reason(store: Store, clock: FixedClock) -> None:
    row_id = ack(store, clock)
    Dispatcher(store, Failing(PermanentDelivery("550 no such user")), clock, sender="s@x.org", sender_name="S").run()
    row = state(store, row_id)
    assert (row.state, row.last_error) == (OutboxState.DEAD, "550 no such user")


def test_out_of_attempts_is_dead(store: Store, clock: FixedClock) -> None:
    row_id = ack(store, clock)
    transport = Failing(*[TransientDelivery("421 busy")] * 3)
    dispatcher = Dispatcher(store, transport, clock, sender="s@x.org", sender_name="S", max_attempts=3)
    for _ in range(3):
        dispatcher.run()
        clock.advance(hours=1)
    assert state(store, row_id).state == OutboxState.DEAD and transport.calls == 3


def test_an_unknown_outcome_is_never_resent_without_a_person(store: Store, clock: FixedClock) -> None:
    row_id = ack(store, clock)
    transport = Failing(AmbiguousDelivery("connection lost after the final dot"))
    dispatcher = Dispatcher(store, transport, clock, sender="s@x.org", sender_name="S")
    dispatcher.run()
    clock.advance(days=1)
    dispatcher.run()
    assert transport.calls == 1 and state(store, row_id).state == OutboxState.AMBIGUOUS
    assert dispatcher.retry(row_id) == OutboxState.QUEUED
    assert dispatcher.run() == 1 and transport.calls == 2


def test_a_crash_while_sending_leaves_the_message_ambiguous(store: Store, clock: FixedClock) -> None:
    """The process dies after the row is marked `sending`: on the next start nobody knows whether
    the server had it, so it is not sent again on its own."""
    row_id = ack(store, clock)
    dispatcher = Dispatcher(store, MemoryTransport(), clock, sender="s@x.org", sender_name="S")
    assert [r.id for r in dispatcher._loop.run(dispatcher._take(1, []))[1]] == [
        row_id
    ]  # committed; then the process is killed
    restarted = Dispatcher(store, MemoryTransport(), clock, sender="s@x.org", sender_name="S")
    assert restarted.recover() == 1
    assert restarted.run() == 0 and state(store, row_id).state == OutboxState.AMBIGUOUS


class Watching:
    """A transport over two connections that counts, at every letter, the rows a crash at that
    moment would leave ambiguous (taken, not yet recorded)."""

    name = "watching"
    slots = 2
    idempotent = False

    def __init__(self, store: Store) -> None:
        self.store = store
        self.peak = 0
        self.calls = 0

    async def send(self, slot: int, letter: Letter) -> None:
        with self.store.session() as session:
            taken = session.exec(select(Outbox).where(Outbox.state == OutboxState.SENDING)).all()
        self.peak = max(self.peak, len(taken))
        self.calls += 1
        await asyncio.sleep(0)  # the other connection goes on meanwhile

    async def close_idle(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def test_without_a_journal_a_crash_can_leave_at_most_five_times_the_connections_ambiguous(
    store: Store, clock: FixedClock
) -> None:
    for n in range(40):
        ack(store, clock, key=f"notice:{n}")
    transport = Watching(store)
    assert Dispatcher(store, transport, clock, sender="s@x.org", sender_name="S").run() == 40
    assert transport.calls == 40 and 4 * transport.slots <= transport.peak <= 5 * transport.slots


def test_the_file_transport_writes_one_eml_per_message(store: Store, clock: FixedClock, tmp_path: Path) -> None:
    row_id = ack(store, clock)
    Dispatcher(store, FileTransport(tmp_path / "outbox"), clock, sender="s@x.org", sender_name="S").run()
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    assert eml.name == f"{state(store, row_id).message_id}.eml"
    assert email.message_from_bytes(eml.read_bytes(), policy=default)["Subject"].startswith("【已收到】BS-2026-0042")


def test_a_crash_while_writing_files_writes_them_again(store: Store, clock: FixedClock, tmp_path: Path) -> None:
    """Writing a file twice under the same name does no harm, so the file transport takes its
    interrupted letters back instead of holding them as ambiguous."""
    row_id = ack(store, clock)
    dispatcher = Dispatcher(store, FileTransport(tmp_path / "outbox"), clock, sender="s@x.org", sender_name="S")
    assert [r.id for r in dispatcher._loop.run(dispatcher._take(100, []))[1]] == [
        row_id
    ]  # committed; then the process is killed
    restarted = Dispatcher(store, FileTransport(tmp_path / "outbox"), clock, sender="s@x.org", sender_name="S")
    assert restarted.recover() == 1
    assert restarted.run() == 1 and state(store, row_id).state == OutboxState.SENT
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def test_a_rate_limit_spaces_the_letters_evenly(store: Store, clock: FixedClock) -> None:
    for n in range(5):
        ack(store, clock, key=f"ack:{n}")
    naps: list[float] = []

    def sleep(seconds: float) -> None:  # time passes only when the dispatcher waits
        naps.append(seconds)
        clock.advance(seconds=seconds)

    transport = MemoryTransport()
    dispatcher = Dispatcher(store, transport, clock, sender="s@x.org", sender_name="S", per_minute=30, sleep=sleep)
    start = clock.now()
    assert dispatcher.run() == 5
    with store.session() as session:
        sent = sorted((r.sent_at - start).total_seconds() for r in session.exec(select(Outbox)).all() if r.sent_at)
    assert sent == [0.0, 2.0, 4.0, 6.0, 8.0]  # 30 a minute: one every 2 s


def test_threading_headers_from_the_senders_mail_cannot_add_a_header() -> None:
    row = Outbox(
        dedupe_key="k",
        kind="ack_submission",
        recipients=["a@hongda.cn"],
        subject="【已收到】",
        text="正文\n",
        html="<p>正文</p>",
        message_id="m@d",
        in_reply_to="x@y\r\nBcc: everyone@example.org",
        references="x@y\r\nBcc: everyone@example.org",
    )
    msg = email.message_from_bytes(build_message(row, sender="s@x.org", sender_name="S"), policy=default)
    assert msg["Bcc"] is None and msg["In-Reply-To"] == "<x@y Bcc: everyone@example.org>"


def test_a_letter_that_cannot_be_built_is_dead_and_the_others_go(
    store: Store, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN three letters on one lane, the second of which cannot be built, WHEN they are sent, THEN
    the run returns, that letter is dead with the reason, and the two others are sent. (No letter
    the outbox can hold fails to build any more, so the fault is put into the builder here.)"""
    ids = [ack(store, clock, key=f"ack:{n}") for n in range(3)]

    def build(row: Any, **kwargs: str) -> bytes:
        if row.id == ids[1]:
            raise UnicodeEncodeError("ascii", "张三", 0, 1, "ordinal not in range(128)")
        return build_message(row, **kwargs)

    monkeypatch.setattr("mailflow.outbound.dispatch.build_message", build)
    transport = MemoryTransport()
    assert Dispatcher(store, transport, clock, sender="s@x.org", sender_name="S").run() == 2
    assert len(transport.outbox) == 2
    assert [state(store, i).state for i in ids] == [OutboxState.SENT, OutboxState.DEAD, OutboxState.SENT]
    assert (state(store, ids[1]).last_error or "").startswith("the letter cannot be built: UnicodeEncodeError")


class LocksTheStore(MemoryTransport):
    """Delivers, then another process takes the database's write lock: the commit that would record
    the delivery finds the store gone, as in a real outage."""

    def __init__(self, db: Path) -> None:
        super().__init__()
        self.locker = sqlite3.connect(db, isolation_level=None)

    async def send(self, slot: int, letter: Letter) -> None:
        await super().send(slot, letter)
        self.locker.execute("BEGIN IMMEDIATE")


def test_a_delivery_the_store_could_not_record_is_recorded_when_it_is_back(tmp_path: Path, clock: FixedClock) -> None:
    """GIVEN a letter delivered just before the database was locked by another process WHEN the run
    ends in that outage and a later run comes after it THEN the letter is recorded sent, never sent again."""
    store = Store.open(f"sqlite:///{tmp_path / 'o.db'}", busy_timeout=0.2)
    row_id = ack(store, clock)
    transport = LocksTheStore(tmp_path / "o.db")
    dispatcher = Dispatcher(store, transport, clock, sender="s@x.org", sender_name="S")
    with pytest.raises(OperationalError, match="locked"):
        dispatcher.run()
    assert dispatcher.in_hand == 1 and len(transport.outbox) == 1
    transport.locker.execute("ROLLBACK")
    assert dispatcher.run() == 1
    assert state(store, row_id).state == OutboxState.SENT and len(transport.outbox) == 1
    assert dispatcher.in_hand == 0
    transport.locker.close()
    store.close()
