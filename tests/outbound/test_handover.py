"""The handover journal: what becomes of the letters a dead sender held, after `kill -9` and after a power cut.

A power cut is played by reading only what the journal had synced to disk when it came, under
another boot's id: the lines written after the last sync may be gone.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlmodel import select
from test_outbox import ack, state

from mailflow.clock import FixedClock
from mailflow.outbound.dispatch import Dispatcher
from mailflow.outbound.handover import Fate, Handover, HandoverJournal, boot_id
from mailflow.outbound.transports import Letter, MemoryTransport
from mailflow.store import Outbox, OutboxState, Store


def crashed_with(
    store: Store, clock: FixedClock, journal: HandoverJournal, *, noted: bool, sent: bool = False, started: bool = True
) -> tuple[int, Dispatcher]:
    """A sender starts (recovering, as every start does), takes a letter (marked `sending`,
    committed) and releases it, its final dot noted or not, its acceptance noted or not; then the
    process dies."""
    row_id = ack(store, clock)
    dispatcher = Dispatcher(store, MemoryTransport(), clock, sender="s@x.org", sender_name="S", journal=journal)
    if started:
        dispatcher.recover()
    (taken,) = dispatcher._loop.run(dispatcher._take(1, []))[1]
    journal.release([taken.message_id])
    if noted:
        journal.note(taken.message_id)
    if sent:
        journal.sent(taken.message_id)
    restarted = Dispatcher(store, MemoryTransport(), clock, sender="s@x.org", sender_name="S", journal=journal)
    assert restarted.recover() == 1
    return row_id, restarted


def test_a_letter_killed_before_its_final_dot_is_sent_again_after_a_restart(
    store: Store, clock: FixedClock, tmp_path: Path
) -> None:
    """GIVEN a sender killed with a letter taken whose final dot was never written WHEN the next start
    recovers THEN the letter goes out normally, and the lost try does not count against it."""
    row_id, restarted = crashed_with(store, clock, HandoverJournal(tmp_path / "j"), noted=False)
    row = state(store, row_id)
    assert (row.state, row.attempts) == (OutboxState.QUEUED, 0)
    assert restarted.run() == 1 and state(store, row_id).state == OutboxState.SENT


def test_a_letter_whose_final_dot_may_have_left_is_ambiguous(store: Store, clock: FixedClock, tmp_path: Path) -> None:
    row_id, restarted = crashed_with(store, clock, HandoverJournal(tmp_path / "j"), noted=True)
    assert restarted.run() == 0 and state(store, row_id).state == OutboxState.AMBIGUOUS


def test_a_letter_accepted_but_not_yet_recorded_is_recorded_sent(
    store: Store, clock: FixedClock, tmp_path: Path
) -> None:
    """Outcomes are recorded a few dozen at a time: a sender killed between the server's 250 and
    that commit leaves a letter that arrived, and the journal says so; it is neither resent nor
    put to a person as ambiguous."""
    row_id, restarted = crashed_with(store, clock, HandoverJournal(tmp_path / "j"), noted=True, sent=True)
    assert restarted.run() == 0 and state(store, row_id).state == OutboxState.SENT


def test_a_journal_from_before_a_reboot_tells_nothing(store: Store, clock: FixedClock, tmp_path: Path) -> None:
    """The journal's format before releases were written: after a reboot every letter in hand is ambiguous."""
    journal = HandoverJournal(tmp_path / "j")
    (tmp_path / "j").write_text("boot 00000000-another-boot\n")  # written, then the machine lost power
    row_id, restarted = crashed_with(store, clock, journal, noted=False, started=False)
    assert restarted.run() == 0 and state(store, row_id).state == OutboxState.AMBIGUOUS


