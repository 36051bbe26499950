"""Time as a seam: the program reads aware UTC time and sleeps only through a Clock."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, tzinfo
from typing import Protocol


class Clock(Protocol):
    """Source of wall time (aware UTC), monotonic time and sleeping."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to (sleep advances it); thread-safe. Used by tests and the sandbox."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        if seconds <= 0:
            return
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._mono += seconds


class BusinessDay:
    """The 1C business date of one run: read once from the clock (aware UTC) in the 1C server's time zone, so a
    run at 22:30 UTC in Moscow already works on tomorrow's date, and every rule of the run sees the same day.

    1C dates are naive server-local time, so this is the `today` of every rule; where a Bitrix24 deadline needs the
    portal's time zone, the rule converts explicitly (money/reminders.py)."""

    def __init__(self, clock: Clock, tz: tzinfo) -> None:
        self.clock = clock
        self.tz = tz
        self._today: date | None = None

    def __call__(self) -> date:
        if self._today is None:
            self._today = self.clock.now().astimezone(self.tz).date()
        return self._today
