"""信息报送: a liaison's news, technology or demand report becomes a Submission with a reference."""

from __future__ import annotations

import re

from mailflow.store import Submission
from mailflow.workflows.contract import Handled, Incoming, Reply, Words, Workflow
from mailflow.workflows.tx import Tx

PREFIX = "BS"  # 报送

# The chamber's names for the categories of regulation Ch. 4.
CATEGORY_LABELS = {
    "news": ("工作动态", "work news"),
    "technology": ("先进技术", "advanced technology"),
    "demand": ("行业难点与企业诉求", "industry difficulties and demands"),
    "suggestion": ("意见和建议", "opinions and suggestions"),
    "unit_info": ("单位基本信息变更", "change of the unit's basic information"),
    "event": ("重要会议、活动信息", "important meeting or event"),
}


# What the subject carries besides the title: reply and forward marks, and the bracketed tags the
# rules read the category from (【报送】, [投稿], 【报送-技术】 …).
_NOT_TITLE = re.compile(r"^\s*(?:(?:re|fw|fwd|回复|答复|转发)\s*[:：]\s*|[【\[][^】\]]{0,12}[】\]]\s*)+", re.IGNORECASE)


def title_of(subject: str) -> str:
    """The submission's title: its subject without reply marks and tags, on one line."""
    line = " ".join(subject.split())
    return _NOT_TITLE.sub("", line).strip() or line


def handle(message: Incoming, tx: Tx) -> Handled:
    reference = tx.reference(PREFIX)
    tx.add(
        Submission(
            reference=reference,
            inbound_id=message.inbound_id,
            unit_id=message.unit_id,
            liaison_id=message.liaison_id,
            category=message.category,
            title=title_of(message.mail.subject)[:500],
            text=message.mail.text,
            photo_count=message.photos,
            created_at=tx.now,
            updated_at=tx.now,
        )
    )
    category = message.category or "news"
    values = {
        "liaison_name": message.name,
        "reference": reference,
        "title": title_of(message.mail.subject),
        "category_label": Words(*CATEGORY_LABELS.get(category, (category, category))),
    }
    return Handled(reference=reference, reply=Reply("ack_submission", values))


WORKFLOW = Workflow(
    name="submission",
    intents={"submission": handle},
    new_record=frozenset({"submission"}),
    samples={
        "ack_submission": {
            "liaison_name": "王芳",
            "unit_name": "成都宏达机械有限公司",
            "reference": "BS-2026-0042",
            "title": "我公司参加2026中国国际机床展览会",
            "category_label": "工作动态",
            "received_at": "2026年11月24日 09:30",
            "attachments": [
                {"name": "展会现场照片.jpg", "width": 1600, "height": 1200},
                {"name": "新闻稿.docx", "width": None, "height": None},
            ],
        }
    },
)
