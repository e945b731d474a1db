"""A copy of mail already stored is ignored; another message that only reuses its Message-ID is new mail.

Some mailers write the same Message-ID on every message (`0@localhost`), so a Message-ID match
is a duplicate only when the content matches too: the same bytes, or the same sender, Date and
subject (a server that re-wrote the headers of a copy).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from builders import deliver, make_mail
from sqlmodel import select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.store import InboundMessage

REUSED = "<0@localhost>"


def rows(app: App) -> list[InboundMessage]:
    with app.store.session() as session:
        return list(session.exec(select(InboundMessage).order_by(InboundMessage.id)).all())


def run_pass(app: App) -> None:
    assert Daemon(app).run_once().errors == []


def first_news() -> bytes:
    return make_mail(subject="【报送】第1期工作动态", message_id=REUSED)


def test_another_message_reusing_a_message_id_is_archived_and_processed_as_new_mail(
    app: App, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN a processed message WHEN a different one arrives with the same Message-ID THEN it is
    processed as any other mail, and the collision is logged on mailflow.ingest."""
    deliver(tmp_path / "Maildir", first_news())
    run_pass(app)
    second = make_mail(
        subject="【报送】第2期工作动态", message_id=REUSED, date=datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    )
    deliver(tmp_path / "Maildir", second)
    with caplog.at_level(logging.INFO, logger="mailflow.ingest"):
        run_pass(app)
    first, new = rows(app)
    assert (new.state, new.duplicate_of, new.subject) == ("processed", None, "【报送】第2期工作动态")
    assert first.state == "processed"
    collisions = [r for r in caplog.records if r.name == "mailflow.ingest" and "Message-ID" in r.getMessage()]
    assert collisions and collisions[0].levelno == logging.INFO
    assert "0@localhost" in collisions[0].getMessage()


def test_two_messages_sharing_a_message_id_in_one_pass_are_both_new_mail(app: App, tmp_path: Path) -> None:
    """GIVEN two different messages with one Message-ID delivered together WHEN a pass runs THEN both are processed."""
    deliver(tmp_path / "Maildir", first_news())
    deliver(tmp_path / "Maildir", make_mail(subject="【报送】第2期工作动态", message_id=REUSED))
    run_pass(app)
    assert [(r.state, r.duplicate_of) for r in rows(app)] == [("processed", None), ("processed", None)]


def test_a_byte_for_byte_copy_is_still_a_duplicate(app: App, tmp_path: Path) -> None:
    """GIVEN a processed message WHEN the same bytes arrive again THEN the copy is ignored as a duplicate."""
    deliver(tmp_path / "Maildir", first_news())
    run_pass(app)
    deliver(tmp_path / "Maildir", first_news())
    run_pass(app)
    first, copy = rows(app)
    assert (copy.state, copy.duplicate_of) == ("ignored", first.id)
    assert copy.reasons[0]["code"] == "duplicate"


def test_a_copy_whose_headers_a_server_rewrote_is_still_a_duplicate(app: App, tmp_path: Path) -> None:
    """GIVEN a processed message WHEN a copy arrives with a header added by a server (other bytes,
    same Message-ID, sender, Date and subject) THEN it is ignored as a duplicate."""
    deliver(tmp_path / "Maildir", first_news())
    run_pass(app)
    deliver(tmp_path / "Maildir", b"Received: from mx2.example.net by mx.example.org\n" + first_news())
    run_pass(app)
    first, copy = rows(app)
    assert (copy.state, copy.duplicate_of) == ("ignored", first.id)


def test_a_rewritten_copy_in_the_same_batch_is_a_duplicate_of_the_first(app: App, tmp_path: Path) -> None:
    """GIVEN a message and a re-written copy delivered together WHEN a pass runs THEN the copy is ignored."""
    deliver(tmp_path / "Maildir", first_news())
    deliver(tmp_path / "Maildir", b"X-Spam-Score: 0.1\n" + first_news())
    run_pass(app)
    first, copy = rows(app)
    assert (first.state, copy.state, copy.duplicate_of) == ("processed", "ignored", first.id)


def test_a_copy_of_the_second_message_under_a_reused_id_is_its_duplicate(app: App, tmp_path: Path) -> None:
    """GIVEN two different messages sharing a Message-ID WHEN a copy of the second arrives THEN it is
    a duplicate of the second, not new mail and not a copy of the first."""
    second = make_mail(
        subject="【报送】第2期工作动态", message_id=REUSED, date=datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    )
    deliver(tmp_path / "Maildir", first_news())
    deliver(tmp_path / "Maildir", second)
    run_pass(app)
    deliver(tmp_path / "Maildir", b"Received: from mx2.example.net by mx.example.org\n" + second)
    run_pass(app)
    _first, original, copy = rows(app)
    assert (copy.state, copy.duplicate_of) == ("ignored", original.id)
