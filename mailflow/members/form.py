"""The details a liaison writes into a registration or change mail, as Chinese offices write a form:
one `项目：内容` per line (or several on a line, split by `；` or wide spaces), under the same column
names the member spreadsheet uses (mailflow.members.columns): 单位名称, 统一社会信用代码, 联络员, 职务,
手机, 邮箱, 负责人, 负责人邮箱, 地址 …

An attribute alone (姓名, 手机, 邮箱) belongs to the person named on a line above it, else to the
liaison: the person a registration is about. 新联络员/拟任联络员 name the liaison a change brings;
原联络员/现联络员 the one it ends, which is never read as the new one. Only the sender's own text is
read (quoted mail is cut off first), and every value becomes one plain line of bounded length.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from mailflow.commands import own_text
from mailflow.members.columns import classify_header, normalise
from mailflow.members.uscc import code_fault, normalise_code

MAX_VALUE = 200
_KEY_VALUE = re.compile(r"^[\s*•·\-–—\d.、)）(（]*([^:：\n]{1,24}?)\s*[:：]\s*(.*)$")
_SPLIT = re.compile(r"[；;]|\t|[ \u3000]{2,}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-']+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_NEW_PREFIXES = ("新任", "新", "拟任", "拟")
_OLD_PREFIXES = ("原任", "原", "现任", "现", "旧", "前任")
_JOINING_KEYS = {"新入会", "申请入会", "入会申请", "是否新会员", "是否新入会", "新会员", "newmember", "joining"}
_FORM_WORDS = {"申请人": "联络员", "申请人姓名": "联络员", "本人": "联络员"}  # a form's words the sheet never uses
_YES = {"是", "yes", "y", "true", "√", "✓", "新入会", "申请入会", "新会员", "是新会员", "是新入会"}


@dataclass(frozen=True)
class Form:
    """What the mail's form says, by the spreadsheet's field names (name, code, liaison_email …)."""

    values: dict[str, str] = field(default_factory=dict)
    joining: bool = False  # the unit asks to become a member: it is created on approval
    problems: tuple[tuple[str, str], ...] = ()  # (zh-CN, en): a value that cannot be right

    def get(self, name: str) -> str:
        return self.values.get(name, "")


def read_form(body: str) -> Form:
    values: dict[str, str] = {}
    joining = False
    context: str | None = None
    for line in own_text(body).split("\n"):
        for segment in _SPLIT.split(line):
            found = _KEY_VALUE.match(segment.strip())
            if not found:
                continue
            key, value = found.group(1).strip(), _one_line(found.group(2))
            bare = normalise(key)
            if bare in _JOINING_KEYS:
                joining = joining or normalise(value) in _YES
                continue
            if bare.startswith(_OLD_PREFIXES) and not bare.startswith(_NEW_PREFIXES):
                context = "old"  # 原联络员 and the lines about that person are not the new liaison
                continue
            for prefix in _NEW_PREFIXES:
                if bare.startswith(prefix) and len(bare) > len(prefix):
                    bare = bare[len(prefix) :]
                    break
            bare = _FORM_WORDS.get(bare, bare)
            assumed = None if context == "old" else (context or "liaison")
            name, person = classify_header(bare, None, assumed)
            if name is None:
                continue  # not a field, or an attribute of the liaison a change ends
            if person != assumed:
                context = person  # a line naming a person: the attributes below are that person's
            if value and name not in values:
                values[name] = value
    return _checked(values, joining)


def _one_line(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())[:MAX_VALUE]


def _checked(values: dict[str, str], joining: bool) -> Form:
    problems: list[tuple[str, str]] = []
    for name in ("liaison_email", "leader_email"):
        if name in values:
            found = _EMAIL.search(unicodedata.normalize("NFKC", values[name]))
            if found:
                values[name] = found.group(0).lower()
            else:
                who = "联络员" if name.startswith("liaison") else "负责人"
                problems.append((f"{who}邮箱“{values[name]}”不是有效的邮箱地址", f"{values[name]!r} is not an email"))
                del values[name]
    if "code" in values:
        values["code"] = normalise_code(values["code"])
        fault = code_fault(values["code"])
        if fault is not None:
            problems.append(
                (f"统一社会信用代码 {values['code']} 有误：{fault[0]}", f"credit code {values['code']}: {fault[1]}")
            )
            del values["code"]
    return Form(values, joining, tuple(problems))


# How each field is named in our letters (zh-CN, en), in the order a form is read.
LABELS: dict[str, tuple[str, str]] = {
    "name": ("单位名称", "Unit"),
    "code": ("统一社会信用代码", "Credit code"),
    "member_class": ("会员类别", "Member class"),
    "address": ("地址", "Address"),
    "leader_name": ("单位负责人", "Leader"),
    "leader_email": ("负责人邮箱", "Leader's email"),
    "leader_phone": ("负责人手机", "Leader's mobile"),
    "liaison_name": ("联络员", "Liaison"),
    "liaison_position": ("职务", "Position"),
    "liaison_phone": ("联络员手机", "Liaison's mobile"),
    "liaison_email": ("联络员邮箱", "Liaison's email"),
}
