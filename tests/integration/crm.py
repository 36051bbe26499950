"""What a manager does in Bitrix24 in the two-way tests: start a deal for a synced company at a watched stage."""

from __future__ import annotations

from typing import Any

from connector.app import Connector


def synced_company(conn: Connector) -> str:
    """A company the counterparties flow made (its 1C counterparty exists)."""
    return next(
        link.target_id
        for link in conn.ledger.links("counterparties", list(conn.ledger.keys("counterparties"))).values()
        if link.target_id.isdigit()
    )


def start_deal(
    conn: Connector,
    box: Any,
    *,
    title: str = "Сделка из CRM",
    quantity: float = 2,
    product: int = 0,
    rows: bool = True,
    company: str | None = None,
    stage: str = "EXECUTING",
) -> str:
    """A deal with one product row at a stage the Bitrix24 → 1C flow watches, through the REST API."""
    item = box.dataset.products[product]
    fields = {"TITLE": title, "COMPANY_ID": company or synced_company(conn), "STAGE_ID": stage}
    deal = str(conn.bitrix24.call("crm.deal.add", {"fields": fields}, write=True).result)
    if rows:
        row = {"PRODUCT_NAME": item["Description"], "PRICE": item["price"], "QUANTITY": quantity}
        conn.bitrix24.call("crm.deal.productrows.set", {"id": deal, "rows": [row]}, write=True)
    return deal
