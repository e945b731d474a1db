"""The event's date, read as Chinese offices write it, relative to the mail's date (mailflow.submissions.dates)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from mailflow.submissions.dates import days_late, event_date, mentions

SENT = date(2026, 11, 24)  # a Tuesday
CN_DIGITS = "〇一二三四五六七八九"


def cn(number: int) -> str:
    """11 -> 十一, 20 -> 二十, 31 -> 三十一, as a date is written in Chinese numerals."""
    tens, ones = divmod(number, 10)
    return ("" if tens == 0 else ("十" if tens == 1 else CN_DIGITS[tens] + "十")) + (CN_DIGITS[ones] if ones else "")


def cn_year(year: int) -> str:
    return "".join(CN_DIGITS[int(d)] for d in str(year))


# Every way of writing one day that the reader must understand, with a day and no reference point.
WRITINGS = (
    lambda d: f"{d.year}年{d.month}月{d.day}日",
    lambda d: f"{d.year}年{d.month:02d}月{d.day:02d}日",
    lambda d: f"{d.year} 年 {d.month} 月 {d.day} 日",
    lambda d: f"{d.year}年{d.month}月{d.day}号",
    lambda d: f"{d.month}月{d.day}日",
    lambda d: f"{d.month}月{d.day}号",
    lambda d: f"{d.month}.{d.day}",
    lambda d: f"{d.month}/{d.day}",
    lambda d: f"{d.year}-{d.month:02d}-{d.day:02d}",
    lambda d: f"{d.year}.{d.month}.{d.day}",
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{cn(d.month)}月{cn(d.day)}日",
    lambda d: f"{cn_year(d.year)}年{cn(d.month)}月{cn(d.day)}日",
    lambda d: f"{d.month}月{d.day}日".translate(str.maketrans("0123456789", "０１２３４５６７８９")),  # full-width
)
CONTEXTS = ("我公司于{}参加2026中国机械工业博览会。", "{}，我公司新产品下线仪式隆重举行", "【报送】{}技术交流会")


def test_every_writing_of_every_recent_day_reads_back_as_that_day() -> None:
    """GIVEN mails sent on days across two years (leap day and new year included) WHEN each names an
    event 0-30 days before, in every writing THEN the reader finds exactly that day."""
    rng = random.Random(20261124)
    sent_days = [date(2027, 1, 3), date(2028, 3, 1), date(2026, 1, 1), SENT] + [
        date(2026, 1, 1) + timedelta(days=rng.randrange(730)) for _ in range(60)
    ]
    for sent in sent_days:
        for back in (0, 1, 6, 7, 8, rng.randrange(31)):
            day = sent - timedelta(days=back)
            for write in WRITINGS:
                text = rng.choice(CONTEXTS).format(write(day))
                found = event_date("", f"秘书处：\n\n{text}\n\n王芳", sent)
                assert found is not None and found.day == day, (sent, text, found)
                found = event_date(write(day), "", sent)  # a subject that is only the date
                assert found is not None and found.day == day, (sent, write(day), found)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("今天", date(2026, 11, 24)),
        ("今日", date(2026, 11, 24)),
        ("昨天", date(2026, 11, 23)),
        ("昨日", date(2026, 11, 23)),
        ("前天", date(2026, 11, 22)),
        ("大前天", date(2026, 11, 21)),
        ("上周五", date(2026, 11, 20)),
        ("上星期五", date(2026, 11, 20)),
        ("上礼拜五", date(2026, 11, 20)),
        ("上周日", date(2026, 11, 22)),
        ("上上周三", date(2026, 11, 11)),
        ("本周一", date(2026, 11, 23)),
        ("这周一", date(2026, 11, 23)),
        ("本星期二", date(2026, 11, 24)),
        ("周三", date(2026, 11, 18)),  # the most recent Wednesday: last week's
        ("星期二", date(2026, 11, 24)),  # today is one
        ("礼拜天", date(2026, 11, 22)),
    ],
)
def test_relative_days_count_from_the_mails_date(written: str, expected: date) -> None:
    found = event_date(f"【报送】{written}我公司举办技术培训", "", SENT)
    assert found is not None and (found.day, found.written) == (expected, written)


@pytest.mark.parametrize(
    "text",
    [
        "我公司定于12月5日召开新产品发布会，欢迎参加。",  # an announcement: after the mail's date
        "下周三我公司将举办开放日",
        "本周五将举行签约仪式",  # later this week
        "一季度销售收入同比增长11.20%，利润3.5万元",  # amounts, not dates
        "软件升级到V2.10版本",
        "公司成立于2015年3月12日",  # background: more than a year ago
        "每周三下午为技术交流时间",
        "无日期的来稿",
        "13月45日",
        "2026年2月30日",
    ],
)
def test_what_is_not_the_date_of_a_past_event_gives_none(text: str) -> None:
    assert event_date("", text, SENT) is None


def test_a_date_without_a_year_takes_the_year_nearest_the_mail() -> None:
    found = event_date("【报送】12月28日我公司年会", "", date(2027, 1, 3))
    assert found is not None and found.day == date(2026, 12, 28)
    assert days_late(found.day, date(2027, 1, 3), 7) is None  # six days: in time across new year
    found = event_date("【报送】1月2日开工仪式", "", date(2027, 1, 3))
    assert found is not None and found.day == date(2027, 1, 2)


def test_the_subject_comes_before_the_body_and_the_first_paragraph_before_the_signature() -> None:
    body = "秘书处：\n\n11月18日，我公司承办的行业论坛召开。会议回顾了2026年3月5日启动的项目。\n\n王芳\n2026年11月24日"
    found = event_date("【报送】上周五行业论坛", body, SENT)
    assert found is not None and (found.day, found.place) == (date(2026, 11, 20), "subject")
    found = event_date("【报送】行业论坛", body, SENT)
    assert found is not None and (found.day, found.written, found.place) == (date(2026, 11, 18), "11月18日", "body")


def test_the_signature_date_and_quoted_text_are_not_the_event() -> None:
    signed_only = "秘书处：\n我公司新产品下线。\n王芳\n宏达机械有限公司\n2026年11月24日"
    assert event_date("【报送】新产品下线", signed_only, SENT) is None
    quoted = "请见附件。\n\n------------------ 原始邮件 ------------------\n发件人：秘书处\n11月2日的通知"
    assert event_date("回复：通知", quoted, SENT) is None


def test_a_future_date_in_the_subject_does_not_hide_the_past_one_in_the_body() -> None:
    found = event_date("【报送】12月5日签约仪式筹备情况", "11月20日，我公司召开筹备会。", SENT)
    assert found is not None and found.day == date(2026, 11, 20)


def test_the_first_past_date_of_a_passage_is_the_event() -> None:
    assert [d for d, _ in mentions("11月20日至22日，以及12月1日", SENT)] == [date(2026, 11, 20), date(2026, 12, 1)]
    found = event_date("", "11月20日我公司参加展会，12月1日将举办发布会。", SENT)
    assert found is not None and found.day == date(2026, 11, 20)


@pytest.mark.parametrize(
    ("event", "window", "late"),
    [(date(2026, 11, 17), 7, None), (date(2026, 11, 16), 7, 1), (date(2026, 11, 1), 7, 16), (SENT, 1, None),
     (date(2026, 11, 23), 1, None), (date(2026, 11, 22), 1, 1), (date(2026, 11, 24), 0, None),
     (date(2026, 11, 23), 0, 1)],
)  # fmt: skip
def test_days_late_are_the_days_past_the_window(event: date, window: int, late: int | None) -> None:
    assert days_late(event, SENT, window) == late


@pytest.mark.parametrize(
    ("text", "sent", "day"),
    [
        ("本月20日，我公司召开年度表彰大会。", SENT, date(2026, 11, 20)),
        ("上月28日我公司举办开放日活动。", SENT, date(2026, 10, 28)),
        ("20日上午，我公司新厂区奠基仪式举行。", SENT, date(2026, 11, 20)),
        ("我公司于二十二日召开年会。", SENT, date(2026, 11, 22)),
        ("28日下午，公司举行签约仪式。", date(2026, 12, 3), date(2026, 11, 28)),  # not come yet: last month's
        ("上个月15日，我公司通过了质量体系认证。", date(2027, 1, 10), date(2026, 12, 15)),  # across the year
    ],
)
def test_a_day_written_without_its_month_is_this_months_or_the_last(text: str, sent: date, day: date) -> None:
    found = event_date("", f"秘书处：\n\n{text}", sent)
    assert found is not None and found.day == day


@pytest.mark.parametrize(
    "text", ["请在30日内报送材料。", "本次考察共计15日，收获颇丰。", "截至20日，累计签约三千万元。", "组织员工3日游。"]
)
def test_a_number_of_days_is_not_a_date(text: str) -> None:
    assert mentions(text, SENT) == []
