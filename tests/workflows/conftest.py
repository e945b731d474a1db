"""What a workflow's handler is called with, against a real store: an archived message row, its
plain values (Incoming) and a transaction helper (Tx) over an open session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from builders import LIAISON, HandlerCall
from sqlmodel import Session

from mailflow.app import App
from mailflow.parse.model import Address, ParsedMail
from mailflow.store import InboundMessage
from mailflow.workflows.contract import Incoming
from mailflow.workflows.tx import Tx


@pytest.fixture
def session(app: App) -> Iterator[Session]:
    """A session over the shared `app` fixture's store (tests/conftest.py)."""
    with app.store.session() as open_session:
        yield open_session


@pytest.fixture
def handler_call(app: App, session: Session) -> HandlerCall:
    """(Incoming, Tx) for a message with `intent`; keywords replace Incoming's fields."""

    def make(intent: str, **fields: Any) -> tuple[Incoming, Tx]:
        row = InboundMessage(source="t", folder="INBOX", uid=str(id(fields)), sha256="0" * 64, intent=intent)
        session.add(row)
        session.flush()
        mail = ParsedMail(message_id="m@x", subject="【报送】新产品下线", from_=Address("王芳", LIAISON), text="正文")
        message = Incoming(
            inbound_id=row.id or 0,
            intent=intent,
            category=None,
            sender=LIAISON,
            role="liaison",
            name="王芳",
            unit_id=1,
            unit_name="宏达机械有限公司",
            liaison_id=1,
            mail=mail,
            checks=(),
            authenticated=False,
            received_at=app.clock.now(),
        )
        tx = Tx(session, now=app.clock.now(), zone=app.settings.chamber.zone, message_id_domain="x.cn")
        return replace(message, **fields), tx

    return make
