"""crm.orderentity.list: which sale orders are bound to which CRM objects (api-reference/crm/universal/order-entity/).

A deal's payments live in a sale order made with its first payment (payments.py `_order_of`); this method lists those
bindings: camelCase fields `orderId`, `ownerId`, `ownerTypeId`, the result wrapped as `{"orderEntity": […]}`, pages of
50 (`start=-1`: no count), ordered by `ownerId` unless asked otherwise. The page names the online-store manager as who
may call it; the sandbox has no such role, so, as for the sale methods, only administrators are answered (stricter).
"""

from __future__ import annotations

from typing import Any

from b24_1c_sandbox.bitrix24.errors import ApiError
from b24_1c_sandbox.bitrix24.filtering import FilterError, compile_filter, sort_records
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import ListResult, method, page
from b24_1c_sandbox.bitrix24.saleindex import pinned, sale_orders

Params = dict[str, Any]
ACCESS_DENIED = 200040300010
FIELD_TYPES = {"orderId": "integer", "ownerId": "integer", "ownerTypeId": "integer"}


def _view(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "orderId": int(order["id"]),
        "ownerId": int(order["_owner"][1]),
        "ownerTypeId": int(order["_owner"][0]),
    }


def _candidates(portal: Portal, params: Params) -> list[dict[str, Any]]:
    """Bindings the filter may match: those of the owners (`ownerId`, `=ownerId`, `@ownerId`, the connector's read)
    or orders (`orderId`...) it names, from the indexes, else every binding; the whole filter is applied after."""
    table = sale_orders(portal)
    owners = pinned(params.get("filter"), "ownerId")
    if owners is not None:
        return [_view(table[i]) for i in table.in_order(i for o in owners for i in table.ids("ownerId", o))]
    orders = pinned(params.get("filter"), "orderId")
    if orders is not None:
        return [_view(table[i]) for i in table.in_order(orders)]
    return [_view(o) for o in table.values()]


@method("crm.orderentity.list", "crm")
def orderentity_list(portal: Portal, params: Params, ctx: CallContext) -> ListResult:
    """Bindings of sale orders to CRM objects by select / filter (the documented prefixes, `@` = IN) / order."""
    if not portal.users.get(ctx.user_id, {}).get("IS_ADMIN"):
        raise ApiError(400, ACCESS_DENIED, "Access Denied")
    try:
        match = compile_filter(params.get("filter") or {}, FIELD_TYPES, strict=True, portal_offset=portal.tz)
        order = params.get("order") or {"ownerId": "asc"}
        rows = [
            dict(r)
            for r in sort_records([r for r in _candidates(portal, params) if match(r)], order, FIELD_TYPES)
        ]
    except FilterError as err:
        raise ApiError(400, 0, err.message) from None
    select = params.get("select")
    if isinstance(select, list) and select:
        unknown = [s for s in select if s not in FIELD_TYPES]
        if unknown:
            raise ApiError(400, 0, f"Unknown field: {unknown[0]}")
        rows = [{k: r[k] for k in select} for r in rows]
    found = page(rows, int(params.get("__start", 0)))
    return ListResult({"orderEntity": found.rows}, found.total, found.next)