def test_without_a_journal_a_letter_in_hand_stays_ambiguous(store: Store, clock: FixedClock, tmp_path: Path) -> None:
    """A journal that was never written (a store from before it existed) cannot say a letter did not leave."""
    (tmp_path / "never-written").mkdir()  # nor can one that cannot be read
    for path in (tmp_path / "missing", tmp_path / "never-written"):
        assert HandoverJournal(path).read() is None
    row_id = ack(store, clock)
    dispatcher = Dispatcher(store, MemoryTransport(), clock, sender="s@x.org", sender_name="S")
    dispatcher._loop.run(dispatcher._take(1, []))
    journal = HandoverJournal(tmp_path / "missing")
    restarted = Dispatcher(store, MemoryTransport(), clock, sender="s@x.org", sender_name="S", journal=journal)
    assert restarted.recover() == 1 and state(store, row_id).state == OutboxState.AMBIGUOUS


def after_power_cut(journal: HandoverJournal, synced: int, folder: Path) -> Handover:
    """What the next boot reads: the journal as far as it was synced, under another boot's id."""
    kept = journal.path.read_bytes()[:synced].replace(boot_id().encode(), b"00000000-another-boot")
    copy = folder / "after-the-power-cut"
    copy.write_bytes(kept)
    told = HandoverJournal(copy).read()
    assert told is not None and not told.same_boot
    return told


def test_the_fates_a_journal_tells_after_kill_and_after_a_power_cut(tmp_path: Path) -> None:
    journal = HandoverJournal(tmp_path / "j")
    journal.release(["a@x", "b@x", "c@x"])
    journal.note("a@x")
    journal.sent("a@x")
    journal.note("b@x")
    synced = journal.size()  # the next release syncs these lines too
    journal.release(["d@x"])
    journal.note("c@x")
    journal.sent("c@x")
    with journal.path.open("a") as torn:
        torn.write("released e@x f")  # the power went in the middle of this line
    killed = journal.read()
    assert killed is not None and killed.same_boot
    assert [killed.fate(m) for m in ("a@x", "b@x", "c@x", "d@x", "e@x", "z@x")] == [
        Fate.SENT, Fate.AMBIGUOUS, Fate.SENT, Fate.AGAIN, Fate.AGAIN, Fate.AGAIN,
    ]  # fmt: skip
    rebooted = after_power_cut(journal, synced, tmp_path)
    assert [rebooted.fate(m) for m in ("a@x", "b@x", "c@x", "d@x", "z@x")] == [
        Fate.SENT, Fate.AMBIGUOUS, Fate.AMBIGUOUS, Fate.AGAIN, Fate.AGAIN,
    ]  # fmt: skip


