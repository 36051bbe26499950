"""schedules/*.yaml: which flow runs how often (an interval or a cron expression)."""

from __future__ import annotations

import re
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from connector.yamlio import load_model

_EVERY = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _day(token: str) -> int:
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token[:3] in _DAYS:
        return _DAYS.index(token[:3])
    raise ValueError(f"day of week '{token}' (use 0-7 or sun-sat)")


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field (0 and 7 = Sunday) as day names: APScheduler 3 counts 0 as Monday, so numbers
    passed through would run a Sunday job on Monday."""
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.lower().split(","):
        span, _, step = item.partition("/")
        if span == "*":
            low, high = 0, 6
        else:
            first, dash, last = span.partition("-")
            low = _day(first)
            high = _day(last) if dash else (6 if step else low)
        if high < low:
            raise ValueError(f"day-of-week range '{span}' runs backwards")
        days.update(d % 7 for d in range(low, high + 1, int(step) if step else 1))
    return ",".join(_DAYS[d] for d in sorted(days))


def local_zone() -> tzinfo:
    """The server's time zone (TZ, else /etc/localtime): cron schedules run in it unless the file names one."""
    import tzlocal

    return tzlocal.get_localzone()


class FlowSchedule(BaseModel):
    """When one flow runs: `every: 5m` or `cron: "*/10 8-20 * * mon-fri"`."""

    model_config = ConfigDict(extra="forbid")
    every: str | None = Field(None, description="an interval: 30s, 5m, 1h, 1d")
    cron: str | None = Field(None, description="a 5-field crontab expression")
    kind: Literal["sync"] = "sync"
    jitter: int = Field(0, ge=0, le=3600, description="random delay up to this many seconds (every and cron)")
    timezone: str | None = Field(
        None, description="IANA zone a cron expression is read in (default: the file's, else the server's)"
    )

    @model_validator(mode="after")
    def _one(self) -> FlowSchedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of every or cron")
        if self.every is not None:
            m = _EVERY.match(self.every.strip())
            if not m or int(m.group(1)) == 0:
                raise ValueError(f"every must look like 30s, 5m, 1h or 1d, got '{self.every}'")
            if self.seconds < 10:
                raise ValueError(
                    "every must be at least 10s (each cycle costs requests against both systems)"
                )
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone '{self.timezone}' (an IANA name such as Europe/Moscow)"
                ) from None
        if self.cron is not None:
            try:
                self._cron("UTC")
            except ValueError as exc:
                raise ValueError(f"cron '{self.cron}': {exc}") from None
        return self

    def _cron(self, zone: Any) -> CronTrigger:
        values = (self.cron or "").split()
        if len(values) != 5:
            raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(values)}")
        minute, hour, day, month, weekday = values
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=crontab_weekdays(weekday),
            timezone=zone,
            jitter=self.jitter or None,
        )

    def zone(self) -> tzinfo:
        """The zone this flow's times are read in: its `timezone`, else the server's."""
        return ZoneInfo(self.timezone) if self.timezone else local_zone()

    @property
    def seconds(self) -> int:
        m = _EVERY.match((self.every or "").strip())
        return int(m.group(1)) * _UNITS[m.group(2)] if m else 0

    def trigger(self, timezone: Any = None) -> Any:
        """The APScheduler trigger; `timezone` defaults to `zone()`. Jitter applies to both kinds."""
        zone = timezone if timezone is not None else self.zone()
        if self.every is not None:
            return IntervalTrigger(seconds=self.seconds, jitter=self.jitter or None, timezone=zone)
        return self._cron(zone)


class Schedule(RootModel[dict[str, FlowSchedule]]):
    """flow name → when it runs."""


def load_schedule(path: Path, known_flows: list[str]) -> dict[str, FlowSchedule]:
    """Load a schedule file; flows it names must be configured."""
    from connector.errors import ConfigError

    loaded = load_model(path, _ScheduleFile)
    schedule = loaded.flows
    if loaded.timezone is not None:
        for when in schedule.values():
            if when.timezone is None:
                when.timezone = loaded.timezone
    unknown = [f for f in schedule if f not in known_flows]
    if unknown:
        raise ConfigError(
            f"{path}: {len(unknown)} problem(s)",
            problems=[
                f"{path}: flows.{f}: no such flow in config.flows ({', '.join(known_flows)})" for f in unknown
            ],
        )
    return schedule


class _ScheduleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str | None = Field(
        None, description="IANA zone cron entries are read in (default: the server's)"
    )
    flows: dict[str, FlowSchedule] = Field(min_length=1)

    @model_validator(mode="after")
    def _zone(self) -> _ScheduleFile:
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone '{self.timezone}' (an IANA name such as Europe/Moscow)"
                ) from None
        return self
