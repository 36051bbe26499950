"""The pure arithmetic of a client's rollups: totals over its posted orders, and whether it is dormant."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")


@dataclass(frozen=True)
class OrderTotals:
    """One posted order of a client with what was paid and shipped against it."""

    client: str
    date: date
    amount: Decimal
    paid: Decimal
    shipped: Decimal


def whole_months(since: date, today: date) -> int:
    """Whole calendar months from `since` to `today` (0 when `today` is earlier); 31 August + 6 months is the last
    day of February, as for dormancy."""
    months = (today.year - since.year) * 12 + today.month - since.month
    if months > 0 and _add_months(since, months) > today:
        months -= 1
    return max(0, months)


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


@dataclass
class _Client:
    """Running totals of one client's orders (a run holds one per client, never one per order)."""

    count: int
    first: date
    last: date
    amount: Decimal
    paid: Decimal
    debt: Decimal


def rollups_of(
    orders: Iterable[OrderTotals], today: date, dormant_after_months: int
) -> dict[str, dict[str, Any]]:
    """Facts per client: orders count, first and last order date, lifetime amount and paid, open debt (shipped and
    not paid, per order, never negative: a prepayment is not a debt), months since the last order, and dormancy
    (no order for `dormant_after_months` months; `dormant_since` is the day it began). `orders` is read once, as
    it comes: memory grows with the clients, not with the orders."""
    by_client: dict[str, _Client] = {}
    for order in orders:
        c = by_client.get(order.client)
        if c is None:
            by_client[order.client] = _Client(
                1, order.date, order.date, order.amount, order.paid, _debt(order)
            )
            continue
        c.count += 1
        c.first, c.last = min(c.first, order.date), max(c.last, order.date)
        c.amount += order.amount
        c.paid += order.paid
        c.debt += _debt(order)
    out: dict[str, dict[str, Any]] = {}
    for client, c in by_client.items():
        since = _add_months(c.last, dormant_after_months)
        dormant = since <= today
        out[client] = {
            "orders_count": c.count,
            "first_order_date": c.first.isoformat(),
            "last_order_date": c.last.isoformat(),
            "lifetime_amount": _money(c.amount),
            "lifetime_paid": _money(c.paid),
            "open_debt": _money(c.debt),
            "months_since_last_order": whole_months(c.last, today),
            "dormant": dormant,
            "dormant_since": since.isoformat() if dormant else None,
        }
    return out


def _add_months(day: date, months: int) -> date:
    """The same day `months` calendar months later (the month's last day when it is shorter)."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _debt(order: OrderTotals) -> Decimal:
    """Shipped and not paid; a prepayment is no debt, and money returned to the client never makes one."""
    return max(Decimal(0), order.shipped - max(order.paid, Decimal(0)))


def task_due(dormant_since: str | None, today: date, within_days: int) -> bool:
    """A dormancy task is made only while the dormancy is fresh, so a first run over years of history does not
    open a task for every client who left long ago."""
    if dormant_since is None:
        return False
    return date.fromisoformat(dormant_since) >= today - timedelta(days=within_days)
