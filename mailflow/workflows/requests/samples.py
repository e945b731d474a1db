"""Sample values of the requests' letters, for `mailflow check` and the template tests."""

from __future__ import annotations

from typing import Any

_LINES = [
    ["为做好2026年度会员企业经营情况分析，现请各会员单位报送以下材料："],
    [],
    ["一、2026年1-11月主要经济指标（营业收入、利润总额、出口额）；"],
    ["二、企业发展中遇到的主要困难和对商会工作的建议。"],
    [],
    ["联系方式：张敏，028-86001234"],
]
SAMPLES: dict[str, dict[str, Any]] = {
    "request_letter": {
        "reference": "ZJ-2026-0003", "title": "2026年度会员企业经营情况调查", "lines": _LINES,
        "due": "2026年12月15日（星期二）", "due_short": "12月15日", "files": ["2026年度经营情况调查表.xlsx"],
    },
    "request_reminder": {
        "reference": "ZJ-2026-0003", "title": "2026年度会员企业经营情况调查", "lines": _LINES,
        "due": "2026年12月15日（星期二）", "due_short": "12月15日", "sent_on": "2026年11月24日（星期二）",
    },
    "request_report": {
        "name": "秘书处", "original_subject": "#征集 2026年度会员企业经营情况调查 截止 2027-01-15 全体联络员",
        "received_at": "2026年11月24日 09:30", "reference": "ZJ-2026-0003", "title": "2026年度会员企业经营情况调查",
        "due": "2027年1月15日（星期五）", "units": "", "letters": 285,
        "unreached": ["成都华西重工有限公司（91510100MA61234567）"], "more_unreached": 0,
        "remind_on": "2027年1月12日（星期二）", "working_days": 3, "uncovered": "2027", "repeated": False,
    },
    "ack_request_response": {
        "name": "王芳", "unit_name": "成都宏达机械有限公司", "reference": "BS-2026-0042",
        "title": "回复：【报送任务】ZJ-2026-0003 2026年度会员企业经营情况调查",
        "original_subject": "回复：【报送任务】ZJ-2026-0003 2026年度会员企业经营情况调查",
        "received_at": "2026年12月16日 10:12", "request_reference": "ZJ-2026-0003",
        "request_title": "2026年度会员企业经营情况调查", "due": "2026年12月15日（星期二）", "days_after_due": 1,
        "closed_on": "", "asked": True, "first": True,
        "attachments": [{"name": "经营情况表.xlsx", "width": None, "height": None}],
    },
}  # fmt: skip
