"""1C packagings, both ways. A deal row in a box of 12 (a packaging the product owns in 1C), a row in pieces and a
row in a box of 6 (a packaging of the product's packaging set) with mixed VAT and a discount become a posted 1C
order: the boxed rows carry Упаковка_Key and КоличествоУпаковок, Количество in pieces and Цена per piece, the
amounts and VAT are the deal's, so the order's total is the deal's; a rerun writes nothing. Back, an order row in
packagings reaches the deal in the product's own unit (pieces), its sum unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from b24_1c_sandbox.dataset import packaging_ref

from connector.app import Connector
from tests.conftest import make_config
from tests.integration.test_new_client_into_1c import hand_made_company

pytestmark = pytest.mark.integration
ORDER = "Document_ЗаказКлиента"
WRITES = {"crm.deal.add", "crm.deal.update", "crm.deal.productrows.set"}


@pytest.fixture
def conn(sandbox: Any, tmp_path: Path) -> Iterator[Connector]:
    config = make_config(sandbox, tmp_path / "l.db")
    config.flows = ["deals_to_orders"]
    with Connector(config) as c:
        c.setup()
        yield c


def test_rows_in_boxes_become_packagings_with_pieces_and_the_order_total_is_the_deals(
    sandbox: Any, conn: Connector
) -> None:
    boxed, single, shared = (sandbox.dataset.products[n] for n in (0, 2, 1))
    rows = [
        {"PRODUCT_NAME": boxed["Description"], "PRICE": 1199.99, "QUANTITY": 3, "MEASURE_CODE": 8751,
         "MEASURE_NAME": "кор", "TAX_RATE": 20, "TAX_INCLUDED": "Y"},
        {"PRODUCT_NAME": single["Description"], "PRICE": 110, "QUANTITY": 5, "MEASURE_CODE": 796,
         "MEASURE_NAME": "шт", "TAX_RATE": 10, "TAX_INCLUDED": "Y"},
        {"PRODUCT_NAME": shared["Description"], "PRICE": 540, "QUANTITY": 2, "MEASURE_CODE": 8751,
         "MEASURE_NAME": "кор", "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 10},
    ]  # fmt: skip
    company = hand_made_company(conn, "7755555555", "775501001", "ООО «Коробки»")
    fields = {"TITLE": "Упаковки", "COMPANY_ID": company, "STAGE_ID": "EXECUTING"}
    deal = str(conn.bitrix24.call("crm.deal.add", {"fields": fields}, write=True).result)
    conn.bitrix24.call("crm.deal.productrows.set", {"id": deal, "rows": rows}, write=True)
    report = conn.runner("deals_to_orders").incremental(30)
    assert report.failed == 0, report.errors

    (order,) = conn.odata.query(ORDER, filter=f"НомерПоДаннымКлиента eq 'B24-{deal}'")
    opportunity = conn.bitrix24.call("crm.deal.list", {"filter": {"ID": deal}, "select": ["OPPORTUNITY"]})
    assert order["Posted"] and float(order["СуммаДокумента"]) == float(opportunity.result[0]["OPPORTUNITY"])
    assert float(order["СуммаДокумента"]) == 5229.97
    got = [
        (r["Упаковка_Key"], r["КоличествоУпаковок"], r["Количество"], r["Цена"], r["СуммаРучнойСкидки"],
         r["Сумма"], r["СуммаНДС"])
        for r in order["Товары"]
    ]  # fmt: skip
    assert got == [
        (packaging_ref(0, "8751"), 3, 36, 100, 0, 3599.97, 600),  # 1199.99 a box of 12: 100.00 a piece
        ("00000000-0000-0000-0000-000000000000", 5, 5, 110, 0, 550, 50),
        (packaging_ref("Коробки по 6 шт", "8751"), 2, 12, 100, 120, 1080, 0),  # 600 a box less 10 %
    ]

    versions = {r["Ref_Key"]: r["DataVersion"] for r in conn.odata.query(ORDER)}
    before = sum(1 for call in sandbox.portal.calls if call.method in WRITES)
    again = conn.runner("deals_to_orders").incremental(30)
    assert again.created == again.updated == again.failed == 0, again.errors
    assert {r["Ref_Key"]: r["DataVersion"] for r in conn.odata.query(ORDER)} == versions
    assert sum(1 for call in sandbox.portal.calls if call.method in WRITES) == before


def test_a_row_in_a_unit_that_is_no_packaging_of_the_product_fails_naming_row_product_and_unit(
    sandbox: Any, conn: Connector
) -> None:
    product = sandbox.dataset.products[2]  # no packagings of its own, the individual set
    company = hand_made_company(conn, "7766666666", "776601001", "ООО «Без упаковок»")
    fields = {"TITLE": "Чужая упаковка", "COMPANY_ID": company, "STAGE_ID": "EXECUTING"}
    deal = str(conn.bitrix24.call("crm.deal.add", {"fields": fields}, write=True).result)
    row = {"PRODUCT_NAME": product["Description"], "PRICE": 10, "QUANTITY": 1, "MEASURE_CODE": 8751}
    conn.bitrix24.call("crm.deal.productrows.set", {"id": deal, "rows": [row]}, write=True)
    report = conn.runner("deals_to_orders").incremental(30)
    assert conn.odata.query(ORDER, filter=f"НомерПоДаннымКлиента eq 'B24-{deal}'") == []
    (error,) = report.errors
    assert f"deal {deal}" in error
    assert (
        f"Товары[1].Упаковка_Key: the row's unit (8751) of «{product['Description']}» is not the unit 1C counts "
        "it in (796) nor one of its packagings in 1C (it has none)"
    ) in error


def test_an_order_row_in_packagings_reaches_the_deal_in_the_products_own_unit(
    sandbox: Any, connector: Connector
) -> None:
    data = sandbox.dataset
    order = data.order(sandbox.infobase.now().replace(microsecond=0), lines=2)
    boxed, other = data.products[0]["Ref_Key"], data.products[3]["Ref_Key"]
    rows = [
        {"Номенклатура_Key": boxed, "Упаковка_Key": packaging_ref(0, "8751"), "КоличествоУпаковок": 3,
         "Количество": 36, "Цена": 100, "Сумма": 3600, "СуммаНДС": 600, "СуммаСНДС": 3600,
         "СтавкаНДС_Key": data.vat_rate},
        {"Номенклатура_Key": other, "Количество": 4, "КоличествоУпаковок": 4, "Цена": 250, "Сумма": 1000,
         "СуммаНДС": 166.67, "СуммаСНДС": 1000, "СтавкаНДС_Key": data.vat_rate},
    ]  # fmt: skip
    sandbox.infobase.update(ORDER, order["Ref_Key"], {"Товары": rows, "СуммаДокумента": 4600})
    report = connector.runner("orders").incremental(30)
    assert report.failed == 0, report.errors

    (deal,) = [d for d in sandbox.portal.deals() if d["ORIGIN_ID"] == order["Ref_Key"]]
    got = [(r["QUANTITY"], r["PRICE"]) for r in sandbox.portal.deal_rows(int(deal["ID"]))]
    assert got == [
        (36, 100),
        (4, 250),
    ]  # 3 boxes of 12 are 36 pieces at 100, as 1C counts stock and shipments
    assert float(deal["OPPORTUNITY"]) == 4600 == sum(q * p for q, p in got)
