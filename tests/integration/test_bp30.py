"""БП 3.0 (issue 15 point 10) on the emulator's БП profile with the shipped mappings/bp30 set: no customer order, so
the deal is made from the invoice (СчетНаОплатуПокупателю), and the money flow reads ПоступлениеНаРасчетныйСчет
(partial receipts, through РасшифровкаПлатежа.СчетНаОплату_Key) and РеализацияТоваровУслуг (shipments, through
Сделка) into the deal's paid % and shipped %."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import ROOT, SINCE, make_config

pytestmark = pytest.mark.integration
FLOWS = ["counterparties", "orders", "money"]
INVOICE = "Document_СчетНаОплатуПокупателю"


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.dataset import reference_scenario
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=30, seed=3, rate_limit="off", onec_profile="bp3.0")) as sandbox:
        sandbox.reference = reference_scenario(sandbox.infobase)
        yield sandbox


@pytest.fixture
def conn(box: Any, tmp_path: Path) -> Iterator[Connector]:
    config = make_config(box, tmp_path / "ledger.sqlite3")
    config.mappings_dir = ROOT / "mappings" / "bp30"
    config.flows = list(FLOWS)
    with Connector(config) as c:
        c.setup()
        yield c


def deal_of(box: Any, invoice: str) -> dict[str, Any]:
    return next(d for d in box.portal.deals() if d.get("ORIGIN_ID") == invoice)


def test_a_bp_invoice_becomes_a_deal_and_its_receipts_and_shipments_reach_paid_and_shipped(
    box: Any, conn: Connector
) -> None:
    invoice = box.reference["order"]  # in БП the reference scenario's order is an invoice
    assert box.infobase.get(INVOICE, invoice) is not None
    for flow in FLOWS:
        report = conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        assert report.failed == 0, (flow, report.errors)
    deal = deal_of(box, invoice)
    assert float(deal["OPPORTUNITY"]) == 25000 and deal["COMPANY_ID"] not in (None, "", "0")
    assert deal["UF_CRM_1C_ORDER_NUMBER"] == box.infobase.get(INVOICE, invoice)["Number"]
    # A generated invoice names its contract (ДоговорКонтрагента_Key): its number and date are on the deal.
    other = next(i for i in box.infobase.all(INVOICE) if i["Ref_Key"] != invoice and not i["DeletionMark"])
    contract = box.infobase.get("Catalog_ДоговорыКонтрагентов", other["ДоговорКонтрагента_Key"])
    shown = deal_of(box, other["Ref_Key"])
    assert shown["UF_CRM_1C_CONTRACT_NUMBER"] == contract["Номер"]
    assert shown["UF_CRM_1C_CONTRACT_DATE"][:10] == contract["Дата"][:10]
    # receipt 10 000 of 25 000, 40 % of the goods shipped
    assert (deal["UF_CRM_1C_PAID_PERCENT"], deal["UF_CRM_1C_SHIPPED_PERCENT"]) == ("40", "40")
    assert float(deal["UF_CRM_1C_PAID_AMOUNT"]) == 10000 and deal["STAGE_ID"] == "EXECUTING"
    # every invoice not marked for deletion is one deal
    invoices = {i["Ref_Key"] for i in box.infobase.all(INVOICE) if not i["DeletionMark"]}
    origins = Counter(d["ORIGIN_ID"] for d in box.portal.deals())
    assert set(origins) >= invoices and max(origins.values()) == 1

    for (
        flow
    ) in FLOWS:  # today's look at invoices with a due date is taken: what follows is found by the tracker
        conn.runner(flow).incremental(3650)
    doc = box.infobase.get(INVOICE, invoice)
    box.dataset.receipt(doc, 5000, datetime(2024, 11, 20, 9, 30))  # a second partial receipt
    for flow in FLOWS:
        conn.runner(flow).incremental(3650)
    deal = deal_of(box, invoice)
    assert (deal["UF_CRM_1C_PAID_PERCENT"], deal["UF_CRM_1C_SHIPPED_PERCENT"]) == ("60", "40")
    box.dataset.shipment(doc, 0.6, datetime(2024, 11, 21, 10, 0))  # the rest of the goods, on its own
    for flow in FLOWS:
        conn.runner(flow).incremental(3650)
    deal = deal_of(box, invoice)
    assert (deal["UF_CRM_1C_PAID_PERCENT"], deal["UF_CRM_1C_SHIPPED_PERCENT"]) == ("60", "100")
    assert float(deal["UF_CRM_1C_BALANCE"]) == 10000 and deal["STAGE_ID"] == "EXECUTING"
    payments = [p for p in box.portal.table("payment").values() if p["_owner"] == [2, int(deal["ID"])]]
    assert sorted(p["sum"] for p in payments) == [5000, 10000]


def test_the_bp30_set_loads_with_its_schedule() -> None:
    from connector.mapping.schema import load_mappings
    from connector.schedule import load_schedule

    specs = load_mappings(ROOT / "mappings" / "bp30", FLOWS)
    assert specs["orders"].source.entity == INVOICE and specs["money"].source.entity == INVOICE
    assert set(load_schedule(ROOT / "schedules" / "bp30" / "default.yaml", FLOWS)) == set(FLOWS)


def test_verify_passes_on_a_ready_bp_base_with_the_bp30_set(box: Any, conn: Connector) -> None:
    """The 1C objects verify expects of a БП money mapping are БП's (ПоступлениеНаРасчетныйСчет …), not УТ's."""
    from connector.verify import verify

    found = verify(conn.config)
    assert found.ready, "\n".join(found.lines())
    assert any("1C publishes and lets us read all" in line for line in found.lines())
