"""Pure rules of due dates: whether an order is watched daily, what its to-do needs, whether an overdue task is due.

`today` is the 1C business date of the run (the caller takes it once from the clock, in the 1C server's zone);
the to-do's deadline is the due date at the configured hour in the portal's zone, written with its offset.

Identity on the objects (docs/identity.md): our to-do carries ORIGINATOR_ID = the installation id and
ORIGIN_ID = `<order>:due`; our overdue task carries XML_ID = `<installation id>:<order>:overdue` (one per order:
the rules give an order at most one task). `found_todo` picks, among a deal's to-dos, the one the ledger would
link, and the mark the ledger would hold for it."""

from __future__ import annotations

from collections.abc import Iterable
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


TODO_SELECT = ["ID", "OWNER_ID", "ORIGINATOR_ID", "ORIGIN_ID", "DEADLINE", "COMPLETED", "SUBJECT"]
TASK_SELECT = ["ID", "XML_ID", "CREATED_DATE"]
UNSTAMPED = "unstamped"  # the mark of a to-do whose stamp did not land: the next run writes it again


def todo_origin(order: str) -> str:
    """ORIGIN_ID of an order's to-do."""
    return f"{order}:due"


def task_xml_id(originator: str, order: str) -> str:
    """XML_ID of an order's overdue task."""
    return f"{originator}:{order}:overdue"


@dataclass(frozen=True)
class FoundTodo:
    """A to-do on the deal that is ours: the link the ledger would hold, and whether it still needs our stamp."""

    link: Link
    stamp: bool


def found_todo(
    rows: Iterable[dict[str, Any]], originator: str, order: str, title: str, deadline: str | None
) -> FoundTodo | None:
    """Ours is the to-do stamped with our installation and `<order>:due`; failing that, an unstamped one with the
    title we give it (an add whose stamp never landed, or a release that did not stamp), adopted and stamped.
    A to-do stamped by anyone else, or for anything else, is never taken. `deadline` is what the rules would
    want for a known to-do (None: none wanted): a to-do already there gets that as its mark, so nothing moves."""
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
    there = _same_instant(row.get("DEADLINE"), deadline)
    if row.get("COMPLETED") == "Y":
        mark = deadline if deadline is not None and there else "done"
    else:
        mark = deadline if deadline is not None and there else str(row.get("DEADLINE") or "")
    return FoundTodo(Link(order, str(row["ID"]), mark, None), stamp)


def _same_instant(a: Any, b: str | None) -> bool:
    try:
        return b is not None and datetime.fromisoformat(str(a)) == datetime.fromisoformat(b)
    except ValueError:
        return False
