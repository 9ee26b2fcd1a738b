"""Working days and legal deadlines, judged in Bangkok time. Pure.

Two clocks, as the law has them:
- acknowledgement counts *working* days (Mon-Fri that are not public holidays): the
  matter must be acknowledged by office closing time of the Nth working day after the day
  it was received (0 = the day of receipt itself, or the next working day if that was
  not one);
- the reply counts *calendar* days from receipt (s.38 Royal Decree on Good Governance
  B.E. 2546: 15 days), so `respond_due - received == respond_days` exactly.
A pause (pending_citizen) pushes both deadlines by the time spent waiting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from shared.thai import BANGKOK, to_bangkok


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset[date] = frozenset()
    office_closes_at: time = time(16, 30)

    @classmethod
    def of(cls, holidays: Iterable[date], office_closes_at: time = time(16, 30)) -> WorkCalendar:
        return cls(frozenset(holidays), office_closes_at)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, day: date, n: int) -> date:
        """The Nth working day after `day` (n=0: `day` itself if it is one, else the next)."""
        if n <= 0:
            return day if self.is_working_day(day) else self.next_working_day(day)
        for _ in range(n):
            day = self.next_working_day(day)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count

    def acknowledge_due(self, received_at: datetime, working_days: int) -> datetime:
        day = self.add_working_days(to_bangkok(received_at).date(), working_days)
        due = datetime.combine(day, self.office_closes_at, tzinfo=BANGKOK).astimezone(UTC)
        # Received on a working day after closing time with n=0: give it until next close.
        if due <= received_at:
            day = self.next_working_day(day)
            due = datetime.combine(day, self.office_closes_at, tzinfo=BANGKOK).astimezone(UTC)
        return due


def respond_due(received_at: datetime, respond_days: int) -> datetime:
    return received_at + timedelta(days=respond_days)
