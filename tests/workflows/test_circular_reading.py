"""GIVEN a circular's subject and text as the secretariat writes them WHEN read THEN the `#通知` line
gives the audience and the units and leaves the text, and the text is cut for the letter without a
character lost."""

from __future__ import annotations

import pytest

from mailflow.outbound.render import MAX_VALUE, plain_line
from mailflow.workflows.circular.reading import letter_lines, read_circular


@pytest.mark.parametrize(
    ("line", "audience", "units"),
    [
        ("#通知 全体联络员", "liaisons", ()),
        ("＃通知　全体负责人", "leaders", ()),  # as a Chinese input method types it
        ("#通知：全体", "all", ()),
        ("#circular Leaders", "leaders", ()),
        ("#通知 全体联络员 91510100MA61234567，91510100ma6123456x、U003", "liaisons",
         ("91510100MA61234567", "91510100MA6123456X", "U003")),
        ("#circular all U001, U002 U001", "all", ("U001", "U002")),
        ("#通知", None, ()),
    ],
)  # fmt: skip
def test_a_body_line_names_the_audience_and_the_units(line: str, audience: str | None, units: tuple[str, ...]) -> None:
    reading = read_circular("关于召开年度会议的通知", f"各位联络员：\n\n{line}\n\n请准时参加。")
    assert (reading.audience, reading.units, reading.found, reading.problems) == (audience, units, True, ())
    assert reading.body == "各位联络员：\n\n\n请准时参加。"  # the line gone, the blank lines around it kept
    assert reading.subject == "关于召开年度会议的通知"


def test_a_subject_line_names_the_audience_and_the_rest_is_the_title() -> None:
    reading = read_circular("回复：#通知 全体 关于缴纳2027年度会费的通知", "正文")
    assert (reading.audience, reading.subject, reading.body) == ("all", "关于缴纳2027年度会费的通知", "正文")
    untold = read_circular("#通知 关于缴纳2027年度会费的通知", "正文")
    assert (untold.audience, untold.subject, untold.found) == (None, "关于缴纳2027年度会费的通知", True)


def test_a_line_in_quoted_text_is_not_read_and_stays_in_the_text() -> None:
    body = "请转发。\n\n-----原始邮件-----\n发件人: 秘书处\n\n#通知 全体联络员\n旧通知"
    reading = read_circular("Fwd: 旧通知", body)
    assert (reading.found, reading.audience) == (False, None)
    assert "#通知 全体联络员" in reading.body


def test_an_unknown_audience_and_other_commands_are_problems() -> None:
    reading = read_circular("通知", "#通知 全体会员\n#重发 12\n\n正文")
    assert sorted(r.code for r in reading.problems) == ["circular_audience", "circular_with_commands"]
    assert "#重发 12" in reading.problems[0].zh + reading.problems[1].zh


def test_the_text_is_cut_for_the_letter_with_nothing_lost() -> None:
    chinese = "经研究，定于2026年12月8日召开年度联络员工作会议。" * 30
    english = "The meeting will review the year's work and plan the next. " * 12
    lines = letter_lines(f"{chinese}\n\n{english}\n")
    assert [len(line) > 1 for line in lines] == [True, False, True, False]
    for text, pieces in ((chinese, lines[0]), (english.rstrip(), lines[2])):
        assert all(len(piece) <= MAX_VALUE for piece in pieces)
        assert "".join(plain_line(piece) for piece in pieces) == text  # printed side by side, as the template does
