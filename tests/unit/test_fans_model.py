"""The pure grouping of deals into fans (connector/flows/fans/model.py)."""

from __future__ import annotations

from datetime import date, timedelta

from connector.flows.fans.model import DealFacts, fans_of, inn_of, rows_of
from connector.mapping.fans import FAN_FACTS

DAY = date(2026, 11, 1)
ROWS = rows_of([{"PRODUCT_ID": 7, "QUANTITY": "2.0"}, {"PRODUCT_NAME": " Осушитель ", "QUANTITY": 1}])


def test_rows_compare_by_product_and_total_quantity_whatever_the_order() -> None:
    same = rows_of([{"PRODUCT_NAME": "осушитель", "QUANTITY": 1}, {"PRODUCT_ID": "7", "QUANTITY": 1}] * 1)
    assert same != ROWS
    assert (
        rows_of(
            [
                {"PRODUCT_ID": "7", "QUANTITY": 1},
                {"PRODUCT_ID": "7", "QUANTITY": 1},
                {"PRODUCT_NAME": "ОСУШИТЕЛЬ", "QUANTITY": "1"},
            ]
        )
        == ROWS
    )
    assert rows_of([]) == ()


def test_a_fan_needs_two_dealers_and_the_window_counts_from_the_first_deal() -> None:
    deals = [
        DealFacts("10", DAY, "A", rows=ROWS),
        DealFacts("11", DAY + timedelta(days=30), "B", rows=ROWS),  # the last day of the window
        DealFacts("12", DAY + timedelta(days=31), "C", rows=ROWS),  # too late: starts a group of its own
        DealFacts("13", DAY + timedelta(days=32), "C", rows=ROWS),  # the same dealer again: no fan
        DealFacts("14", DAY, "", rows=ROWS),  # no dealer: never in a fan
    ]
    facts = fans_of(deals, "rows", 30)
    assert facts["10"] == {"fan": True, "fan_deals": "11", "fan_group": "rows:10", "fan_size": 2}
    assert facts["11"]["fan_deals"] == "10"
    assert [facts[k]["fan"] for k in ("12", "13", "14")] == [False, False, False]
    assert set(facts["10"]) == set(FAN_FACTS)


def test_the_inn_rule_groups_by_the_end_customer_whatever_the_rows() -> None:
    assert inn_of(" 7701-234567 ") == "7701234567" and inn_of("12345") == ""
    deals = [
        DealFacts("1", DAY, "A", inn="7701234567"),
        DealFacts("2", DAY + timedelta(days=50), "B", inn="7701234567"),
        DealFacts("3", DAY, "B", inn=""),
    ]
    facts = fans_of(deals, "inn", 30)
    assert facts["1"]["fan_group"] == facts["2"]["fan_group"] == "inn:1"
    assert facts["3"]["fan"] is False
