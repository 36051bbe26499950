"""schedules/*.yaml: which flow runs how often (an interval or a cron expression)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from connector.yamlio import load_model

_EVERY = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class FlowSchedule(BaseModel):
    """When one flow runs: `every: 5m` or `cron: "*/10 8-20 * * mon-fri"`."""

    model_config = ConfigDict(extra="forbid")
    every: str | None = Field(None, description="an interval: 30s, 5m, 1h, 1d")
    cron: str | None = Field(None, description="a 5-field crontab expression")
    kind: Literal["sync"] = "sync"
    jitter: int = Field(0, ge=0, le=3600, description="random delay up to this many seconds")

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
        if self.cron is not None:
            try:
                CronTrigger.from_crontab(self.cron)
            except ValueError as exc:
                raise ValueError(f"cron '{self.cron}': {exc}") from None
        return self

    @property
    def seconds(self) -> int:
        m = _EVERY.match((self.every or "").strip())
        return int(m.group(1)) * _UNITS[m.group(2)] if m else 0

    def trigger(self, timezone: Any) -> Any:
        if self.every is not None:
            return IntervalTrigger(seconds=self.seconds, jitter=self.jitter or None, timezone=timezone)
        assert self.cron is not None
        return CronTrigger.from_crontab(self.cron, timezone=timezone)


class Schedule(RootModel[dict[str, FlowSchedule]]):
    """flow name → when it runs."""


def load_schedule(path: Path, known_flows: list[str]) -> dict[str, FlowSchedule]:
    """Load a schedule file; flows it names must be configured."""
    from connector.errors import ConfigError

    schedule = load_model(path, _ScheduleFile).flows
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
    flows: dict[str, FlowSchedule] = Field(min_length=1)
