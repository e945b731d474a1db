"""Ingest from a real IMAP server on 127.0.0.1 (Dovecot where installed, pymap otherwise).

GIVEN mail appended to the server WHEN the daemon passes THEN each message is archived,
processed once, and moved or flagged only after its commit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from builders import add_liaison, make_app, make_mail
from processes import thread_cpu_seconds
from sqlmodel import col, select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.errors import SourceDropped
from mailflow.store import FolderState, InboundMessage, Outbox, OutboxState

PASSWORD_ENV = "MAILFLOW_TEST_IMAP_PASSWORD"
T = TypeVar("T")


def imap_source(server: Any, **overrides: Any) -> dict[str, Any]:
    source = {
        "name": "box",
        "kind": "imap",
        "host": server.host,
        "port": server.port,
        "security": "none",
        "user": server.user,
        "password_env": PASSWORD_ENV,
        "folders": ["INBOX"],
        "idle": True,
        "poll_interval": 5,
        "timeout": 10,
        "start_from": "all",
    }
    source.update(overrides)
    return source


@pytest.fixture
def box(imap_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(PASSWORD_ENV, imap_server.password)
    return imap_server


def new_app(tmp_path: Path, server: Any, **source: Any) -> App:
    app = make_app(tmp_path, sources=[imap_source(server, **source)])
    add_liaison(app)
    return app


@pytest.fixture
def app(tmp_path: Path, box: Any) -> Iterator[App]:
    application = new_app(tmp_path, box)
    yield application
    application.close()


def rows(app: App) -> list[InboundMessage]:
    with app.store.session() as session:
        return list(session.exec(select(InboundMessage).order_by(InboundMessage.id)).all())


def submission(n: int) -> bytes:
    return make_mail(subject=f"【报送】第{n}期工作动态", message_id=f"<sub-{n}@hongda-machinery.cn>")


def test_appended_message_is_processed_then_moved_without_being_marked_seen(app: App, box: Any) -> None:
    box.append(submission(1))
    report = Daemon(app).run_once()
    assert report.errors == [] and report.processed == 1
    (row,) = rows(app)
    assert (row.state, row.intent, row.server_marked) == ("processed", "submission", True)
    assert box.uids("INBOX") == []
    (moved,) = box.uids("Processed")
    assert "\\Seen" not in box.flags(moved, "Processed"), "bodies are fetched with BODY.PEEK"
    assert box.fetch_raw(moved, "Processed") == app.raw.get(row.sha256)


def test_flag_mode_leaves_mail_in_place_and_never_processes_it_twice(tmp_path: Path, box: Any) -> None:
    app = new_app(tmp_path, box, after_processing={"action": "flag", "flag": "$MailflowDone"})
    box.append(submission(1))
    box.append(submission(2))
    daemon = Daemon(app)
    assert daemon.run_once().processed == 2
    assert daemon.run_once().processed == 0
    uids = box.uids("INBOX")
    assert len(uids) == 2 and all("$MailflowDone" in box.flags(u, "INBOX") for u in uids)
    assert [r.state for r in rows(app)] == ["processed", "processed"]
    app.close()


def test_safe_first_run_records_older_mail_as_skipped_and_leaves_it_alone(tmp_path: Path, box: Any) -> None:
    box.append(submission(1))
    box.append(submission(2))
    app = new_app(tmp_path, box, start_from="first_start")
    daemon = Daemon(app)
    report = daemon.run_once()
    assert (report.ingest.skipped, report.processed) == (2, 0)
    assert [r.state for r in rows(app)] == ["skipped", "skipped"]
    assert all(r.headers_only for r in rows(app)), "old mail is recorded from its header only"
    assert len(box.uids("INBOX")) == 2, "the secretariat's old mail is not touched"
    box.append(submission(3))
    assert daemon.run_once().processed == 1
    assert [r.state for r in rows(app)] == ["skipped", "skipped", "processed"]
    assert len(box.uids("INBOX")) == 2
    app.close()


def test_start_from_a_date_skips_mail_that_arrived_before_it(tmp_path: Path, box: Any) -> None:
    box.append(submission(1), date=datetime(2026, 10, 30, 12, 0, tzinfo=UTC))
    box.append(submission(2), date=datetime(2026, 11, 2, 12, 0, tzinfo=UTC))
    app = new_app(tmp_path, box, start_from=date(2026, 11, 1).isoformat())
    Daemon(app).run_once()
    assert [r.state for r in rows(app)] == ["skipped", "processed"]
    app.close()


def test_uidvalidity_change_resyncs_without_processing_again(tmp_path: Path, box: Any) -> None:
    app = new_app(tmp_path, box, after_processing={"action": "none"})
    for n in range(3):
        box.append(submission(n))
    daemon = Daemon(app)
    assert daemon.run_once().processed == 3
    old = box.uidvalidity("INBOX")
    box.reset_uidvalidity("INBOX")
    assert box.uidvalidity("INBOX") != old
    box.append(submission(99))
    report = daemon.run_once()
    assert (report.ingest.duplicates, report.processed) == (3, 1)
    states = [r.state for r in rows(app)]
    assert states.count("processed") == 4 and states.count("ignored") == 3
    with app.store.session() as session:
        (folder,) = session.exec(select(FolderState)).all()
    assert folder.uidvalidity == box.uidvalidity("INBOX")
    app.close()


def test_another_message_reusing_a_message_id_is_new_mail(app: App, box: Any) -> None:
    """GIVEN a processed message WHEN a different one arrives under the same Message-ID (as some
    mailers write `0@localhost`) THEN it is processed too, not ignored as a copy."""
    box.append(make_mail(subject="【报送】第1期工作动态", message_id="<0@localhost>"))
    daemon = Daemon(app)
    assert daemon.run_once().processed == 1
    box.append(make_mail(subject="【报送】第2期工作动态", message_id="<0@localhost>"))
    report = daemon.run_once()
    assert (report.ingest.archived, report.ingest.duplicates, report.processed) == (1, 0, 1)
    assert [(r.state, r.duplicate_of) for r in rows(app)] == [("processed", None), ("processed", None)]


def test_a_single_drop_before_the_move_is_mended_in_the_same_pass(app: App, box: Any) -> None:
    source, archiver = app.sources[0]
    app.sources[0] = (MarkFails(source, times=1), archiver)  # type: ignore[assignment]
    box.append(submission(1))
    report = Daemon(app).run_once()
    (row,) = rows(app)
    assert (report.errors, report.processed, row.server_marked) == ([], 1, True)
    assert box.uids("INBOX") == [] and len(box.uids("Processed")) == 1


def test_reconnects_after_the_server_drops_the_connection(app: App, box: Any) -> None:
    daemon = Daemon(app)
    box.append(submission(1))
    assert daemon.run_once().processed == 1
    box.drop_connections()
    box.append(submission(2))
    report = daemon.run_once()
    assert report.errors == [] and report.processed == 1
    assert [r.state for r in rows(app)] == ["processed", "processed"]


class MarkFails:
    """Wraps the real source to inject a fault a real server cannot be told to produce on cue:
    the connection dies right after the local commit and before the MOVE, `times` times."""

    def __init__(self, inner: Any, times: int) -> None:
        self.inner = inner
        self.left = times

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def mark(self, folder: str, uids: Any) -> None:
        if self.left:
            self.left -= 1
            self.inner.close()
            raise SourceDropped("injected: connection lost before MOVE")
        self.inner.mark(folder, uids)


def test_crash_between_commit_and_move_neither_loses_nor_repeats(app: App, box: Any) -> None:
    source, archiver = app.sources[0]
    # Two failures: the pass's own immediate reconnect fails too, so the outage lasts past it.
    app.sources[0] = (MarkFails(source, times=2), archiver)  # type: ignore[assignment]
    box.append(submission(1))
    daemon = Daemon(app)
    report = daemon.run_once()
    assert report.errors and report.processed == 1, "the committed message is processed though the move failed"
    (row,) = rows(app)
    assert row.server_marked is False and box.uids("INBOX") != []
    report = daemon.run_once()
    (row,) = rows(app)
    assert (report.processed, row.server_marked) == (0, True)
    assert box.uids("INBOX") == [] and len(box.uids("Processed")) == 1


def test_message_too_large_to_fetch_is_archived_as_headers_and_held(tmp_path: Path, box: Any) -> None:
    app = make_app(tmp_path, sources=[imap_source(box)], limits={"max_fetch_mb": 0.01})
    add_liaison(app)
    box.append(make_mail(attachments=[("big.pdf", b"%PDF-1.4\n" + b"x" * 50_000, "application/pdf")]))
    Daemon(app).run_once()
    (row,) = rows(app)
    assert (row.state, row.headers_only, row.reasons[0]["code"]) == ("held", True, "too_large")
    kept = app.raw.get(row.sha256)
    assert b"Message-ID:" in kept and b"%PDF" not in kept
    app.close()


def test_idle_picks_up_new_mail_without_waiting_for_the_poll(tmp_path: Path, box: Any) -> None:
    app = new_app(tmp_path, box, poll_interval=600)
    daemon = Daemon(app)
    daemon.run_once()
    arrived = threading.Event()

    def watch() -> None:
        daemon.run_forever()

    def processed() -> bool:
        return any(r.state == "processed" for r in rows(app))

    worker = threading.Thread(target=watch, daemon=True)
    worker.start()
    try:
        box.append(submission(7))
        # IDLE wakes within about a second on Dovecot (it waits 0.5 s on purpose); the poll
        # interval is ten minutes, so only IDLE can make this pass in time.
        for _ in range(200):
            if processed():
                arrived.set()
                break
            worker.join(0.1)
        assert arrived.is_set()
    finally:
        daemon.request_stop()
        worker.join(10)
    assert not worker.is_alive(), "a stop request ends IDLE promptly"
    app.close()


def test_a_session_killed_on_the_server_during_idle_is_replaced_at_once_without_spinning(
    tmp_path: Path, box: Any
) -> None:
    """GIVEN the daemon in IDLE WHEN the server's process for that session is killed (kill -9: no
    BYE, the kernel closes the socket, the client reads a bare EOF) THEN the daemon's thread spends
    next to no CPU on the dead socket, is back in IDLE on a new session within seconds, and mail
    appended then is archived and acknowledged; the poll interval is ten minutes."""
    if box.kind != "dovecot":
        pytest.skip("only Dovecot serves each session from a process that can be killed")
    app = new_app(tmp_path, box, poll_interval=600)
    daemon = Daemon(app)
    daemon.run_once()
    worker = threading.Thread(target=daemon.run_forever, daemon=True)
    worker.start()
    try:
        assert wait_until(lambda: idling(box), 10), "the daemon went into IDLE"
        assert worker.native_id is not None
        cpu_before = thread_cpu_seconds(worker.native_id)
        killed = box.kill_sessions()
        back = wait_until(lambda: idling(box) - set(killed), 5)
        cpu = thread_cpu_seconds(worker.native_id) - cpu_before
        box.append(submission(8))
        done = wait_until(lambda: acknowledged(app, "<sub-8@hongda-machinery.cn>"), 5)
    finally:
        daemon.request_stop()
        worker.join(10)
    assert cpu < 0.5, f"{cpu:.2f} s of CPU on the dead connection"
    assert back, "a new session in IDLE within 5 s"
    assert done, "the mail appended after the kill was archived and acknowledged within 5 s"
    app.close()


def idling(box: Any) -> set[int]:
    return {pid for pid, command in box.sessions().items() if command == "IDLE"}


def acknowledged(app: App, message_id: str) -> bool:
    with app.store.session() as session:
        sent = session.exec(
            select(Outbox.state)
            .join(InboundMessage, col(Outbox.inbound_id) == col(InboundMessage.id))
            .where(InboundMessage.message_id == message_id.strip("<>"))
        ).all()
    return sent == [OutboxState.SENT]


def wait_until(condition: Callable[[], T], timeout: float) -> T | None:
    """The condition's first true value, or None once `timeout` seconds have passed without one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return None


