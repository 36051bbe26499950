"""crm.deal.*: legacy deals (shared handlers in legacy.py), product rows (replace-all) and deal contacts."""

from __future__ import annotations

from typing import Any

from b24_1c_sandbox.bitrix24.entities import DEAL_FIELDS, READ_ONLY, TYPES, EntityType
from b24_1c_sandbox.bitrix24.errors import ApiError, legacy
from b24_1c_sandbox.bitrix24.legacy import get_record, id_param, register_legacy
from b24_1c_sandbox.bitrix24.php import php_array_to_python
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import method
from b24_1c_sandbox.bitrix24.store import share_strings

__all__ = ["DEAL_FIELDS", "READ_ONLY", "make_row", "recompute_opportunity"]

DEAL = TYPES[2]
register_legacy(DEAL)

ROW_DEFAULTS: dict[str, Any] = {
    "PRODUCT_ID": 0,
    "PRICE": 0.0,
    "QUANTITY": 1,
    "DISCOUNT_TYPE_ID": 2,
    "DISCOUNT_RATE": 0,
    "DISCOUNT_SUM": 0,
    "TAX_RATE": None,
    "TAX_INCLUDED": "N",
    "MEASURE_CODE": 796,
    "MEASURE_NAME": "шт",
    "SORT": 10,
}


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _prices(price: float, row: dict[str, Any], discount_type: int) -> dict[str, float]:
    """The derived prices of a row as the productrows pages define them: PRICE is the final price of a unit (with
    its discount and tax), PRICE_EXCLUSIVE without the tax, PRICE_NETTO without discount and tax, PRICE_BRUTTO
    without the discount but with the tax; the discount is a percent of PRICE_NETTO (type 2, the page's example:
    999 less 10 % is 899.1, DISCOUNT_SUM 99.9) or an amount per unit (type 1). Unverified on a portal: that PRICE
    includes the tax when TAX_INCLUDED is N as well (the pages define PRICE as the final price either way)."""
    tax = _number(row.get("TAX_RATE"))
    exclusive = price / (1 + tax / 100)
    if discount_type == 1:
        discount = _number(row.get("DISCOUNT_SUM"))
        netto = exclusive + discount
        rate = discount / netto * 100 if netto else 0.0
    else:
        rate = _number(row.get("DISCOUNT_RATE"))
        netto = exclusive / (1 - rate / 100) if rate < 100 else exclusive
        discount = netto - exclusive
    return {
        "PRICE_EXCLUSIVE": round(exclusive, 2),
        "PRICE_NETTO": round(netto, 2),
        "PRICE_BRUTTO": round(netto * (1 + tax / 100), 2),
        "DISCOUNT_RATE": round(rate, 2),
        "DISCOUNT_SUM": round(discount, 2),
    }


def make_row(portal: Portal, owner_type: str, owner_id: int, raw: dict[str, Any], n: int) -> dict[str, Any]:
    """One stored product row (legacy shape, mixed typing as the portal returns it)."""
    row = {**ROW_DEFAULTS, **{str(k).upper(): v for k, v in raw.items()}}
    try:
        price = float(row["PRICE"])
        qty = float(row["QUANTITY"])
    except (TypeError, ValueError):
        raise ApiError(400, "ERROR_CORE", f"Invalid price or quantity in row #{n + 1}<br>") from None
    discount_type = int(row["DISCOUNT_TYPE_ID"] or 2)
    if discount_type == 1 and row.get("DISCOUNT_SUM") in (None, "") and row.get("DISCOUNT_RATE"):
        raise ApiError(
            400, "ERROR_CORE", "Discount Sum (DISCOUNT_SUM) is required if Discount Type is Absolute<br>"
        )
    prices = _prices(price, row, discount_type)
    return {
        "ID": str(portal.next_id("productrow")),
        "OWNER_ID": str(owner_id),
        "OWNER_TYPE": owner_type,
        "PRODUCT_ID": int(row["PRODUCT_ID"] or 0),
        "PRODUCT_NAME": str(row.get("PRODUCT_NAME") or ""),
        "PRICE": price,
        **prices,
        "PRICE_ACCOUNT": f"{price:.2f}",
        "QUANTITY": qty,
        "DISCOUNT_TYPE_ID": discount_type,
        "TAX_RATE": row["TAX_RATE"],
        "TAX_INCLUDED": row["TAX_INCLUDED"],
        "CUSTOMIZED": "Y",
        "MEASURE_CODE": row["MEASURE_CODE"],
        "MEASURE_NAME": row["MEASURE_NAME"],
        "SORT": int(row["SORT"]) if row["SORT"] else 10 * (n + 1),
        "XML_ID": row.get("XML_ID"),
        "TYPE": 1,
        "STORE_ID": None,
    }


def recompute_opportunity(portal: Portal, et: EntityType, record: dict[str, Any]) -> None:
    """With IS_MANUAL_OPPORTUNITY=N the amount is the sum of PRICE × QUANTITY over the rows."""
    rows = portal.product_rows.get((et.abbr, int(record["ID"])), [])
    if record.get("IS_MANUAL_OPPORTUNITY") != "Y":
        record["OPPORTUNITY"] = f"{sum(r['PRICE'] * r['QUANTITY'] for r in rows):.2f}"
    record["DATE_MODIFY"] = portal.now().isoformat()


@method("crm.deal.productrows.set", "crm", write=True)
def rows_set(portal: Portal, params: dict[str, Any], ctx: CallContext) -> bool:
    """Replace all rows of a deal: rows left out are deleted."""
    deal_id = id_param(params)
    deal = get_record(portal, DEAL, deal_id)
    rows = php_array_to_python(params.get("rows") or [])
    if isinstance(rows, dict):
        rows = list(rows.values())
    if not isinstance(rows, list):
        raise legacy("Parameter 'rows' must be array.")
    stored = []
    for n, raw in enumerate(rows):
        if not isinstance(raw, dict):
            raise ApiError(400, "ERROR_CORE", f"Invalid product row #{n + 1}<br>")
        stored.append(share_strings(make_row(portal, "D", deal_id, raw, n)))
    portal.product_rows[("D", deal_id)] = stored
    recompute_opportunity(portal, DEAL, deal)
    return True


@method("crm.deal.productrows.get", "crm")
def rows_get(portal: Portal, params: dict[str, Any], ctx: CallContext) -> list[dict[str, Any]]:
    """The rows of one deal."""
    deal_id = id_param(params)
    get_record(portal, DEAL, deal_id)
    return [dict(r) for r in portal.product_rows.get(("D", deal_id), [])]


@method("crm.deal.contact.items.get", "crm")
def contacts_get(portal: Portal, params: dict[str, Any], ctx: CallContext) -> list[dict[str, Any]]:
    """CONTACT_IDS are write-only on the deal; this is where they are read."""
    deal_id = id_param(params)
    get_record(portal, DEAL, deal_id)
    ids = portal.contact_links.get((2, deal_id), [])
    return [
        {"CONTACT_ID": i, "SORT": 10 * (n + 1), "ROLE_ID": 0, "IS_PRIMARY": "Y" if n == 0 else "N"}
        for n, i in enumerate(ids)
    ]
