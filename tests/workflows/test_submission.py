"""信息报送: a submission is numbered, stored with what it carries, and answered with its reference."""

from __future__ import annotations

from dataclasses import replace

from builders import HandlerCall, photo
from sqlmodel import Session, select

from mailflow.store import Submission
from mailflow.workflows import submission
from mailflow.workflows.contract import Words


def test_a_submission_is_numbered_stored_and_acknowledged(handler_call: HandlerCall, session: Session) -> None:
    first, tx = handler_call("submission", category="technology", checks=(photo(), photo("logo.png", inline=True)))
    first = replace(first, mail=replace(first.mail, text="新产品下线。已经单位负责人审核。"))
    handled = submission.handle(first, tx)
    second = submission.handle(handler_call("submission")[0], tx)
    assert (handled.state, handled.reference, second.reference) == ("processed", "BS-2026-0001", "BS-2026-0002")
    assert handled.reply is not None and handled.reply.kind == "ack_submission"
    assert handled.reply.values["category_label"] == Words("先进技术", "advanced technology")
    stored = session.exec(select(Submission).where(Submission.reference == "BS-2026-0001")).one()
    assert (stored.title, stored.photo_count, stored.category) == (
        "新产品下线",
        2,
        "technology",
    )  # the tag is the category, not the title
