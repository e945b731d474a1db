"""The scheduler: declared jobs on a `schedule.Scheduler()`, times in the chamber's zone, time from our clock.

The schedule library reads `datetime.datetime.now()` and has no way to be given a clock
(its maintainers declined one, dbader/schedule#362). While the scheduler works, the module's
`datetime` is therefore swapped for one whose `now()` is our clock's instant as naive local
time in the configured zone, which is also what `.at("08:30")` means.

Every job is idempotent and catches up. A run is for a *slot*, the scheduled local time it
stands for; the slot is recorded (JobRun, unique per job and slot) in the transaction that
does the job's work. A job that fires runs its slot; at start every job runs its latest slot
if that is not recorded yet, so a restart after a day of downtime runs it once, for the
latest slot, not once per missed day. Two daemons started by mistake race to record the same
slot; the loser's transaction is refused and rolled back. Slots before the first start of
a job are not missed work: the first start records the latest slot without running it.

The ledger is keyed by the slot's time, so a changed time makes new slots: a slot earlier than
the last one recorded is never run (after `at` moved from 08:30 to 09:00, yesterday's 09:00 is
no missed work), and a job declared `once_a_day` (the digest) runs at most once per local date,
whatever time the schedule names; its dedupe keys are made of the date (`JobContext.key`).
"""

from __future__ import annotations

import datetime as dt
import logging
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import schedule
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mailflow.clock import Clock
from mailflow.store import JobRun, Store

log = logging.getLogger("mailflow.jobs")
_SLOT = "%Y-%m-%dT%H:%M"  # how a slot is recorded: local wall time
_FIRST_START = "first start"  # the outcome recorded for the slot before a job's first start


@dataclass(frozen=True)
class JobContext:
    session: Session
    now: dt.datetime  # the clock's instant (UTC)
    slot: dt.datetime  # the scheduled local time this run stands for, aware, in the chamber's zone
    previous: dt.datetime | None  # the slot of the job's last run, if any
    key: str  # what dedupe keys are made of: the slot's local wall time, 2026-11-24T08:30, or its date


Work = Callable[[JobContext], str]  # returns a word for the record: "sent", "empty", …
Declare = Callable[[schedule.Scheduler], schedule.Job]


@dataclass(frozen=True)
class Job:
    name: str
    declare: Declare  # e.g. lambda s: s.every().day.at("08:30")
    work: Work
    once_a_day: bool = False  # at most one run per local date, whichever time the schedule names


