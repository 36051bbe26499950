"""The pure comparison behind `b24-1c reconcile`: which deals drift from what 1C says, and why."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console

from connector.mapping.schema import Mapping
from connector.reconcile import (
    DEAL_MISSING,
    DIFFERS,
    MONEY_EMPTY,
    NOT_SYNCED,
    Expected,
    Result,
    compare,
    deal_fields,
    drift_table,
    number_of,
)

FIELDS = {
    "amount": "OPPORTUNITY",
    "paid_amount": "UF_PAID",
    "paid_percent": "UF_PCT",
    "balance": "UF_BAL",
    "shipped_percent": "UF_SHIP",
}


def order(key: str = "o1", deal: str | None = "7", **figures: str) -> Expected:
    base = {
        "amount": "25000.00",
        "paid_amount": "10000.00",
        "paid_percent": "40.00",
        "balance": "15000.00",
        "shipped_percent": "40.00",
        **figures,
    }
    return Expected(key, f"ЦБ00-{key}", deal, {k: Decimal(v) for k, v in base.items()})


def deal(**changes: Any) -> dict[str, Any]:
    return {
        "ID": "7",
        "OPPORTUNITY": "25000.00",
        "UF_PAID": "10000.00",
        "UF_PCT": "40.00",
        "UF_BAL": "15000.00",
        "UF_SHIP": "40.00",
        **changes,
    }


def test_a_deal_that_shows_what_1c_says_is_not_drift() -> None:
    assert compare([order()], {"7": deal()}, FIELDS) == []


def test_differences_within_one_kopeck_are_not_drift() -> None:
    shown = deal(
        OPPORTUNITY="25000.01", UF_PAID="9999.99", UF_SHIP="40"
    )  # rounding, strings without decimals
    assert compare([order()], {"7": shown}, FIELDS) == []


def test_a_changed_opportunity_is_drift_of_the_ordered_amount() -> None:
    (drift,) = compare([order()], {"7": deal(OPPORTUNITY="24000.00")}, FIELDS)
    assert drift.reason == DIFFERS and drift.differs == ("amount",)
    assert drift.onec["amount"] == Decimal("25000.00") and drift.bitrix24["amount"] == Decimal("24000.00")


def test_a_changed_paid_amount_is_drift_even_by_two_kopecks() -> None:
    (drift,) = compare([order()], {"7": deal(UF_PAID="10000.02")}, FIELDS)
    assert drift.differs == ("paid_amount",)


def test_an_order_without_a_linked_deal_is_not_synced() -> None:
    (drift,) = compare([order(deal=None)], {}, FIELDS)
    assert drift.reason == NOT_SYNCED and drift.deal_id is None and drift.bitrix24 == {}


def test_a_linked_deal_that_no_longer_exists_is_missing() -> None:
    (drift,) = compare([order()], {"8": deal(ID="8")}, FIELDS)
    assert drift.reason == DEAL_MISSING and drift.deal_id == "7"


def test_a_deal_without_money_fields_is_drift_even_when_nothing_was_paid() -> None:
    bare = {
        "ID": "7",
        "OPPORTUNITY": "25000.00",
        "UF_PAID": None,
        "UF_PCT": "",
        "UF_BAL": None,
        "UF_SHIP": None,
    }
    zero = order(paid_amount="0.00", paid_percent="0.00", balance="25000.00", shipped_percent="0.00")
    (drift,) = compare([zero], {"7": bare}, FIELDS)
    assert drift.reason == MONEY_EMPTY
    assert drift.differs == ("paid_amount", "paid_percent", "balance", "shipped_percent")


def test_one_empty_money_field_is_a_difference_not_an_empty_deal() -> None:
    (drift,) = compare([order()], {"7": deal(UF_SHIP=None)}, FIELDS)
    assert drift.reason == DIFFERS and drift.differs == ("shipped_percent",)


def test_only_the_facts_the_mapping_writes_are_compared() -> None:
    fields = {"amount": "OPPORTUNITY", "paid_amount": "UF_PAID"}
    assert compare([order()], {"7": deal(UF_SHIP="0", UF_BAL=None)}, fields) == []


def test_each_drifted_order_is_one_drift_in_input_order() -> None:
    orders = [order("a", "1"), order("b", "2"), order("c", None), order("d", "4")]
    deals = {"1": deal(ID="1"), "2": deal(ID="2", UF_PAID="0"), "4": deal(ID="4", OPPORTUNITY="1")}
    assert [d.key for d in compare(orders, deals, FIELDS)] == ["b", "c", "d"]


def test_deal_values_are_read_as_bitrix24_sends_them() -> None:
    assert number_of("100.50|RUB") == Decimal("100.50")
    assert number_of("12,5") == Decimal("12.5")
    assert number_of(7) == Decimal(7)
    assert [number_of(v) for v in (None, "", "  ", "abc", "NaN", True, [])] == [None] * 7


def test_field_names_come_from_the_mappings_so_renamed_fields_are_followed() -> None:
    orders = Mapping.model_validate(
        {
            "flow": "orders",
            "source": {"entity": "Document_ЗаказКлиента"},
            "target": {"entity": "deal"},
            "fields": {
                "TITLE": {"source": "Number"},
                "OPPORTUNITY": {"source": "СуммаДокумента", "type": "money"},
            },
        }
    )
    money = Mapping.model_validate(
        {
            "flow": "money",
            "source": {"entity": "Document_ЗаказКлиента"},
            "money": {"attach_to": "orders"},
            "fields": {
                "UF_CRM_PAID_RENAMED": {"source": "paid_amount", "type": "money"},
                "UF_CRM_1C_SHIPPED_PERCENT": {"source": "shipped_percent", "type": "number"},
                "UF_CRM_1C_PAY_DUE_DATE": {"source": "pay_due_date", "type": "date"},
            },
            "user_fields": {
                name: {"type": "double", "label": name}
                for name in ("UF_CRM_PAID_RENAMED", "UF_CRM_1C_SHIPPED_PERCENT", "UF_CRM_1C_PAY_DUE_DATE")
            },
        }
    )
    assert deal_fields(orders, money) == {
        "amount": "OPPORTUNITY",
        "paid_amount": "UF_CRM_PAID_RENAMED",
        "shipped_percent": "UF_CRM_1C_SHIPPED_PERCENT",
    }


def test_the_table_shows_one_row_per_drift_and_stays_readable_off_a_terminal() -> None:
    drifts = compare([order("a", "7"), order("b", None)], {"7": deal(UF_PAID="9000.00")}, FIELDS)
    console = Console(width=120, record=True, soft_wrap=True, force_terminal=False)
    console.print(drift_table(drifts))
    text = console.export_text()
    assert "ЦБ00-a" in text and "10000.00 ≠ 9000.00" in text and "25000.00 " in text and "paid" in text
    assert "ЦБ00-b" in text and NOT_SYNCED in text
    assert all(len(line) <= 120 for line in text.splitlines())


def test_the_summary_counts_drift_by_reason() -> None:
    drifts = compare([order("a", "7"), order("b", None), order("c", None)], {"7": deal(UF_PAID="1")}, FIELDS)
    result = Result(None, checked=5000, drifts=drifts)
    assert result.summary() == "checked 5,000 1C orders: 3 drifted (2 not synced, 1 figures differ)"
    assert Result(None, checked=12).summary().endswith("no drift, every deal shows what 1C says")
    as_json = result.as_dict()
    assert as_json["drifted"] == 3 and as_json["drift"][0]["onec"]["paid"] == "10000.00"
    assert as_json["drift"][0]["bitrix24"]["paid"] == "1"
