"""crm.category.list and crm.status.list: pipelines and stage directories (seeded in seed.py)."""

from __future__ import annotations

from typing import Any

from connector.sandbox.bitrix24.errors import ApiError
from connector.sandbox.bitrix24.filtering import FilterError, compile_filter, sort_records
from connector.sandbox.bitrix24.portal import CallContext, Portal
from connector.sandbox.bitrix24.registry import ListResult, method, page

STATUS_FIELDS = {"ID": "integer", "ENTITY_ID": "string", "STATUS_ID": "string", "NAME": "string",
                 "NAME_INIT": "string", "SORT": "integer", "SYSTEM": "char", "CATEGORY_ID": "integer",
                 "COLOR": "string", "SEMANTICS": "string"}


@method("crm.category.list", "crm")
def category_list(portal: Portal, params: dict[str, Any], ctx: CallContext) -> ListResult:
    """{categories: [...]} for an entityTypeId (id 0 is the default deal pipeline)."""
    try:
        type_id = int(str(params.get("entityTypeId")))
    except (TypeError, ValueError):
        raise ApiError(400, "INVALID_ARG_VALUE", "entityTypeId is required") from None
    if type_id not in portal.categories:
        raise ApiError(400, "NOT_FOUND", "SPA not found")
    rows = sorted(portal.categories[type_id], key=lambda c: (c["sort"], c["id"]))
    result = page(rows, int(params.get("__start", 0)))
    result.rows = {"categories": [dict(c) for c in result.rows]}
    return result


@method("crm.category.get", "crm")
def category_get(portal: Portal, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    """{category: {...}}."""
    for cat in portal.categories.get(int(str(params.get("entityTypeId") or 0)), []):
        if str(cat["id"]) == str(params.get("id")):
            return {"category": dict(cat)}
    raise ApiError(400, "NOT_FOUND", "Element not found")


@method("crm.status.list", "crm")
def status_list(portal: Portal, params: dict[str, Any], ctx: CallContext) -> ListResult:
    """Directory rows; filter ENTITY_ID DEAL_STAGE / DEAL_STAGE_n / SMART_INVOICE_STAGE_n, order SORT."""
    try:
        match = compile_filter(params.get("filter") or {}, STATUS_FIELDS, strict=False, portal_offset=portal.tz)
        rows: list[Any] = [r for r in portal.statuses if match(r)]
        rows = sort_records(rows, params.get("order") or {"SORT": "ASC"}, STATUS_FIELDS)
    except FilterError as err:
        raise ApiError(400, err.code, err.message) from None
    return page([dict(r) for r in rows], int(params.get("__start", 0)))


@method("crm.status.entity.types", "crm")
def status_entity_types(portal: Portal, params: dict[str, Any], ctx: CallContext) -> list[dict[str, Any]]:
    """Every directory with its name."""
    seen: dict[str, None] = dict.fromkeys(r["ENTITY_ID"] for r in portal.statuses)
    return [{"ID": e, "NAME": e} for e in seen]
