"""Schedules: cron in the configured (or the server's) time zone, crontab's weekday numbers, jitter on every kind."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tzlocal

from connector.errors import ConfigError
from connector.schedule import FlowSchedule, load_schedule

WEDNESDAY = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


def next_fire(when: FlowSchedule, after: datetime = WEDNESDAY) -> datetime:
    fire: datetime = when.trigger().get_next_fire_time(None, after)
    return fire.astimezone(UTC)


@pytest.fixture
def server_in_tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    tzlocal.reload_localzone()
    yield
    monkeypatch.undo()
    tzlocal.reload_localzone()


def test_cron_runs_in_the_server_time_zone_by_default(server_in_tokyo: None) -> None:
    assert next_fire(FlowSchedule(cron="0 9 * * *")) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 09:00 JST


def test_cron_runs_in_the_zone_the_schedule_names(server_in_tokyo: None, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "timezone: Europe/Moscow\nflows:\n  orders:\n    cron: '0 9 * * *'\n"
        "  money:\n    cron: '0 9 * * *'\n    timezone: Asia/Yekaterinburg\n",
        encoding="utf-8",
    )
    schedule = load_schedule(path, ["orders", "money"])
    assert next_fire(schedule["orders"]) == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)  # 09:00 MSK
    assert next_fire(schedule["money"]) == datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # the flow's own zone


def test_an_unknown_zone_is_a_config_problem_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("timezone: Mars/Olympus\nflows:\n  orders:\n    every: 5m\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_schedule(path, ["orders"])
    assert "Mars/Olympus" in str(info.value)


@pytest.mark.parametrize(("weekday", "expected"), [("0", 6), ("7", 6), ("1", 0), ("sun", 6), ("1-5", 0)])
def test_crontab_weekday_numbers_mean_what_crontab_says(weekday: str, expected: int) -> None:
    # 0 and 7 are Sunday in crontab (APScheduler 3 alone would read 0 as Monday).
    fire = next_fire(
        FlowSchedule(cron=f"0 9 * * {weekday}", timezone="UTC"), after=WEDNESDAY + timedelta(days=3)
    )  # Saturday
    assert fire.weekday() == expected


def test_jitter_delays_cron_entries_too() -> None:
    when = FlowSchedule(cron="0 9 * * *", jitter=120, timezone="UTC")
    exact = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    fires = [next_fire(when) for _ in range(40)]
    assert all(exact <= f <= exact + timedelta(seconds=120) for f in fires)
    assert len(set(fires)) > 1  # spread, not all at the exact minute


def test_jitter_delays_interval_entries() -> None:
    when = FlowSchedule(every="5m", jitter=30, timezone="UTC")
    trigger = when.trigger()
    start = trigger.get_next_fire_time(None, WEDNESDAY)
    fires = {trigger.get_next_fire_time(start, start) for _ in range(40)}
    assert len(fires) > 1