class PowerWatch:
    """A transport over two connections that, at every step of every letter, plays the two crashes:
    what a `kill -9` and a power cut at that moment would leave, against what the server has seen."""

    name = "power-watch"
    slots = 2
    idempotent = False

    def __init__(self, store: Store, journal: HandoverJournal, folder: Path) -> None:
        self.store, self.journal, self.folder = store, journal, folder
        self.on_final_dot = journal.note  # the dispatcher sets it, as for SMTP
        self.started: set[str] = set()  # letters the server has seen a command of
        self.dotted: set[str] = set()
        self.peak = {"taken": 0, "killed": 0, "rebooted": 0}

    async def send(self, slot: int, letter: Letter) -> None:
        self.started.add(letter.message_id)
        self.watch()
        await asyncio.sleep(0)  # MAIL FROM … DATA: the other connection goes on meanwhile
        self.on_final_dot(letter.message_id)
        self.dotted.add(letter.message_id)
        self.watch()
        await asyncio.sleep(0)  # waiting for the reply to the dot

    def watch(self) -> None:
        with self.store.session() as session:
            taken = [r.message_id for r in session.exec(select(Outbox).where(Outbox.state == OutboxState.SENDING))]
        killed = self.journal.read()
        assert killed is not None
        rebooted = after_power_cut(self.journal, self.journal.synced, self.folder)
        for told, crash in ((killed, "killed"), (rebooted, "rebooted")):
            fates = {m: told.fate(m) for m in taken}
            again = {m for m, fate in fates.items() if fate == Fate.AGAIN}
            assert not again & self.dotted, f"after a crash ({crash}) a letter the server may have would be sent again"
            self.peak[crash] = max(self.peak[crash], sum(fate == Fate.AMBIGUOUS for fate in fates.values()))
        self.peak["taken"] = max(self.peak["taken"], len(taken))

    async def close_idle(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class SyncWatch(HandoverJournal):
    """Remembers how much of the file was on disk at the last release's sync."""

    synced = 0

    def release(self, message_ids: object) -> None:
        super().release(message_ids)  # type: ignore[arg-type]
        self.synced = self.size()


def test_a_crash_at_any_moment_leaves_a_few_letters_ambiguous_and_resends_none_that_left(
    store: Store, clock: FixedClock, tmp_path: Path
) -> None:
    """GIVEN 100 letters over two connections, taken 32 at a time WHEN the sender is killed, or the
    power goes, at any step THEN no letter whose final dot was written would be sent again; a
    kill leaves at most one ambiguous letter per connection, a power cut at most four."""
    for n in range(100):
        ack(store, clock, key=f"notice:{n}")
    journal = SyncWatch(tmp_path / "j")
    transport = PowerWatch(store, journal, tmp_path)
    dispatcher = Dispatcher(store, transport, clock, sender="s@x.org", sender_name="S", journal=journal)
    dispatcher.recover()
    assert dispatcher.run() == 100 and len(transport.dotted) == 100
    assert transport.peak["taken"] > 4 * transport.slots  # more are taken at a time than a crash may leave
    assert 0 < transport.peak["killed"] <= transport.slots
    assert transport.slots < transport.peak["rebooted"] <= 4 * transport.slots


def test_a_journal_that_cannot_be_written_holds_the_letters_back(
    store: Store, clock: FixedClock, tmp_path: Path
) -> None:
    """GIVEN a data folder where the journal cannot be written (full, read-only) WHEN letters are
    due THEN none starts, each waits for a retry with the reason, and the run ends."""
    ids = [ack(store, clock, key=f"notice:{n}") for n in range(3)]
    (tmp_path / "j").mkdir()  # nothing can be appended to a folder
    transport = MemoryTransport()
    journal = HandoverJournal(tmp_path / "j")
    assert Dispatcher(store, transport, clock, sender="s@x.org", sender_name="S", journal=journal).run() == 0
    assert transport.outbox == []
    for row_id in ids:
        row = state(store, row_id)
        assert row.state == OutboxState.RETRY and "the handover journal cannot be written" in (row.last_error or "")


def test_letters_taken_but_not_started_when_a_stop_comes_go_back_untried(
    store: Store, clock: FixedClock, tmp_path: Path
) -> None:
    """A stop (SIGTERM) while the dispatcher holds letters it has not released: those released are
    delivered, the others go back to the queue as they were, and none is left `sending`."""
    ids = [ack(store, clock, key=f"notice:{n}") for n in range(20)]
    transport = MemoryTransport()
    journal = HandoverJournal(tmp_path / "j")
    dispatcher = Dispatcher(store, transport, clock, sender="s@x.org", sender_name="S", journal=journal)
    assert dispatcher.chunk == 16 and dispatcher.release == 2  # one connection
    sent = dispatcher.run(should_stop=lambda: len(transport.outbox) >= 1)
    rows = [state(store, i) for i in ids]
    assert sent == len(transport.outbox) == 2  # the first release
    assert [r.state for r in rows] == [OutboxState.SENT] * 2 + [OutboxState.QUEUED] * 18
    assert {r.attempts for r in rows[2:]} == {0}
    assert dispatcher.in_hand == 0
    assert dispatcher.run() == 18 and len({letter.message_id for letter in transport.outbox}) == 20


def test_the_journal_is_emptied_when_nothing_is_in_hand_and_it_has_grown(
    store: Store, clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = HandoverJournal(tmp_path / "j")
    dispatcher = Dispatcher(store, MemoryTransport(), clock, sender="s@x.org", sender_name="S", journal=journal)
    for n in range(3):
        ack(store, clock, key=f"notice:{n}")
    dispatcher.run()
    assert journal.size() > 100
    monkeypatch.setattr("mailflow.outbound.dispatch._JOURNAL_BYTES", 100)  # the threshold, made small
    ack(store, clock, key="notice:3")
    dispatcher.run()
    assert journal.path.read_text() == f"handover 2 boot {boot_id()}\n"
    assert os.stat(journal.path).st_mode & 0o777 == 0o600
