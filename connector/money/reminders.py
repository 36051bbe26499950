"""Pure rules of due dates: whether an order is watched daily, what its to-do needs, whether an overdue task is due.

`today` is the 1C business date of the run (the caller takes it once from the clock, in the 1C server's zone);
the to-do's deadline is the due date at the configured hour in the portal's zone, written with its offset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from typing import Any, Literal

from connector.ledger import Link
from connector.mapping.conditions import holds
from connector.mapping.schema import MoneySpec

TodoStep = Literal["add", "move", "close"]


@dataclass(frozen=True)
class Reminder:
    """What one order's reminders need now."""

    watch: bool  # look at the order again tomorrow even if nothing changes in 1C
    todo: TodoStep | None
    deadline: str | None  # the to-do's deadline (ISO with the portal's offset) for add / move
    task: bool  # create the overdue task


def deadline_of(due: date, hour: int, portal_tz: tzinfo) -> str:
    """The due date at `hour` o'clock portal time, with the portal's offset on that date."""
    return datetime.combine(due, time(hour), tzinfo=portal_tz).isoformat()


def reminder_rules(
    money: MoneySpec,
    values: dict[str, Any],
    today: date,
    todo: Link | None,
    tasked: bool,
    portal_tz: tzinfo,
) -> Reminder:
    """The reminder, to-do and overdue-task rules of one order, from its facts and what was done before."""
    spec = money.reminder
    raw = values.get(spec.date) if spec is not None else None
    due = date.fromisoformat(str(raw)[:10]) if raw else None
    age = (today - due).days if due else None
    fully_paid = bool(values.get("fully_paid"))
    rule = money.overdue
    horizon = max(spec.max_age_days if spec else 0, rule.after_days + rule.within_days if rule else 0)
    watch = age is not None and not fully_paid and age <= horizon
    step: TodoStep | None = None
    deadline = None
    if spec is not None:
        paid = holds(spec.close_when, values)
        recent = age is not None and age <= spec.max_age_days
        if due and not paid and (recent or todo is not None):
            deadline = deadline_of(due, spec.hour, portal_tz)
            if todo is None:
                step = "add"
            elif todo.content_hash != deadline:
                step = "move"
        elif todo is not None and todo.content_hash != "done" and (paid or not due):
            step = "close"
    days = int(values.get("days_overdue") or 0)
    task = (
        rule is not None
        and not fully_paid
        and rule.after_days <= days <= rule.after_days + rule.within_days
        and not tasked
    )
    return Reminder(watch, step, deadline, task)
