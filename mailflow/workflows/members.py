"""The member registry by mail: registrations (DJ-), changes (BG-), and the secretariat's decisions."""

from __future__ import annotations

from typing import Any

from mailflow.workflows import decisions
from mailflow.workflows.changes import Changes
from mailflow.workflows.contract import CommandSpec, DigestSection, Workflow
from mailflow.workflows.registration import Registrations, Secretariat


def workflow(secretariat: tuple[str, ...] = ()) -> Workflow:
    """`secretariat`: who is told of each complete application at once."""
    told = Secretariat(secretariat)
    registrations, changes = Registrations(told), Changes(told)
    return Workflow(
        name="registration",
        intents={
            "registration": registrations.register,
            "liaison_change": changes.liaison,
            "unit_change": changes.unit,
        },
        open_to_unknown=frozenset({"registration"}),  # anyone may ask to register
        new_record=frozenset({"registration", "liaison_change", "unit_change"}),
        follow_ups={"DJ": registrations.follow_up, "BG": registrations.follow_up},
        own_attachments=frozenset({"registration"}),  # a bad certificate is answered, not the whole mail refused
        labels={
            "registration": ("联络员登记", "liaison registration"),
            "liaison_change": ("联络员变更", "change of liaison"),
            "unit_change": ("单位信息变更", "change of unit details"),
        },
        commands=(
            CommandSpec(
                "approve",
                ("批准", "approve"),
                ("#批准 编号 [统一社会信用代码]", "#approve reference [credit-code]"),
                ("批准联络员登记或变更", "approve a registration or a change"),
                decisions.approve,
                min_args=1,
                max_args=2,
            ),
            CommandSpec(
                "return",
                ("退回", "return"),
                ("#退回 编号 原因", "#return reference reason"),
                ("退回登记或变更申请并说明原因", "send a registration or change back with the reason"),
                decisions.send_back,
                min_args=2,
            ),
            CommandSpec(
                "retire",
                ("离任", "retire"),
                ("#离任 联络员邮箱 [原因]", "#retire liaison-email [reason]"),
                ("联络员离任（无接任者时请单位推荐）", "a liaison leaves; the unit is asked for a successor"),
                decisions.retire,
                min_args=1,
            ),
        ),
        digest=(
            DigestSection(
                "registrations",
                ("联络员登记与变更待审核", "Registrations and changes to decide"),
                decisions.pending,
                True,
            ),
        ),
        samples=SAMPLES,
    )


_LINES = [
    {"label": "单位名称", "value": "成都宏达机械有限公司"},
    {"label": "统一社会信用代码", "value": "91510100MA6123456W"},
    {"label": "联络员", "value": "李明"},
    {"label": "职务", "value": "市场部经理"},
]
SAMPLES: dict[str, dict[str, Any]] = {
    "ack_registration": {
        "name": "李明", "email": "liming@example.cn", "reference": "DJ-2026-0007", "kind": "联络员登记",
        "complete": False, "certificate": "未附", "unreadable": ["登记表.jpg：图片文件已损坏，无法打开"],
        "types": "PDF、JPEG、PNG", "problems": [], "details": _LINES,
    },
    "registration_notice": {
        "reference": "DJ-2026-0007", "kind": "联络员登记", "name": "李明", "email": "liming@example.cn",
        "unit_name": "成都宏达机械有限公司", "unit_state": "在册会员单位（91510100MA6123456W）", "details": _LINES,
        "certificates": ["联络员登记表.pdf"], "approve_line": "#批准 DJ-2026-0007",
        "return_line": "#退回 DJ-2026-0007 原因",
    },
    "liaison_welcome": {
        "name": "李明", "email": "liming@example.cn", "unit_name": "成都宏达机械有限公司",
        "reference": "DJ-2026-0007", "kind": "联络员登记",
    },
    "liaison_replaced": {
        "name": "李明", "email": "liming@example.cn", "unit_name": "成都宏达机械有限公司",
        "reference": "BG-2026-0003", "kind": "联络员变更", "old_name": "王芳", "today": "2026-12-01",
    },
    "leader_notice": {
        "name": "李明", "email": "liming@example.cn", "unit_name": "成都宏达机械有限公司",
        "reference": "DJ-2026-0007", "kind": "联络员登记", "leader_name": "李建国", "old_names": "王芳",
    },
    "registration_returned": {
        "name": "李明", "reference": "DJ-2026-0007", "reason": "单位证明未加盖公章", "kind": "联络员登记",
    },
    "liaison_retired": {
        "leader_name": "李建国", "unit_name": "成都宏达机械有限公司", "name": "王芳", "today": "2026-12-01",
    },
    "unit_change_applied": {
        "name": "王芳", "unit_name": "成都宏达机械有限公司", "reference": "BG-2026-0004",
        "lines": ["地址：成都市高新区天府大道100号 → 成都市双流区航空港大道8号"],
    },
}  # fmt: skip