def test_poll_mode_without_idle(tmp_path: Path, box: Any) -> None:
    app = new_app(tmp_path, box, idle=False)
    box.append(submission(1))
    assert Daemon(app).run_once().processed == 1
    app.close()


def test_identifies_itself_with_rfc2971_id_after_login(app: App, box: Any) -> None:
    """NetEase 163/126 refuse SELECT from a client that has not sent ID; Dovecot logs what it got."""
    if box.kind != "dovecot":
        pytest.skip("only the Dovecot fixture logs the ID a client sends")
    Daemon(app).run_once()
    lines = [line for line in box._backend.log_text.splitlines() if f"imap({box.user})" in line]
    assert any("ID sent: name=mailflow, version=" in line for line in lines), lines


def test_idle_is_reissued_within_its_limit(app: App, box: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a poll interval longer than IDLE may last (RFC 2177: 29 minutes) WHEN the daemon waits
    THEN it ends IDLE at the limit and returns, so the caller re-issues it. The limit is made short
    here so that the test takes a second, not 25 minutes."""
    from mailflow.ingest import imap

    monkeypatch.setattr(imap, "IDLE_MAX_SECONDS", 0.5)
    source, _ = app.sources[0]
    source.open()
    started = time.monotonic()
    source.wait(3600, lambda: False)
    assert time.monotonic() - started < 30
    source.close()


def test_an_unreachable_mailbox_is_retried_with_growing_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a mailbox whose server is down WHEN the daemon runs THEN it retries after 1, 2, 4 … s,
    capped by reconnect_max_seconds, keeps the error for `status`, and stops when asked."""
    import socket

    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(PASSWORD_ENV, "x")
    dead = {
        "name": "box",
        "kind": "imap",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "user": "u",
        "password_env": PASSWORD_ENV,
        "timeout": 2,
    }
    app = make_app(tmp_path, sources=[dead], daemon={"reconnect_max_seconds": 5})
    slept: list[float] = []
    daemon = Daemon(app, sleep=slept.append)
    waits: list[float] = []
    original = daemon._backoff

    def backoff() -> None:
        before = sum(slept)
        original()
        waits.append(sum(slept) - before)
        if len(waits) == 5:
            daemon.request_stop()

    monkeypatch.setattr(daemon, "_backoff", backoff)
    daemon.run_forever()
    assert waits == [1, 2, 4, 5, 5]
    with app.store.session() as session:
        (folder,) = session.exec(select(FolderState)).all()
    assert folder.last_poll_at is None and "cannot connect" in (folder.last_error or "")
    app.close()


def test_any_ingest_error_is_retried_with_growing_backoff_and_shown_in_status(
    tmp_path: Path, box: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN ingest that fails on every pass with an error that is not the mailbox's (a bug, such as
    the unique-key failure a restored mailbox once caused: no server can be told to cause one now,
    so the source is wrapped to raise it) WHEN the daemon runs THEN it retries after 1, 2, 4 … s as
    for an unreachable mailbox, and `status` shows the error on the folder."""
    app = new_app(tmp_path, box)
    source, archiver = app.sources[0]
    app.sources[0] = (PendingFails(source), archiver)  # type: ignore[assignment]
    slept: list[float] = []
    daemon = Daemon(app, sleep=slept.append)
    waits: list[float] = []
    original = daemon._backoff

    def backoff() -> None:
        before = sum(slept)
        original()
        waits.append(sum(slept) - before)
        if len(waits) == 4:
            daemon.request_stop()

    monkeypatch.setattr(daemon, "_backoff", backoff)
    daemon.run_forever()
    assert waits == [1, 2, 4, 8]
    with app.store.session() as session:
        (folder,) = session.exec(select(FolderState)).all()
    assert folder.last_error == "RuntimeError: injected: a bug in ingest"
    app.close()


class PendingFails:
    """Wraps the real source; listing new mail raises an error of ingest's own, not the mailbox's."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def pending(self, folder: str, after_uid: int) -> list[str]:
        raise RuntimeError("injected: a bug in ingest")


def test_first_contact_after_an_outage_still_takes_the_safe_first_run_baseline(
    tmp_path: Path, box: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error recorded before the mailbox was ever reached must not cost the safe first run."""
    app = new_app(tmp_path, box, start_from="first_start")
    source, _ = app.sources[0]
    Daemon(app)._record_error(source, "cannot connect: refused")
    box.append(submission(1))
    report = Daemon(app).run_once()
    assert (report.ingest.skipped, report.processed) == (1, 0)
    app.close()


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_reads_over_tls_and_starttls_verifying_the_certificate(tmp_path: Path, box: Any, security: str) -> None:
    """GIVEN a server with a private CA WHEN the source trusts that CA THEN mail is read over TLS;
    without it the certificate is refused and nothing is read."""
    if box.tls_port is None:
        pytest.skip("the pymap fixture offers no TLS")
    port = box.tls_port if security == "tls" else box.port
    box.append(submission(1))
    untrusted = make_app(tmp_path / "untrusted", sources=[imap_source(box, security=security, port=port)])
    report = Daemon(untrusted).run_once()
    assert report.processed == 0 and "not trusted" in report.errors[0]
    untrusted.close()
    app = new_app(tmp_path, box, security=security, port=port, ca_file=str(box.ca_file))
    report = Daemon(app).run_once()
    assert report.errors == [] and report.processed == 1
    app.close()
