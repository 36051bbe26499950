"""Pure rules of due dates: whether an order is watched daily, what its to-do needs, whether an overdue task is due.

`today` is the 1C business date of the run (the caller takes it once from the clock, in the 1C server's zone);
the to-do's deadline is the due date at the configured hour in the portal's zone, written with its offset.

Identity on the objects (docs/identity.md): our to-do carries ORIGINATOR_ID = the installation id and
ORIGIN_ID = `<order>:due`; our overdue task carries XML_ID = `<installation id>:<order>:overdue` (one per order:
the rules give an order at most one task). `found_todo` picks, among a deal's to-dos, the one the ledger would
link, and the state the ledger would hold for it.

The ledger keeps an order's to-do as a child link: its id, its state (`open`; `done` once closed; `unstamped` when
the add's stamp did not land, so the next run writes it again) and the deadline last written."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from typing import Any, Literal

from connector.ledger import Child
from connector.mapping.conditions import holds
from connector.mapping.schema import MoneySpec

TodoStep = Literal["add", "move", "close"]
TODO, TASK = "todo", "task"  # child link kinds; an order has at most one of each, under these keys:
TODO_KEY, TASK_KEY = "due", "overdue"
OPEN, DONE = "open", "done"  # a to-do's state in the ledger
UNSTAMPED = "unstamped"  # an added to-do whose stamp did not land: the next run writes it again
WATCHED = "order"  # source state (`<flow>:due`, version = the day last looked at) of orders watched daily


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
    todo: Child | None,
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
            elif todo.state == UNSTAMPED or todo.deadline != deadline:
                step = "move"
        elif todo is not None and todo.state != DONE and (paid or not due):
            step = "close"
    days = int(values.get("days_overdue") or 0)
    task = (
        rule is not None
        and not fully_paid
        and rule.after_days <= days <= rule.after_days + rule.within_days
        and not tasked
    )
    return Reminder(watch, step, deadline, task)


TODO_SELECT = ["ID", "OWNER_ID", "ORIGINATOR_ID", "ORIGIN_ID", "DEADLINE", "COMPLETED", "SUBJECT"]
TASK_SELECT = ["ID", "XML_ID", "CREATED_DATE"]


def todo_origin(order: str) -> str:
    """ORIGIN_ID of an order's to-do."""
    return f"{order}:due"


def task_xml_id(originator: str, order: str) -> str:
    """XML_ID of an order's overdue task."""
    return f"{originator}:{order}:overdue"


@dataclass(frozen=True)
class FoundTodo:
    """A to-do on the deal that is ours: the child link the ledger would hold, and whether it needs our stamp."""

    child: Child
    stamp: bool


def found_todo(
    rows: Iterable[dict[str, Any]], originator: str, order: str, title: str, deadline: str | None
) -> FoundTodo | None:
    """Ours is the to-do stamped with our installation and `<order>:due`; failing that, an unstamped one with the
    title we give it (an add whose stamp never landed, or a release that did not stamp), adopted and stamped.
    A to-do stamped by anyone else, or for anything else, is never taken. `deadline` is what the rules would
    want for a known to-do (None: none wanted): a to-do already there at that deadline gets it, so nothing moves;
    a completed one is `done` (nothing to close)."""
    rows = sorted(rows, key=lambda r: int(str(r.get("ID") or 0)))
    origin = todo_origin(order)
    row = next(
        (r for r in rows if r.get("ORIGINATOR_ID") == originator and r.get("ORIGIN_ID") == origin), None
    )
    stamp = row is None
    if row is None:
        row = next(
            (
                r
                for r in rows
                if not r.get("ORIGIN_ID")
                and not r.get("ORIGINATOR_ID")
                and str(r.get("SUBJECT") or "") == title
            ),
            None,
        )
    if row is None:
        return None
    there = deadline if _same_instant(row.get("DEADLINE"), deadline) else None
    if row.get("COMPLETED") == "Y":
        child = Child(order, TODO, TODO_KEY, str(row["ID"]), DONE, there)
    else:
        child = Child(order, TODO, TODO_KEY, str(row["ID"]), OPEN, there or str(row.get("DEADLINE") or ""))
    return FoundTodo(child, stamp)


def _same_instant(a: Any, b: str | None) -> bool:
    try:
        return b is not None and datetime.fromisoformat(str(a)) == datetime.fromisoformat(b)
    except ValueError:
        return False
