"""Working days as a Chinese office counts them: the State Council's public holidays and their
adjusted workdays (调休), from the chinese-calendar package, the only module that imports it.

The package knows the years the State Council has announced (it raises NotImplementedError for
the others, 2027 while this is written). For those years the chamber writes its own dates in
config (`holidays.extra_off`, `holidays.extra_workdays`); in a year neither covers, Saturdays and
Sundays are off and nothing else is, and the secretariat is warned (`uncovered`). The chamber's
own dates win over the package's in every year: a local holiday, a Saturday the office works.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar

__all__ = ["WorkCalendar"]


@dataclass(frozen=True)
class WorkCalendar:
    extra_off: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_off:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:  # a year the package has no data for: weekends off
            return day.weekday() < 5

    def back(self, day: date, workdays: int) -> date:
        """The working day `workdays` working days before `day` (`day` itself when 0)."""
        found = day
        for _ in range(workdays):
            found -= timedelta(days=1)
            while not self.is_workday(found):
                found -= timedelta(days=1)
        return found

    def covered_by_package(self, year: int) -> bool:
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except NotImplementedError:
            return False
        return True

    def covered(self, year: int) -> bool:
        """The year's holidays are known: from the package, or from the chamber's own dates."""
        ours = any(d.year == year for d in (*self.extra_off, *self.extra_workdays))
        return ours or self.covered_by_package(year)

    def uncovered(self, days: Iterable[date]) -> list[int]:
        """The years of `days` nobody covers, in order."""
        return sorted({d.year for d in days if not self.covered(d.year)})

    def package_years(self) -> tuple[int, int]:
        """The first and last year the package covers."""
        years = [d.year for d in chinese_calendar.holidays]
        return min(years), max(years)
