"""What a workflow's handler is called with, against a real store: an archived message row, its
plain values (Incoming) and a transaction helper (Tx) over an open session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from builders import LIAISON, HandlerCall, add_liaison, make_app
from sqlmodel import Session

from mailflow.app import App
from mailflow.parse.model import Address, ParsedMail
from mailflow.store import InboundMessage
from mailflow.workflows.contract import Incoming
from mailflow.workflows.tx import Tx


@pytest.fixture
def store_app(tmp_path: Path) -> Iterator[App]:
    application = make_app(tmp_path)
    add_liaison(application)
    yield application
    application.close()


@pytest.fixture
def session(store_app: App) -> Iterator[Session]:
    with store_app.store.session() as open_session:
        yield open_session


@pytest.fixture
def handler_call(store_app: App, session: Session) -> HandlerCall:
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
            received_at=store_app.clock.now(),
        )
        tx = Tx(session, now=store_app.clock.now(), zone=store_app.settings.chamber.zone, message_id_domain="x.cn")
        return replace(message, **fields), tx

    return make
