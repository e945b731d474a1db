"""Sample data for every message kind: what `mailflow check` renders each template with."""

from __future__ import annotations

from typing import Any

SAMPLES: dict[str, dict[str, Any]] = {
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
    },
    "ack_registration": {
        "name": "李明",
        "email": "liming@example.cn",
        "reference": "DJ-2026-0007",
        "certificate": "单位有效证明.pdf",
    },
    "rejection": {
        "name": "王芳",
        "original_subject": "【报送】新产品下线仪式",
        "received_at": "2026年11月24日 09:30",
        "reasons": [
            {
                "text": "照片 IMG_0012.jpg 为 640×480，低于 800×600 的要求",
                "fix": "请发送不低于 800×600 像素的原图（在手机上选择“原图”发送）。",
            }
        ],
    },
    "ack_reply": {
        "name": "王芳",
        "original_subject": "回复：【已收到】BS-2026-0042 我公司参加2026中国国际机床展览会",
        "received_at": "2026年11月24日 09:30",
        "letter_reference": "BS-2026-0042",
    },
    "ack_message": {
        "name": "王芳",
        "unit_name": "成都宏达机械有限公司",
        "intent_label": "会议回执",
        "reference": "SJ-2026-0108",
        "original_subject": "回复：关于召开2026年度联络员工作会议的通知",
        "received_at": "2026年11月24日 09:30",
        "attachments": [],
    },
    "digest": {
        "date": "2026年11月24日",
        "as_of": "2026年11月24日 08:30",
        "since": "2026年11月23日 08:30",
        "total": 3,
        "sections": [
            {
                "title": "联络员登记待审核",
                "items": [
                    {
                        "ref": "DJ-2026-0007",
                        "summary": "成都宏达机械有限公司 李明 liming@example.cn",
                        "command": "#批准 DJ-2026-0007",
                    }
                ],
            },
            {
                "title": "未能送达的邮件",
                "items": [
                    {
                        "ref": "#12",
                        "summary": "wang@example.cn《【已收到】BS-2026-0042》 发送失败：550 5.1.1 no such user",
                        "command": "#重发 12",
                    },
                    {
                        "ref": "#15",
                        "summary": "li@example.cn《【已收到】BS-2026-0043》 被退回：5.2.2 mailbox full",
                        "command": "#重发 15",
                    },
                ],
            },
        ],
    },
    "unknown_sender": {
        "email": "someone@example.net",
        "original_subject": "咨询入会事宜",
        "received_at": "2026年11月24日 09:30",
    },
}
