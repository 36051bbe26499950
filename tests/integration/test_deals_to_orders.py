"""Deals started in Bitrix24 → posted 1C customer orders, through OData or through the CrmExchange SOAP service."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.records import LinkChange
from tests.conftest import ROOT, SINCE, make_config

pytestmark = pytest.mark.integration
FLOWS = ["counterparties", "orders", "deals_to_orders"]


def connect(box: Any, tmp_path: Path, via: str) -> Connector:
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    text = (mappings / "deals_to_orders.yaml").read_text(encoding="utf-8")
    (mappings / "deals_to_orders.yaml").write_text(
        text.replace("  post: true\n", f"  post: true\n  via: {via}\n"), encoding="utf-8"
    )
    config = make_config(box, tmp_path / "l.db")
    config.mappings_dir = mappings
    config.flows = FLOWS
    return Connector(config)


def start_deal(conn: Connector, box: Any, stage: str = "EXECUTING") -> str:
    company = next(
        link.target_id
        for link in conn.ledger.links("counterparties", list(conn.ledger.keys("counterparties"))).values()
        if link.target_id.isdigit()
    )
    product = box.dataset.products[1]
    deal = str(
        conn.bitrix24.call(
            "crm.deal.add",
            {
                "fields": {
                    "TITLE": "Профлист на ангар",
                    "COMPANY_ID": company,
                    "STAGE_ID": stage,
                    "CURRENCY_ID": "RUB",
                    "OPPORTUNITY": product["price"] * 4,
                }
            },
            write=True,
        ).result
    )
    conn.bitrix24.call(
        "crm.deal.productrows.set",
        {
            "id": deal,
            "rows": [{"PRODUCT_NAME": product["Description"], "PRICE": product["price"], "QUANTITY": 4}],
        },
        write=True,
    )
    return deal


def order_for(box: Any, deal: str) -> list[dict[str, Any]]:
    return [
        o
        for o in box.infobase.all("Document_ЗаказКлиента")
        if str(o.get("НомерПоДаннымКлиента", "")).strip() == f"B24-{deal}"
    ]


@pytest.mark.parametrize("via", ["odata", "soap"])
def test_a_deal_at_the_stage_becomes_one_posted_order_and_1c_answers_back(
    sandbox: Any, tmp_path: Path, via: str
) -> None:
    with connect(sandbox, tmp_path, via) as conn:
        conn.setup()
        for flow in FLOWS:
            conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        waiting = start_deal(conn, sandbox, stage="NEW")
        deal = start_deal(conn, sandbox)
        report = conn.runner("deals_to_orders").incremental(30)
        assert report.created == 1 and report.failed == 0, report.errors
        assert order_for(sandbox, waiting) == []  # not at a configured stage yet
        (order,) = order_for(sandbox, deal)
        assert order["Posted"] and len(order["Товары"]) == 1 and float(order["Товары"][0]["Количество"]) == 4
        assert order["Организация_Key"] != "00000000-0000-0000-0000-000000000000"
        stored = sandbox.portal.deals()
        mine = next(d for d in stored if d["ID"] == deal)
        assert mine["UF_CRM_1C_ORDER_NUMBER"] == order["Number"] and mine["ORIGIN_ID"] == order["Ref_Key"]
        if via == "soap":
            assert [c for c in sandbox.onec_app.soap.calls if "CreateOrder" in str(c)]
        # The 1C → Bitrix24 flow knows this order already: it updates the same deal, never creates a twin.
        conn.runner("orders").incremental(30)
        assert sum(1 for d in sandbox.portal.deals() if d.get("ORIGIN_ID") == order["Ref_Key"]) == 1
        # Asking again (ledger lost its link) finds the order by НомерПоДаннымКлиента instead of creating one.
        conn.ledger.commit("deals_to_orders", None, [], links=[LinkChange("deals_to_orders", deal, None)])
        conn.runner("deals_to_orders").incremental(30, full_scan=True)
        assert len(order_for(sandbox, deal)) == 1
