"""GIVEN the State Council's holidays (chinese-calendar) and the chamber's own days in config WHEN the
reminder day is counted back from a due date THEN holidays and adjusted workdays (调休) count as a
Chinese office counts them; in a year nobody covers, weekends are off and the secretariat is told."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from builders import make_app, make_settings
from requesting import SECURITY, add_units, rows, secretariat

from mailflow.errors import ConfigError
from mailflow.workflows.requests import WorkCalendar

CALENDAR = WorkCalendar()


def test_national_day_and_its_adjusted_saturday_are_counted_as_offices_count_them() -> None:
    """2026: 1-7 October off; Saturday 10 October worked. Due Monday 12 October, 3 working days
    before: Saturday 10, Friday 9, Thursday 8: the reminders go on the 8th, not in the holiday."""
    assert not CALENDAR.is_workday(date(2026, 10, 5)) and CALENDAR.is_workday(date(2026, 10, 10))
    assert CALENDAR.back(date(2026, 10, 12), 3) == date(2026, 10, 8)
    assert CALENDAR.back(date(2026, 10, 9), 3) == date(2026, 9, 29)  # the 8th, then over Golden Week: 30, 29


def test_a_year_nobody_covers_has_weekends_off_and_the_config_days_apply() -> None:
    assert not CALENDAR.covered(2027) and CALENDAR.covered(2026) and CALENDAR.uncovered([date(2027, 1, 5)]) == [2027]
    assert CALENDAR.back(date(2027, 1, 5), 3) == date(2026, 12, 31)  # Monday 4, Friday 1 (a weekday, unknown), Thursday
    ours = WorkCalendar(frozenset({date(2027, 1, 1)}), frozenset({date(2027, 1, 2)}))
    assert ours.covered(2027) and not ours.is_workday(date(2027, 1, 1)) and ours.is_workday(date(2027, 1, 2))
    assert ours.back(date(2027, 1, 5), 3) == date(2026, 12, 31)  # Monday 4, Saturday 2 (worked), Thursday 31


def test_the_secretariat_is_told_when_the_due_date_falls_in_a_year_nobody_covers(tmp_path: Path) -> None:
    app = make_app(tmp_path, security=SECURITY)
    add_units(app, 2)
    secretariat(app, subject="#征集 2027年度工作计划 截止 2027-01-15 全体联络员")
    (report,) = rows(app, "request_report")
    assert "请注意：2027 年的法定节假日及调休安排尚未收录，工作日暂按周一至周五计算" in report.text
    assert "holidays.extra_off" in report.text
    app.clock.advance(days=1)  # type: ignore[attr-defined]
    app.scheduler.run_due()
    digest = rows(app, "digest")[-1]
    assert "报送任务：节假日安排未收录" in digest.text and "2027 年的法定节假日及调休安排尚未收录" in digest.text
    app.close()


@pytest.mark.parametrize(
    ("holidays", "said"),
    [
        ({"extra_off": ["2027-13-01"]}, "holidays.extra_off.0:"),
        ({"extra_workdays": ["tomorrow"]}, "holidays.extra_workdays.0:"),
        ({"extra_off": ["2027-01-02"], "extra_workdays": ["2027-01-02"]}, "both list 2027-01-02"),
        ({"extra_of": []}, "holidays.extra_of: unknown key"),
    ],
)
def test_a_wrong_holiday_setting_names_its_key(tmp_path: Path, holidays: dict[str, object], said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, holidays=holidays)
    assert any(said in problem for problem in caught.value.problems), caught.value.problems


def test_requests_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, requests={"remind_working_days": -1, "remind_at": "9点"})
    problems = " ".join(caught.value.problems)
    assert "requests.remind_working_days" in problems and "requests.remind_at" in problems
    settings = make_settings(tmp_path, requests={"remind_working_days": 0})
    assert settings.requests.remind_working_days == 0
