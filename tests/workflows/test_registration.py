"""登记 / 变更: a request is numbered by its kind, kept pending, and put before the secretariat."""

from __future__ import annotations

from builders import HandlerCall, photo
from sqlmodel import Session, select

from mailflow.store import Registration
from mailflow.workflows import registration
from mailflow.workflows.contract import Words


def test_registration_and_change_are_numbered_by_kind_and_wait(handler_call: HandlerCall, session: Session) -> None:
    message, tx = handler_call("registration", role="unknown", unit_id=None, checks=(photo("单位证明.jpg"),))
    handled = registration.handle(message, tx)
    change = registration.handle(handler_call("liaison_change")[0], tx)
    assert (handled.reference, change.reference) == ("DJ-2026-0001", "BG-2026-0001")
    assert handled.reply is not None and handled.reply.values["certificate"] == "单位证明.jpg"
    assert change.reply is not None and change.reply.values["certificate"] == Words("未附", "none attached")
    states = session.exec(select(Registration.kind, Registration.state)).all()
    assert sorted(states) == [("liaison_change", "pending"), ("registration", "pending")]
    assert "registration" in registration.WORKFLOW.open_to_unknown  # anyone may ask to register


def test_pending_registrations_need_a_decision(handler_call: HandlerCall, session: Session) -> None:
    message, tx = handler_call("registration")
    registration.handle(message, tx)
    (section,) = registration.WORKFLOW.digest
    assert section.decision
    (item,) = section.gather(session, tx.now, tx.now, "zh-CN")
    assert (item.ref, item.command) == ("DJ-2026-0001", "approve")
