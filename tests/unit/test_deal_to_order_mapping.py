"""The shipped deals → 1C orders mapping rejects what must never reach the accountant's 1C, with clear reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connector.mapping.client import NEW_CLIENT
from connector.mapping.engine import map_record
from connector.mapping.schema import load_mapping

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Europe/Moscow")
SPEC = load_mapping(ROOT / "mappings" / "deals_to_orders.yaml")
LINKS = {"@links:counterparties": {"98": {"value": "cp-ref"}}, "@links:managers": {}}


def row(name: str, price: float, quantity: float, **more: Any) -> dict[str, Any]:
    """A product row as crm.deal.productrows.get returns it (no discount, no tax unless given)."""
    base = {"PRODUCT_NAME": name, "PRICE": price, "PRICE_BRUTTO": price, "QUANTITY": quantity}
    return base | {"DISCOUNT_RATE": 0, "TAX_RATE": None, "TAX_INCLUDED": "Y", "MEASURE_CODE": 796} | more


def deal(**changes: Any) -> dict[str, Any]:
    base = {
        "ID": "41",
        "TITLE": "Кровля",
        "DATE_CREATE": "2026-11-30T10:00:00+03:00",
        "DATE_MODIFY": "2026-11-30T10:00:00+03:00",
        "COMPANY_ID": "98",
        "ASSIGNED_BY_ID": "1",
        "CURRENCY_ID": "RUB",
        "OPPORTUNITY": "300.00",
        "PRODUCT_ROWS": [row("Профлист С8", 100.0, 3.0)],
    }
    return {**base, **changes}


def test_a_valid_deal_maps() -> None:
    mapped = map_record(SPEC, deal(), LINKS, TZ)
    assert mapped.error is None and mapped.create_fields()["Валюта_Key"] == "643"


def test_a_deal_without_a_company_or_contact_fails_with_the_reason_instead_of_waiting() -> None:
    mapped = map_record(SPEC, deal(COMPANY_ID="0"), LINKS, TZ)
    assert mapped.error is not None and not mapped.deferred
    assert "the deal has neither a company (COMPANY_ID) nor a contact (CONTACT_ID)" in mapped.error


def test_a_company_1c_does_not_know_is_handed_to_the_target_to_find_or_make() -> None:
    mapped = map_record(SPEC, deal(COMPANY_ID="99"), LINKS, TZ)
    assert mapped.error is None
    assert mapped.create_fields()["Контрагент_Key"] == {NEW_CLIENT: {"company": "99"}}


def test_a_deal_with_only_a_contact_names_the_contact() -> None:
    mapped = map_record(SPEC, deal(COMPANY_ID="0", CONTACT_ID="7"), LINKS, TZ)
    assert mapped.error is None
    assert mapped.create_fields()["Контрагент_Key"] == {NEW_CLIENT: {"contact": "7"}}


def test_a_synced_company_keeps_its_counterparty() -> None:
    mapped = map_record(SPEC, deal(), LINKS, TZ)
    assert mapped.create_fields()["Контрагент_Key"] == "cp-ref"


def test_an_unknown_currency_fails_instead_of_becoming_rubles() -> None:
    mapped = map_record(SPEC, deal(CURRENCY_ID="XYZ"), LINKS, TZ)
    assert mapped.error is not None and "'XYZ' is not in the map" in mapped.error


def test_a_negative_price_or_amount_fails_the_deal() -> None:
    rows = [row("Профлист С8", -100.0, 2.0)]
    mapped = map_record(SPEC, deal(PRODUCT_ROWS=rows, OPPORTUNITY="-200"), LINKS, TZ)
    assert mapped.error is not None
    assert "Цена: -100.0 is below the allowed minimum 0" in mapped.error
    assert "СуммаДокумента: -200.0 is below the allowed minimum 0" in mapped.error


def test_rows_keep_vat_rate_discount_and_their_amounts_add_up_to_the_deal() -> None:
    rows = [
        row("Профлист С8", 899.1, 2.0, PRICE_BRUTTO=999.0, DISCOUNT_RATE=10.0, TAX_RATE=20.0),
        row("Уголок 50×50", 110.0, 3.0, TAX_RATE=10.0),
        row("Доставка", 500.0, 1.0),
    ]
    mapped = map_record(SPEC, deal(PRODUCT_ROWS=rows, OPPORTUNITY="2628.2"), LINKS, TZ)
    assert mapped.error is None and mapped.rows is not None
    first, second, third = mapped.rows
    assert (first["Цена"], first["ПроцентРучнойСкидки"], first["СуммаРучнойСкидки"]) == (999.0, 10.0, 199.8)
    assert (first["Сумма"], first["СуммаСНДС"], first["СуммаНДС"]) == (1798.2, 1798.2, 299.7)
    assert [r["СтавкаНДС_Key"] for r in mapped.rows] == ["НДС20", "НДС10", "БезНДС"]
    assert (second["СуммаНДС"], third["СуммаНДС"]) == (30.0, 0.0)
    assert (
        round(sum(r["Сумма"] for r in mapped.rows), 2) == 2628.2 == mapped.create_fields()["СуммаДокумента"]
    )
