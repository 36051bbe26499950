"""A deal's rows with mixed VAT rates (20 %, 10 %, none) and a discount become a posted 1C order whose rows keep the
rate, VAT amount, manual discount and price, and whose total equals the deal's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import make_config
from tests.integration.test_new_client_into_1c import hand_made_company

pytestmark = pytest.mark.integration
ORDER = "Document_ЗаказКлиента"


@pytest.fixture
def conn(sandbox: Any, tmp_path: Path) -> Iterator[Connector]:
    config = make_config(sandbox, tmp_path / "l.db")
    config.flows = ["deals_to_orders"]
    with Connector(config) as c:
        c.setup()
        yield c


def test_mixed_vat_and_a_discount_reach_the_1c_order_and_its_total_equals_the_deal(
    sandbox: Any, conn: Connector
) -> None:
    a, b, c = (sandbox.dataset.products[n]["Description"] for n in range(3))
    rows = [
        {"PRODUCT_NAME": a, "PRICE": 899.1, "QUANTITY": 2, "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 10,
         "TAX_RATE": 20, "TAX_INCLUDED": "Y"},
        {"PRODUCT_NAME": b, "PRICE": 110, "QUANTITY": 3, "TAX_RATE": 10, "TAX_INCLUDED": "Y"},
        {"PRODUCT_NAME": c, "PRICE": 500, "QUANTITY": 1},
    ]  # fmt: skip
    company = hand_made_company(conn, "7733333333", "773301001", "ООО «Покупатель»")
    fields = {"TITLE": "НДС и скидки", "COMPANY_ID": company, "STAGE_ID": "EXECUTING"}
    deal = str(conn.bitrix24.call("crm.deal.add", {"fields": fields}, write=True).result)
    conn.bitrix24.call("crm.deal.productrows.set", {"id": deal, "rows": rows}, write=True)
    report = conn.runner("deals_to_orders").incremental(30)
    assert report.failed == 0, report.errors

    (order,) = conn.odata.query(ORDER, filter=f"НомерПоДаннымКлиента eq 'B24-{deal}'")
    opportunity = conn.bitrix24.call("crm.deal.list", {"filter": {"ID": deal}, "select": ["OPPORTUNITY"]})
    assert order["Posted"] and float(order["СуммаДокумента"]) == float(opportunity.result[0]["OPPORTUNITY"])
    assert float(order["СуммаДокумента"]) == 2628.2
    rates = {r["Ref_Key"]: r["ПеречислениеСтавкаНДС"] for r in conn.odata.query("Catalog_СтавкиНДС")}
    got = [
        (rates[r["СтавкаНДС_Key"]], r["Цена"], r["ПроцентРучнойСкидки"], r["СуммаРучнойСкидки"], r["Сумма"],
         r["СуммаНДС"], r["СуммаСНДС"])
        for r in order["Товары"]
    ]  # fmt: skip
    assert got == [
        ("НДС20", 999, 10, 199.8, 1798.2, 299.7, 1798.2),
        ("НДС10", 110, 0, 0, 330, 30, 330),
        ("БезНДС", 500, 0, 0, 500, 0, 500),
    ]
    assert order["ЦенаВключаетНДС"] is True


def test_a_row_in_another_unit_than_1c_counts_the_product_in_fails_instead_of_a_wrong_quantity(
    sandbox: Any, conn: Connector
) -> None:
    product = sandbox.dataset.products[0]["Description"]  # counted in pieces (ОКЕИ 796) in 1C
    company = hand_made_company(conn, "7744444444", "774401001", "ООО «Единицы»")
    made = []
    for unit in (796, 166):  # шт, then кг
        fields = {"TITLE": f"Единица {unit}", "COMPANY_ID": company, "STAGE_ID": "EXECUTING"}
        deal = str(conn.bitrix24.call("crm.deal.add", {"fields": fields}, write=True).result)
        row = {"PRODUCT_NAME": product, "PRICE": 10, "QUANTITY": 5, "MEASURE_CODE": unit}
        conn.bitrix24.call("crm.deal.productrows.set", {"id": deal, "rows": [row]}, write=True)
        made.append(deal)
    report = conn.runner("deals_to_orders").incremental(30)
    (order,) = conn.odata.query(ORDER, filter=f"НомерПоДаннымКлиента eq 'B24-{made[0]}'")
    assert order["Товары"][0]["Упаковка_Key"] == "00000000-0000-0000-0000-000000000000"  # its own unit
    assert conn.odata.query(ORDER, filter=f"НомерПоДаннымКлиента eq 'B24-{made[1]}'") == []
    (error,) = report.errors
    assert f"deal {made[1]}" in error and "Упаковка_Key: the row's unit (166) of «" in error
    assert "is not the unit 1C counts it in (796)" in error
