"""Each reason reads as a sentence in both locales, and each fix can be filled from its reason's parameters."""

from __future__ import annotations

import string

import pytest

from mailflow.reasons import FIXES, MESSAGES, Reason


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("code", sorted(FIXES))
def test_a_fix_needs_no_parameter_its_reason_lacks(code: str) -> None:
    zh, en = MESSAGES[code]
    for fix in FIXES[code]:
        assert fields(fix) <= fields(zh) | fields(en) | {"min_width", "min_height"}


def test_zh_wording_uses_full_width_punctuation() -> None:
    for zh, _ in MESSAGES.values():
        assert not set(",:()") & set(zh), zh


def test_a_reason_tells_how_to_put_it_right() -> None:
    reason = Reason("attachment_too_large", {"name": "a.pdf", "size_mb": 25, "limit_mb": 20})
    assert reason.fix("zh-CN") == "请将该附件压缩至 20 MB 以内，或分别发送。"
    assert reason.fix("en") == "Compress the attachment below 20 MB, or send it separately."
    assert Reason("unknown_intent").fix("zh-CN") == ""
