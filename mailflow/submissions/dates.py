"""The date of the event a submission reports, read as Chinese offices write it, relative to the mail's date.

Pure functions of text and a date. Read, in order: the subject, then the body's first
paragraphs (a salutation such as "秘书处：" is not one). The first date of the first place that has
one wins, so the event beats the later history and the signature. Left out on purpose:
- a date after the mail's date: an announcement ("定于12月5日召开") is not a late report;
- a line that is nothing but a date: the letter's own date under the signature;
- quoted or forwarded text (">" lines, "-----原始邮件-----", "发件人：" blocks);
- a date older than `history_days`: background ("公司成立于2015年3月12日"), not the event.
A day without its month ("本月20日", "上月28日", "20日上午") is in the mail's month, or the month
before when named so or when the day has not come yet. A date without a year takes the year that
puts it nearest the mail's date, so a mail of
2027-01-03 saying 12月28日 means 2026-12-28, and one of 2026-11-24 saying 12月5日 means the coming
December (left out: future). A weekday alone ("周三") is the most recent one, today included.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

_CN = "〇零○一二两三四五六七八九十"
_NUM = f"(?:\\d{{1,2}}|[{_CN}]{{1,3}})"
_DIGIT = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "○": 0, "两": 2}
_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_RELATIVE = {"大前天": -3, "前天": -2, "前日": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0, "当天": 0}
_WEEK_SHIFT = {"上上": -14, "上": -7, "本": 0, "这": 0, "这个": 0, "下": 7, "下个": 7}
# Numbers followed by these are amounts, not dates: "11.20%", "3.5万元", "2/3倍".
_AMOUNT = "(?:\\s*(?:%|万|亿|元|千|百|吨|米|公里|千克|克|个|台|件|倍|人|家|项|mm|cm|kg|km|m²))"
_PATTERN = re.compile(
    "|".join(
        (
            f"(?P<y>\\d{{4}}|[{_CN}]{{4}})\\s*年\\s*(?P<m>{_NUM})\\s*月\\s*(?P<d>{_NUM})\\s*[日号]",
            r"(?<![0-9])(?P<iy>\d{4})[-./](?P<im>\d{1,2})[-./](?P<id>\d{1,2})(?![0-9]|\.[0-9])",
            f"(?<![0-9{_CN}])(?P<mm>{_NUM})\\s*月\\s*(?P<md>{_NUM})\\s*[日号]",
            f"(?<![A-Za-z0-9./:\\-])(?P<nm>\\d{{1,2}})[./](?P<nd>\\d{{1,2}})(?![0-9./:\\-]|{_AMOUNT})",
            "(?P<rel>大前天|前天|前日|昨天|昨日|今天|今日|当天)",
            # A day without its month: "本月20日", "上月28日", and "20日上午" (a time of day or a verb
            # after it says it is a date, not "30日内" or "3日游").
            f"(?P<om>本月|上月|上个月|这个月)\\s*(?P<od>{_NUM})\\s*[日号]",
            # at a sentence's start or after 于/在 ("共计15日，" is a length, "截至20日" not the event)
            f"(?<![^\\s。，,；;、:：于在])(?P<bd>{_NUM})\\s*[日号]"
            "(?=\\s*(?:上午|下午|晚上?|早上|早晨|凌晨|中午|[,，]|在|于|召开|举行|举办|开幕|闭幕))",
            "(?<!每)(?P<wk>上上|上|本|这个|这|下个|下)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天])",
        )
    )
)
_QUOTED = re.compile(
    r"^\s*(?:>|-{2,}\s*(?:原始邮件|Original Message|转发邮件|Forwarded)|_{5,}|发件人\s*[:：]|From:\s|"
    r"在\s.*写道\s*[:：]?\s*$|On\s.*wrote:\s*$|-- ?$)",
    re.IGNORECASE,
)
_SALUTATION = re.compile(r"^(?:尊敬的)?[^。！!？?，,]{0,20}[:：]$|^(?:您好|你好|各位好)[!！,，。]?$")


@dataclass(frozen=True)
class Found:
    day: date
    written: str  # as the mail wrote it: "11月20日", "上周五"
    place: str  # "subject" | "body"


def event_date(subject: str, body: str, sent: date, *, paragraphs: int = 2, history_days: int = 365) -> Found | None:
    """The date of what the mail reports, or None when it names none that can be."""
    places = [("subject", subject)] + [("body", p) for p in first_paragraphs(body, paragraphs)]
    for place, text in places:
        for day, written in mentions(text, sent):
            if day <= sent and (sent - day).days <= history_days:
                return Found(day, written, place)
    return None


def days_late(event: date, sent: date, window: int) -> int | None:
    """Days past the `window` the regulation allows between an event and its report; None if in time."""
    elapsed = (sent - event).days
    return elapsed - window if elapsed > window else None


def mentions(text: str, sent: date) -> list[tuple[date, str]]:
    """Every date the text names, in order, each resolved against the mail's date (future ones too)."""
    text = unicodedata.normalize("NFKC", text)
    found: list[tuple[date, str]] = []
    for match in _PATTERN.finditer(text):
        day = _resolve(match, sent)
        if day is not None:
            found.append((day, match.group(0)))
    return found


