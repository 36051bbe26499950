"""A client's rollups are summed as the orders come: a run over 100,000 orders holds one running total per client,
never every order (issue 13 goal 6), and the figures are those of the per-client lists it kept before."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

from connector.flows.rollups.model import OrderTotals, rollups_of

TODAY = date(2026, 9, 29)


def orders(n: int) -> Iterator[OrderTotals]:
    start = date(2017, 1, 1)
    for i in range(n):
        yield OrderTotals(
            f"client-{i % 3}",
            start + timedelta(days=i % 3000),
            Decimal(f"{i % 1000}.25"),
            Decimal(f"{i % 700}.10") - Decimal(50),
            Decimal(f"{i % 900}.05"),
        )


def test_rollups_hold_one_total_per_client_whatever_the_number_of_orders() -> None:
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        facts = rollups_of(orders(10_000), TODAY, 6)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    # 10,000 orders kept as OrderTotals (with their Decimals and dates) would take several MB.
    assert peak < 200_000, f"summing 10,000 orders peaked at {peak:,} bytes"
    assert set(facts) == {"client-0", "client-1", "client-2"}


def test_running_totals_equal_the_sums_over_every_order() -> None:
    every = list(orders(3_000))
    facts = rollups_of(iter(every), TODAY, 6)
    for client, got in facts.items():
        mine = [o for o in every if o.client == client]
        debt = sum((max(Decimal(0), o.shipped - max(o.paid, Decimal(0))) for o in mine), Decimal(0))
        assert got["orders_count"] == len(mine)
        assert got["first_order_date"] == min(o.date for o in mine).isoformat()
        assert got["last_order_date"] == max(o.date for o in mine).isoformat()
        assert got["lifetime_amount"] == str(
            sum((o.amount for o in mine), Decimal(0)).quantize(Decimal("0.01"))
        )
        assert got["lifetime_paid"] == str(sum((o.paid for o in mine), Decimal(0)).quantize(Decimal("0.01")))
        assert got["open_debt"] == str(debt.quantize(Decimal("0.01")))