class Scheduler:
    def __init__(self, jobs: Sequence[Job], store: Store, clock: Clock, zone: ZoneInfo) -> None:
        self.store, self.clock, self.zone = store, clock, zone
        self.schedule = schedule.Scheduler()
        self.jobs = {job.name: job for job in jobs}
        self._caught_up = False
        # This scheduler's own `datetime` for the schedule module: now() is our clock, in our zone.
        local: type[_LocalDatetime] = type("LocalDatetime", (_LocalDatetime,), {"clock": clock, "zone": zone})
        self._module = types.SimpleNamespace(
            datetime=local, date=dt.date, time=dt.time, timedelta=dt.timedelta, tzinfo=dt.tzinfo
        )
        self._now = local.now
        with self._time():
            self._entries = {job.name: job.declare(self.schedule).do(self._fire, job.name) for job in jobs}

    def run_due(self) -> list[str]:
        """Run what is due now; the first call also catches up on what was missed. Returns what ran."""
        ran: list[str] = []
        with self._time():
            if not self._caught_up:
                for name in self._entries:
                    ran += self._run(name, catching_up=True)
                self._caught_up = True
            for entry in [e for e in self.schedule.jobs if e.should_run]:
                ran += entry.run() or []  # schedule reschedules the entry after the call
        return ran

    def seconds_to_next(self) -> float | None:
        """How long until the next job is due: the longest the daemon should wait."""
        with self._time():
            idle = self.schedule.idle_seconds
        return None if idle is None else max(0.0, idle)

    # -- internals -------------------------------------------------------------------------

    def _fire(self, name: str) -> list[str]:
        return self._run(name, catching_up=False)

    def _run(self, name: str, *, catching_up: bool) -> list[str]:
        job = self.jobs[name]
        wall = self._latest_slot(self._entries[name])
        at = wall.strftime(_SLOT)  # local wall time: a repeated hour (DST) is one slot
        key = wall.date().isoformat() if job.once_a_day else at
        slot = _aware(wall, self.zone)
        now = self.clock.now()
        try:
            with self.store.session() as session:
                ran = session.exec(select(JobRun.id).where(JobRun.job == name, JobRun.slot == at)).first()
                if ran is not None:
                    return []
                last = session.exec(select(JobRun).where(JobRun.job == name).order_by(col(JobRun.id).desc())).first()
                if last is None and catching_up:
                    # The first start: slots before it were nobody's work.
                    session.add(JobRun(job=name, slot=at, outcome=_FIRST_START, done_at=now))
                    return []
                if self._done_already(job, last, wall):
                    return []
                previous = _parse_slot(last.slot, self.zone) if last else None
                outcome = job.work(JobContext(session, now, slot, previous, key))
                session.add(JobRun(job=name, slot=at, outcome=outcome[:40], done_at=now))
        except IntegrityError:
            log.info("job %s for %s was run by another process", name, key)
            return []
        log.info("job %s ran for %s: %s", name, at, outcome, extra={"job": name, "slot": at})
        return [name]

    def _done_already(self, job: Job, last: JobRun | None, wall: dt.datetime) -> bool:
        """Whether this slot's work was done under another slot, which happens when the schedule's
        time was changed: a slot before the last one recorded (yesterday's 09:00, once 08:30 has run
        today and `at` says 09:00 now), or, for a once-a-day job, another time on the same date.
        The first start's record did no work, so its date is still open."""
        if last is None:
            return False
        recorded, this = _parse_slot(last.slot, self.zone), _aware(wall, self.zone)
        done = this < recorded or (job.once_a_day and last.outcome != _FIRST_START and recorded.date() == this.date())
        if done:
            log.info("job %s for %s: done already, for %s", job.name, wall.strftime(_SLOT), last.slot)
        return done

    def _latest_slot(self, entry: schedule.Job) -> dt.datetime:
        """The most recent scheduled wall time at or before now (naive, in the chamber's zone)."""
        now = self._now()
        assert entry.next_run is not None and entry.unit is not None
        period = dt.timedelta(**{entry.unit: entry.interval})
        naive = entry.next_run
        while naive > now:
            naive -= period
        while naive + period <= now:  # fired late (a long pass): the latest slot, not the first missed
            naive += period
        return naive

    @contextmanager
    def _time(self) -> Iterator[None]:
        saved = schedule.datetime
        schedule.datetime = self._module  # type: ignore[assignment]
        try:
            yield
        finally:
            schedule.datetime = saved


class _LocalDatetime(dt.datetime):
    """`datetime` whose now() is a clock's instant as naive local time in a zone (each scheduler
    makes a subclass that names its own clock and zone)."""

    clock: Clock
    zone: ZoneInfo

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> _LocalDatetime:
        instant = cls.clock.now()
        local = instant.astimezone(tz) if tz is not None else instant.astimezone(cls.zone).replace(tzinfo=None)
        return cls(
            local.year, local.month, local.day, local.hour, local.minute, local.second, local.microsecond, local.tzinfo
        )


def _aware(naive: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """Local wall time -> aware. A time skipped by DST moves forward; a repeated one is its first."""
    value = dt.datetime(naive.year, naive.month, naive.day, naive.hour, naive.minute, tzinfo=zone)
    round_trip = value.astimezone(dt.UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != value.replace(tzinfo=None):  # in a gap: the clock jumped over it
        return round_trip
    return value


def _parse_slot(text: str, zone: ZoneInfo) -> dt.datetime:
    return _aware(dt.datetime.strptime(text, _SLOT), zone)
