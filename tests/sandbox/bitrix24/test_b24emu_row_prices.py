"""Product rows carry the derived prices crm.deal.productrows.get documents: the page's own example (999 less 10 %
is 899.1, discount 99.9 a unit), a tax inside PRICE, and an absolute discount."""

from __future__ import annotations

from conftest import Emu


def rows_of(emu: Emu, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    deal = emu.ok("crm.deal.add", {"fields": {"TITLE": "Цены"}})
    assert emu.ok("crm.deal.productrows.set", {"id": deal, "rows": rows}) is True
    return list(emu.ok("crm.deal.productrows.get", {"id": deal}))


def test_percent_discount_tax_and_absolute_discount_give_the_documented_prices(emu: Emu) -> None:
    example, taxed, absolute = rows_of(
        emu,
        [
            {"PRODUCT_NAME": "Товар #2", "PRICE": 899.1, "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 10},
            {"PRODUCT_NAME": "С НДС", "PRICE": 120, "TAX_RATE": 20, "TAX_INCLUDED": "Y"},
            {"PRODUCT_NAME": "Скидка суммой", "PRICE": 90, "DISCOUNT_TYPE_ID": 1, "DISCOUNT_SUM": 10},
        ],
    )
    assert (example["PRICE_NETTO"], example["PRICE_BRUTTO"], example["DISCOUNT_SUM"]) == (999, 999, 99.9)
    assert (taxed["PRICE_EXCLUSIVE"], taxed["PRICE_NETTO"], taxed["PRICE_BRUTTO"]) == (100, 100, 120)
    assert (absolute["PRICE_NETTO"], absolute["DISCOUNT_RATE"]) == (100, 10)
