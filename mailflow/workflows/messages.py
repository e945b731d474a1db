"""Messages with no workflow of their own yet (meeting replies, dues receipts): each is numbered SJ-
(收件) and acknowledged, and the secretariat reads it. The meeting and dues workflows take these
intents over as they come; the requests workflow took `request_response`, and acknowledges here an
answer it cannot tie to a request."""

from __future__ import annotations

from mailflow.workflows.contract import Handled, Incoming, Reply, Words, Workflow
from mailflow.workflows.tx import Tx

PREFIX = "SJ"  # 收件
LABELS = {
    "rsvp": ("会议回执", "meeting reply"),
    "dues_receipt": ("会费缴纳凭证", "dues receipt"),
    "request_response": ("报送任务反馈", "answer to a request"),
}


def acknowledge(message: Incoming, tx: Tx) -> Handled:
    reference = tx.reference(PREFIX)
    label = Words(*LABELS[message.intent])
    return Handled(reference=reference, reply=Reply("ack_message", {"intent_label": label, "reference": reference}))


WORKFLOW = Workflow(
    name="messages",
    intents=dict.fromkeys(("rsvp", "dues_receipt"), acknowledge),
    labels={intent: LABELS[intent] for intent in ("rsvp", "dues_receipt")},
    samples={
        "ack_message": {
            "name": "王芳",
            "unit_name": "成都宏达机械有限公司",
            "intent_label": "会议回执",
            "reference": "SJ-2026-0108",
            "original_subject": "回复：关于召开2026年度联络员工作会议的通知",
            "received_at": "2026年11月24日 09:30",
            "attachments": [],
        }
    },
)
