"""Meeting replies, dues receipts and answers to a request: numbered SJ- and acknowledged."""

from __future__ import annotations

from builders import HandlerCall

from mailflow.workflows import messages
from mailflow.workflows.contract import Words


def test_each_is_numbered_and_acknowledged_with_its_kind(handler_call: HandlerCall) -> None:
    rsvp, tx = handler_call("rsvp")
    receipt, _ = handler_call("dues_receipt")
    first, second = messages.acknowledge(rsvp, tx), messages.acknowledge(receipt, tx)
    assert (first.reference, second.reference) == ("SJ-2026-0001", "SJ-2026-0002")
    assert first.reply is not None and first.reply.kind == "ack_message"
    assert first.reply.values["intent_label"] == Words("会议回执", "meeting reply")
    assert second.reply is not None and second.reply.values["intent_label"] == Words("会费缴纳凭证", "dues receipt")
