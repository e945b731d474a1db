"""GIVEN text the database would refuse (NUL, unpaired surrogates) WHEN it is stored THEN it is
stored as U+FFFD on SQLite and PostgreSQL alike, nothing behind it waits, and the archive keeps
the raw bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import LIAISON, add_liaison, deliver, make_app, make_mail
from sqlmodel import select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.store import InboundMessage, InboundState
from mailflow.store.storable import storable


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    url = f"sqlite:///{tmp_path / 'mailflow.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    application = make_app(tmp_path, database={"url": url})
    add_liaison(application)
    yield application
    application.close()


def with_header(raw: bytes, name: bytes, value: bytes) -> bytes:
    head, _, body = raw.partition(b"\n\n")
    kept = [line for line in head.split(b"\n") if not line.lower().startswith(name.lower() + b":")]
    return b"\n".join([name + b": " + value, *kept]) + b"\n\n" + body


def test_nul_in_subject_and_from_neither_crashes_nor_blocks_the_queue(app: App, tmp_path: Path) -> None:
    nul_subject = with_header(make_mail(message_id="<a@x>"), b"Subject", "【报送】会费\x00通知".encode())
    nul_from = with_header(make_mail(message_id="<b@x>"), b"From", LIAISON.encode() + b"\x00")
    behind = make_mail(subject="【报送】排在后面的一封", message_id="<c@x>")
    for raw in (nul_subject, nul_from, behind):
        deliver(tmp_path / "Maildir", raw)
    report = Daemon(app).run_once()
    assert not report.errors
    with app.store.session() as session:
        rows = {row.message_id: row for row in session.exec(select(InboundMessage)).all()}
    assert (rows["a@x"].state, rows["a@x"].subject) == (InboundState.PROCESSED, "【报送】会费\ufffd通知")
    assert rows["b@x"].state == InboundState.HELD and "\x00" not in (rows["b@x"].sender or "")
    assert "\ufffd" in rows["b@x"].reasons[0]["params"]["email"]
    assert rows["c@x"].state == InboundState.PROCESSED
    assert b"\xe4\xbc\x9a\xe8\xb4\xb9\x00" in app.raw.path(rows["a@x"].sha256).read_bytes()


def test_unpaired_surrogates_are_stored_in_columns_and_json(app: App) -> None:
    with app.store.session() as session:
        session.add(
            InboundMessage(
                source="t",
                folder="f",
                uid="1",
                sha256="0" * 64,
                subject="坏\udce5字节\ud800",
                reasons=[{"code": "x", "params": {"name": "\udcff.jpg"}}],
            )
        )
    with app.store.session() as session:
        row = session.exec(select(InboundMessage)).one()
    assert row.subject == "坏\ufffd字节\ufffd"
    assert row.reasons == [{"code": "x", "params": {"name": "\ufffd.jpg"}}]


def test_clean_text_is_left_alone() -> None:
    text = "【报送】我公司参加2026中国机械工业博览会"
    assert storable(text) is text and storable("plain ascii") == "plain ascii"
