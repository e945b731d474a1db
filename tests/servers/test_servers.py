"""Tests of the test servers themselves, against every IMAP server kind available here."""

from __future__ import annotations

import imaplib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from imap_tools import MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError

from servers.imap import ImapTestServer, available_kinds


def make_raw(subject: str = "Hello", body: str = "Body text.") -> bytes:
    return (
        f"From: a@example.org\r\nTo: b@example.org\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.org>\r\n\r\n{body}\r\n"
    ).encode()


@pytest.fixture(params=available_kinds())
def server(request: pytest.FixtureRequest, imap_servers: Callable[[str], ImapTestServer]) -> ImapTestServer:
    server = imap_servers(request.param)
    server.new_user()
    return server


def test_each_test_starts_with_an_empty_account(server: ImapTestServer) -> None:
    assert server.uids() == []
    assert server.count() == 0


def test_append_then_uids_fetch_and_flags(server: ImapTestServer) -> None:
    server.append(make_raw("one"))
    server.append(make_raw("two"), flags=("\\Seen", "$MailflowDone"), date=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    uids = server.uids()
    assert len(uids) == 2 and uids == sorted(uids)
    assert server.fetch_raw(uids[0]) == make_raw("one")
    assert server.flags(uids[0]) == set()
    assert server.flags(uids[1]) == {"\\Seen", "$MailflowDone"}
    assert server.count() == 2


def test_folders_with_unicode_names(server: ImapTestServer) -> None:
    assert not server.folder_exists("已处理 Done")
    server.create_folder("已处理 Done")
    assert server.folder_exists("已处理 Done")
    server.append(make_raw("x"), folder="已处理 Done")
    assert server.count("已处理 Done") == 1


def test_client_sees_idle_move_uidplus_and_any_keyword(server: ImapTestServer) -> None:
    server.append(make_raw("to move"))
    server.create_folder("Done")
    with server.mailbox() as mailbox:
        # imaplib's .capabilities are from the greeting, before login: ask again.
        caps = set(mailbox.client.capability()[1][0].split())
        assert {b"IDLE", b"MOVE", b"UIDPLUS"} <= caps
        permanent = mailbox.client.untagged_responses.get("PERMANENTFLAGS", [b""])[0]
        assert b"\\*" in permanent
        uid = mailbox.uids()[0]
        mailbox.flag(uid, "$MailflowDone", True)
        assert server.flags(int(uid)) == {"$MailflowDone"}
        mailbox.move(uid, "Done")
    assert server.count("INBOX") == 0
    [moved] = server.uids("Done")
    assert server.fetch_raw(moved, "Done") == make_raw("to move")
    assert server.flags(moved, "Done") == {"$MailflowDone"}


def test_reset_uidvalidity_changes_the_number_and_keeps_the_bytes(server: ImapTestServer) -> None:
    for i in range(3):
        server.append(make_raw(f"m{i}"))
    before = {uid: server.fetch_raw(uid) for uid in server.uids()}
    old = server.uidvalidity()
    selected = server.mailbox()

    server.reset_uidvalidity()

    with pytest.raises((imaplib.IMAP4.abort, OSError)):  # a session on the old view is ended
        selected.uids()
    assert server.uidvalidity() != old
    after = [server.fetch_raw(uid) for uid in server.uids()]
    assert after == list(before.values())
    with server.mailbox() as mailbox:
        assert mailbox.folder.status("INBOX")["UIDVALIDITY"] == server.uidvalidity()


def test_drop_connections_breaks_an_open_client(server: ImapTestServer) -> None:
    server.append(make_raw())
    mailbox = server.mailbox()
    assert len(mailbox.uids()) == 1

    server.drop_connections()

    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        mailbox.uids()
    with server.mailbox() as again:  # a new connection works and sees the same mail
        assert len(again.uids()) == 1
    assert server.count() == 1  # so does the admin connection, which was dropped too


def test_idle_wakes_on_append_from_another_connection(server: ImapTestServer) -> None:
    with server.mailbox() as mailbox:
        timer = threading.Timer(0.3, server.append, args=(make_raw("new"),))
        started = time.monotonic()
        timer.start()
        try:
            responses = mailbox.idle.wait(timeout=5)
        finally:
            timer.join()
        elapsed = time.monotonic() - started
    assert any(b"EXISTS" in line for line in responses), responses
    assert elapsed < 4, f"IDLE took {elapsed:.2f} s to notice"


def test_restart_keeps_the_mail(server: ImapTestServer) -> None:
    server.append(make_raw("kept"))
    server.restart()
    [uid] = server.uids()
    assert server.fetch_raw(uid) == make_raw("kept")


def test_a_wrong_password_does_not_slow_later_logins(server: ImapTestServer) -> None:
    with pytest.raises(MailboxLoginError):
        MailBoxUnencrypted(server.host, server.port, timeout=10).login(server.user, "wrong")
    started = time.monotonic()
    server.mailbox().logout()
    assert time.monotonic() - started < 1.5  # Dovecot's auth penalty would make it 4 s


def test_pg_url_gives_an_empty_schema_of_its_own(pg_url: str) -> None:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(pg_url)
    try:
        with engine.begin() as conn:
            assert inspect(conn).get_table_names() == []
            conn.execute(text("CREATE TABLE probe (id integer PRIMARY KEY)"))
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        assert schema.startswith("mailflow_test_")
        assert "probe" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
