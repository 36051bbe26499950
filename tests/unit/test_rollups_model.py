"""The pure arithmetic of company rollups and dormancy (connector/flows/rollups/model.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from connector.flows.rollups.model import OrderTotals, rollups_of, task_due, whole_months
from connector.mapping.rollups import ROLLUP_FACTS

D = Decimal


def test_totals_last_order_and_debt_per_client() -> None:
    orders = [
        OrderTotals("a", date(2026, 1, 10), D("1000.00"), D("1000.00"), D("1000.00")),
        OrderTotals("a", date(2026, 3, 31), D("500.00"), D("200.00"), D("500.00")),  # shipped, 300 unpaid
        OrderTotals("a", date(2026, 2, 1), D("800.00"), D("800.00"), D("0")),  # prepaid, not shipped: no debt
        OrderTotals("b", date(2025, 5, 1), D("100.00"), D("-10.00"), D("0")),  # a refund larger than receipts
    ]
    facts = rollups_of(orders, date(2026, 9, 29), 6)
    assert facts["a"]["orders_count"] == 3
    assert (facts["a"]["first_order_date"], facts["a"]["last_order_date"]) == ("2026-01-10", "2026-03-31")
    assert facts["a"]["lifetime_amount"] == "2300.00"
    assert facts["a"]["lifetime_paid"] == "2000.00"
    assert facts["a"]["open_debt"] == "300.00"
    assert facts["a"]["months_since_last_order"] == 5  # 31 March → 29 September: not yet six months
    assert facts["a"]["dormant"] is False and facts["a"]["dormant_since"] is None
    assert facts["b"]["lifetime_paid"] == "-10.00" and facts["b"]["open_debt"] == "0.00"
    assert facts["b"]["dormant"] is True and facts["b"]["dormant_since"] == "2025-11-01"
    assert set(facts["a"]) | {"Description"} == set(ROLLUP_FACTS)


def test_dormancy_begins_exactly_n_calendar_months_after_the_last_order() -> None:
    last = [OrderTotals("a", date(2026, 8, 31), D(1), D(1), D(0))]
    assert rollups_of(last, date(2027, 2, 27), 6)["a"]["dormant"] is False
    begun = rollups_of(last, date(2027, 2, 28), 6)["a"]  # 31 August + 6 months: the last day of February
    assert begun["dormant"] is True and begun["dormant_since"] == "2027-02-28"
    assert whole_months(date(2026, 8, 31), date(2027, 2, 28)) == 6
    assert whole_months(date(2026, 8, 31), date(2027, 2, 27)) == 5
    assert whole_months(date(2026, 1, 15), date(2026, 7, 15)) == 6


def test_a_task_only_while_the_dormancy_is_fresh() -> None:
    today = date(2026, 12, 1)
    assert task_due("2026-11-01", today, 30) is True
    assert task_due("2026-10-31", today, 30) is False  # left long ago: the first run opens no task for it
    assert task_due(None, today, 30) is False