def first_paragraphs(body: str, count: int) -> list[str]:
    """The body's first `count` paragraphs of its own text: no salutation, quote, signature date."""
    lines: list[str] = []
    for line in unicodedata.normalize("NFKC", body).splitlines():
        if _QUOTED.match(line):
            break
        lines.append("" if _only_a_date(line) else line.strip())
    blocks = [b.strip() for b in re.split(r"\n\s*\n", "\n".join(lines)) if b.strip()]
    if len(blocks) == 1:  # written without blank lines: each line is a paragraph
        blocks = [line for line in blocks[0].splitlines() if line.strip()]
    return [b for b in blocks if not _SALUTATION.match(b)][:count]


def _only_a_date(line: str) -> bool:
    rest = _PATTERN.sub("", line)
    return rest != line and not re.sub(r"[\s,，.。:：()（）\-—]", "", rest)


def _resolve(match: re.Match[str], sent: date) -> date | None:
    try:
        return _read({name: value or "" for name, value in match.groupdict().items()}, sent)
    except (KeyError, ValueError):  # numerals that make no number ("十十")
        return None


def _read(groups: dict[str, str], sent: date) -> date | None:
    if groups["y"]:
        return _day(_number(groups["y"]), _number(groups["m"]), _number(groups["d"]))
    if groups["iy"]:
        return _day(int(groups["iy"]), int(groups["im"]), int(groups["id"]))
    if groups["mm"] or groups["nm"]:
        month = _number(groups["mm"] or groups["nm"])
        day = _number(groups["md"] or groups["nd"])
        options = [d for d in (_day(sent.year + k, month, day) for k in (-1, 0, 1)) if d is not None]
        return min(options, key=lambda d: abs((d - sent).days)) if options else None
    if groups["rel"]:
        return sent + timedelta(days=_RELATIVE[groups["rel"]])
    if groups["od"] or groups["bd"]:
        day = _number(groups["od"] or groups["bd"])
        back = 1 if groups["om"] in ("上月", "上个月") else 0
        if groups["bd"] and day > sent.day:  # "20日上午" in a mail of the 3rd: last month's
            back = 1
        year, month = (sent.year, sent.month - back) if sent.month > back else (sent.year - 1, 12)
        return _day(year, month, day)
    weekday = _WEEKDAY[groups["wd"]]
    if not groups["wk"]:  # the most recent such day, today included
        return sent - timedelta(days=(sent.weekday() - weekday) % 7)
    monday = sent - timedelta(days=sent.weekday())
    return monday + timedelta(days=_WEEK_SHIFT[groups["wk"]] + weekday)


def _number(written: str) -> int:
    if written.isdigit():
        return int(written)
    if "十" in written:
        tens, _, ones = written.partition("十")
        return (_DIGIT[tens] if tens else 1) * 10 + (_DIGIT[ones] if ones else 0)
    return int("".join(str(_DIGIT[c]) for c in written))


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
