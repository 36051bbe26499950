"""The money rules with a fixed `today`: due dates, days overdue, reminders, overdue tasks; and the one business
date of a run, taken from the clock in the 1C server's zone whatever the hour in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.clock import ManualClock
from connector.flows.facts import BusinessDay, Payment, facts_of
from connector.flows.money.reminders import deadline_of, reminder_rules
from connector.ledger import Child
from connector.mapping.schema import MoneySpec

MOSCOW = ZoneInfo("Europe/Moscow")
TODAY = date(2026, 3, 10)
NOTHING = (Decimal(0), Decimal(0))  # nothing shipped
MONEY = MoneySpec.model_validate({"reminder": {}, "overdue": {"responsible_id": 7}})


def order(*stages: tuple[str, int]) -> dict[str, Any]:
    return {
        "Ref_Key": "o",
        "СуммаДокумента": 25000,
        "ЭтапыГрафикаОплаты": [{"ДатаПлатежа": f"{d}T00:00:00", "СуммаПлатежа": s} for d, s in stages],
    }


def paid(amount: int) -> list[Payment]:
    return [Payment("d:1", "d", "ЦБ-1", "2026-01-05T10:00:00", Decimal(amount), "bank", False)]


def test_the_due_date_is_the_first_stage_not_covered_and_overdue_days_count_from_today() -> None:
    facts = facts_of(order(("2026-01-10", 10000), ("2026-02-08", 15000)), paid(10000), NOTHING, False, TODAY)
    assert facts["pay_due_date"] == "2026-02-08" and facts["days_overdue"] == 30
    assert (
        facts_of(order(("2026-04-01", 25000)), [], NOTHING, False, TODAY)["days_overdue"] == 0
    )  # not yet due
    done = facts_of(order(("2026-01-10", 25000)), paid(25000), NOTHING, False, TODAY)
    assert done["pay_due_date"] is None and done["fully_paid"]


def values(due: date | None, days_overdue: int = 0, fully_paid: bool = False) -> dict[str, Any]:
    return {
        "pay_due_date": due.isoformat() if due else None,
        "days_overdue": days_overdue,
        "fully_paid": fully_paid,
    }


def test_a_coming_due_date_opens_a_to_do_at_ten_portal_time_and_is_watched() -> None:
    rule = reminder_rules(MONEY, values(TODAY + timedelta(days=5)), TODAY, None, False, MOSCOW)
    assert (rule.todo, rule.deadline, rule.watch, rule.task) == (
        "add",
        "2026-03-15T10:00:00+03:00",
        True,
        False,
    )


def test_the_deadline_carries_the_portal_offset_of_that_date() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert deadline_of(date(2026, 1, 15), 10, berlin) == "2026-01-15T10:00:00+01:00"
    assert deadline_of(date(2026, 7, 1), 10, berlin) == "2026-07-01T10:00:00+02:00"


def test_a_to_do_moves_with_the_date_stays_when_equal_and_closes_when_paid() -> None:
    due = TODAY + timedelta(days=5)
    same = Child("o", "todo", "due", "77", "open", "2026-03-15T10:00:00+03:00")
    other = Child("o", "todo", "due", "77", "open", "2026-03-01T10:00:00+03:00")
    unstamped = Child("o", "todo", "due", "77", "unstamped", "2026-03-15T10:00:00+03:00")
    assert reminder_rules(MONEY, values(due), TODAY, same, False, MOSCOW).todo is None
    assert reminder_rules(MONEY, values(due), TODAY, other, False, MOSCOW).todo == "move"
    assert reminder_rules(MONEY, values(due), TODAY, unstamped, False, MOSCOW).todo == "move"  # stamped again
    closed = reminder_rules(MONEY, values(None, fully_paid=True), TODAY, same, False, MOSCOW)
    assert (closed.todo, closed.watch) == ("close", False)
    done = Child("o", "todo", "due", "77", "done")
    assert reminder_rules(MONEY, values(None, fully_paid=True), TODAY, done, False, MOSCOW).todo is None


def test_overdue_opens_one_task_within_its_window_and_ancient_debts_nothing() -> None:
    due = TODAY - timedelta(days=35)
    rule = reminder_rules(MONEY, values(due, 35), TODAY, None, False, MOSCOW)
    assert (rule.todo, rule.task, rule.watch) == ("add", True, True)
    assert not reminder_rules(MONEY, values(due, 35), TODAY, None, True, MOSCOW).task  # already has its task
    ancient = reminder_rules(MONEY, values(TODAY - timedelta(days=400), 400), TODAY, None, False, MOSCOW)
    assert (ancient.todo, ancient.task, ancient.watch) == (None, False, False)


@pytest.mark.parametrize(
    "utc",
    [datetime(2026, 11, 30, 22, 30, tzinfo=UTC), datetime(2026, 12, 1, 0, 30, tzinfo=UTC)],
    ids=["22:30 UTC (still Nov 30 in UTC)", "00:30 UTC"],
)
def test_the_business_date_is_the_1c_servers_whatever_the_hour_in_utc(utc: datetime) -> None:
    clock = ManualClock(utc)
    today = BusinessDay(clock, MOSCOW)
    assert today() == date(2026, 12, 1)
    clock.advance(86400)  # a run that lasts past midnight keeps its one date
    assert today() == date(2026, 12, 1)
