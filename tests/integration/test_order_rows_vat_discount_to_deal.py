"""1C order → deal: an order's rows with mixed VAT rates (20 %, 10 %, none) and a manual discount reach the deal's
product rows with their rate, TAX_INCLUDED and discount; the rows add up to the order's total, the deal's
OPPORTUNITY is its СуммаДокумента, and a rerun writes nothing."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from connector.app import Connector

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox

pytestmark = pytest.mark.integration
ORDER = "Document_ЗаказКлиента"
WRITES = {"crm.deal.add", "crm.deal.update", "crm.deal.productrows.set"}


def rate(kind: str) -> str:
    return str(
        uuid.uuid5(uuid.NAMESPACE_OID, f"vat-rate:{kind}")
    )  # the sandbox's fixed refs of the other rates


def test_mixed_vat_and_a_discount_reach_the_deal_rows_and_the_totals_agree(
    sandbox: Sandbox, connector: Connector
) -> None:
    data = sandbox.dataset
    assert data is not None and data.vat_rate
    now = sandbox.infobase.now().replace(microsecond=0)
    order = data.order(now, lines=3)
    a, b, c = (p["Ref_Key"] for p in data.products[:3])
    rows = [
        {"Номенклатура_Key": a, "Количество": 2, "КоличествоУпаковок": 2, "Цена": 999, "ПроцентРучнойСкидки": 10,
         "СуммаРучнойСкидки": 199.8, "Сумма": 1798.2, "СуммаНДС": 299.7, "СуммаСНДС": 1798.2,
         "СтавкаНДС_Key": data.vat_rate},
        {"Номенклатура_Key": b, "Количество": 3, "КоличествоУпаковок": 3, "Цена": 110, "Сумма": 330, "СуммаНДС": 30,
         "СуммаСНДС": 330, "СтавкаНДС_Key": rate("НДС10")},
        {"Номенклатура_Key": c, "Количество": 1, "КоличествоУпаковок": 1, "Цена": 500, "Сумма": 500, "СуммаНДС": 0,
         "СуммаСНДС": 500, "СтавкаНДС_Key": rate("БезНДС")},
    ]  # fmt: skip
    sandbox.infobase.update(ORDER, order["Ref_Key"], {"Товары": rows, "СуммаДокумента": 2628.2})
    report = connector.runner("orders").incremental(30)
    assert report.failed == 0, report.errors

    (deal,) = [d for d in sandbox.portal.deals() if d["ORIGIN_ID"] == order["Ref_Key"]]
    assert float(deal["OPPORTUNITY"]) == 2628.2
    got = [
        (r["PRICE"], r["QUANTITY"], float(r["TAX_RATE"]), r["TAX_INCLUDED"], r["DISCOUNT_TYPE_ID"],
         r["DISCOUNT_RATE"], r["PRICE_BRUTTO"])
        for r in sandbox.portal.deal_rows(int(deal["ID"]))
    ]  # fmt: skip
    assert got == [
        (899.1, 2, 20, "Y", 2, 10, 999),  # the final price: 999 less 10 %, VAT included
        (110, 3, 10, "Y", 2, 0, 110),
        (500, 1, 0, "Y", 2, 0, 500),
    ]
    assert round(sum(price * qty for price, qty, *_ in got), 2) == 2628.2

    before = sum(1 for call in sandbox.portal.calls if call.method in WRITES)
    again = connector.runner("orders").incremental(30)
    assert again.created == again.updated == again.failed == 0
    assert sum(1 for call in sandbox.portal.calls if call.method in WRITES) == before
