"""Options of the money flow (issue 7, points 2, 3 and 5), each on a copy of the shipped mappings edited as an admin
would: payments as smart-process items, shipped % by quantity, and a stage rule that moves a deal to another
pipeline (and never back)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import ROOT, SINCE, make_config

pytestmark = pytest.mark.integration
RECEIPT = "Document_ПоступлениеБезналичныхДенежныхСредств"
SHIPMENT = "Document_РеализацияТоваровУслуг"
ORDER = "Document_ЗаказКлиента"
FLOWS = ("counterparties", "orders", "money")
Edit = Callable[[str], str]


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.dataset import reference_scenario
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=30, seed=3, rate_limit="off")) as sandbox:
        sandbox.reference = reference_scenario(sandbox.infobase)
        yield sandbox


@pytest.fixture
def connect(box: Any, tmp_path: Path) -> Iterator[Callable[[Edit | None], Connector]]:
    """A connector over a copy of the shipped mappings whose money.yaml went through `edit` (None: as shipped)."""
    opened: list[Connector] = []

    def make(edit: Edit | None) -> Connector:
        folder = tmp_path / "mappings"
        folder.mkdir()
        for path in (ROOT / "mappings").glob("*.yaml"):
            shutil.copy(path, folder / path.name)
        money = folder / "money.yaml"
        text = money.read_text(encoding="utf-8")
        edited = edit(text) if edit is not None else text
        assert edited != text or edit is None, "the edit did not apply to the shipped money.yaml"
        money.write_text(edited, encoding="utf-8")
        config = make_config(box, tmp_path / "ledger.sqlite3")
        config.mappings_dir = folder
        config.flows = list(FLOWS)
        conn = Connector(config)
        opened.append(conn)
        conn.setup()
        return conn

    yield make
    for conn in opened:
        conn.close()


def replace(old: str, new: str) -> Edit:
    def edit(text: str) -> str:
        assert text.count(old) == 1, f"expected one {old!r} in the shipped money.yaml"
        return text.replace(old, new)

    return edit


def sync(conn: Connector, backfill: bool = False) -> None:
    for flow in FLOWS:
        runner = conn.runner(flow)
        if backfill:
            runner.backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        else:
            runner.incremental(3650, full_scan=True)


def deal_of(box: Any, order: str) -> dict[str, Any]:
    return next(d for d in box.portal.deals() if d.get("ORIGIN_ID") == order)


def test_payments_as_smart_process_items_follow_posting(
    box: Any, connect: Callable[[Edit | None], Connector]
) -> None:
    conn = connect(replace("    mode: native ", "    mode: smart_process\n    entity_type_id: 1038\n    # "))
    receipt, order = box.reference["receipt"], box.reference["order"]
    originator = conn.mappings["money"].target.external_key.originator_id or "1C"  # the installation's id
    xml_id = f"{originator}:{receipt}:1"
    sync(conn, backfill=True)
    deal = deal_of(box, order)
    items = box.portal.entities.get("dynamic_1038", {})
    mine = [i for i in items.values() if i.get("XML_ID") == xml_id]
    assert len(mine) == 1, "one item per 1C receipt row, keyed by document and line"
    item = mine[0]
    assert item["PARENT_ID_2"] == deal["ID"] and float(item["OPPORTUNITY"]) == 10000
    assert [p for p in box.portal.table("payment").values() if p["_owner"] == [2, int(deal["ID"])]] == []

    box.dataset.repost(RECEIPT, receipt, 12000)
    sync(conn)
    assert float(items[int(item["ID"])]["OPPORTUNITY"]) == 12000  # updated in place, not a twin
    assert len([i for i in items.values() if i.get("XML_ID") == xml_id]) == 1

    box.dataset.unpost(RECEIPT, receipt)
    sync(conn)
    assert [i for i in items.values() if i.get("XML_ID") == xml_id] == []  # deleted


def test_shipped_percent_by_quantity(box: Any, connect: Callable[[Edit | None], Connector]) -> None:
    conn = connect(replace("shipped_by: amount ", "shipped_by: quantity "))
    order = box.reference["order"]
    sync(conn, backfill=True)
    assert float(deal_of(box, order)["UF_CRM_1C_SHIPPED_PERCENT"]) == 40  # 4 of 10 and 2 of 5 units

    # Ship the whole first line only: 10 of 15 units (66.67 %), though 15 000 of 25 000 by amount (60 %).
    shipment = box.infobase.get(SHIPMENT, box.reference["shipment"])
    first = {
        **shipment["Товары"][0],
        "Количество": 10,
        "КоличествоУпаковок": 10,
        "Сумма": 15000,
        "СуммаСНДС": 15000,
        "СуммаВзаиморасчетов": 15000,
    }
    box.dataset.docs.repost(SHIPMENT, shipment["Ref_Key"], {"Товары": [first]})
    sync(conn)
    assert (
        deal_of(box, order)["UF_CRM_1C_SHIPPED_PERCENT"] == "66"
    )  # 10 of 15 units: 66.67 %, shown whole, down


PIPELINE_RULE = replace(
    "    when:\n      - if: {all: [{field: fully_paid",
    "    when:\n      - if: {field: fully_paid, eq: true}\n"
    '        then: {stage: "C1:EXECUTING", category: 1}\n'
    "      - if: {all: [{field: fully_paid",
)


def pay_in_full(box: Any, conn: Connector) -> dict[str, Any]:
    """Backfill at 40 % paid, then a receipt of the remaining 15 000 and a cycle; the new receipt."""
    order = box.reference["order"]
    sync(conn, backfill=True)
    deal = deal_of(box, order)
    assert (deal["CATEGORY_ID"], deal["STAGE_ID"]) == ("0", "EXECUTING")  # 40 % paid, first pipeline
    receipt: dict[str, Any] = box.dataset.receipt(
        box.infobase.get(ORDER, order), 15000, datetime(2024, 12, 1, 12, 0)
    )
    sync(conn)
    return receipt


def test_a_stage_rule_moves_the_deal_to_another_pipeline(
    box: Any, connect: Callable[[Edit | None], Connector]
) -> None:
    conn = connect(PIPELINE_RULE)
    before = len(box.portal.calls)
    pay_in_full(box, conn)
    deal = deal_of(box, box.reference["order"])
    assert (deal["CATEGORY_ID"], deal["STAGE_ID"]) == ("1", "C1:EXECUTING")
    moves = [c for c in box.portal.calls[before:] if c.method == "crm.item.update"]
    assert moves, "the pipeline is changed through crm.item.update (crm.deal.update cannot change it)"


def test_a_later_rule_never_moves_the_deal_back_within_its_pipeline(
    box: Any, connect: Callable[[Edit | None], Connector]
) -> None:
    conn = connect(None)  # the shipped rules
    extra = pay_in_full(box, conn)
    assert deal_of(box, box.reference["order"])["STAGE_ID"] == "FINAL_INVOICE"  # paid in full
    box.dataset.unpost(RECEIPT, extra["Ref_Key"])  # the rules now ask for EXECUTING, an earlier stage
    sync(conn)
    deal = deal_of(box, box.reference["order"])
    assert deal["STAGE_ID"] == "FINAL_INVOICE" and float(deal["UF_CRM_1C_PAID_PERCENT"]) == 40


def test_a_later_rule_never_moves_the_deal_back_out_of_its_new_pipeline(
    box: Any, connect: Callable[[Edit | None], Connector]
) -> None:
    conn = connect(PIPELINE_RULE)
    extra = pay_in_full(box, conn)
    box.dataset.unpost(RECEIPT, extra["Ref_Key"])  # the rules now ask for EXECUTING of the first pipeline
    sync(conn)
    deal = deal_of(box, box.reference["order"])
    assert float(deal["UF_CRM_1C_PAID_PERCENT"]) == 40  # the facts still follow 1C
    assert (deal["CATEGORY_ID"], deal["STAGE_ID"]) == ("1", "C1:EXECUTING")


def test_the_stage_order_is_read_past_the_first_page_of_the_status_directory(
    box: Any, connect: Callable[[Edit | None], Connector]
) -> None:
    """crm.status.list pages by 50 over every directory: with 60 lead sources sorted first, the deal stages are on
    the second page, and without them the never-backwards rule cannot tell FINAL_INVOICE from EXECUTING."""
    first_id = 1 + max(int(r["ID"]) for r in box.portal.statuses)
    for n in range(60):
        source = {"ID": str(first_id + n), "ENTITY_ID": "SOURCE", "STATUS_ID": f"S{n}", "NAME": f"source {n}"}
        box.portal.statuses.append({**box.portal.statuses[0], **source, "SORT": "1", "CATEGORY_ID": None})
    conn = connect(None)  # the shipped rules
    extra = pay_in_full(box, conn)
    assert deal_of(box, box.reference["order"])["STAGE_ID"] == "FINAL_INVOICE"
    box.dataset.unpost(RECEIPT, extra["Ref_Key"])  # the rules now ask for EXECUTING, an earlier stage
    sync(conn)
    assert deal_of(box, box.reference["order"])["STAGE_ID"] == "FINAL_INVOICE"
