"""crm.category.list and crm.status.list: pipelines and stage directories (seeded in seed.py)."""

from __future__ import annotations

from typing import Any

from b24_1c_sandbox.bitrix24.errors import ApiError, legacy
from b24_1c_sandbox.bitrix24.filtering import FilterError, compile_filter, sort_records
from b24_1c_sandbox.bitrix24.legacy import crm_admin_only
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import ListResult, method, page

STATUS_FIELDS = {
    "ID": "integer",
    "ENTITY_ID": "string",
    "STATUS_ID": "string",
    "NAME": "string",
    "NAME_INIT": "string",
    "SORT": "integer",
    "SYSTEM": "char",
    "CATEGORY_ID": "integer",
    "COLOR": "string",
    "SEMANTICS": "string",
}


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
        match = compile_filter(
            params.get("filter") or {}, STATUS_FIELDS, strict=False, portal_offset=portal.tz
        )
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


@method("crm.status.add", "crm", write=True)
def status_add(portal: Portal, params: dict[str, Any], ctx: CallContext) -> int:
    """A new directory entry (a deal stage: ENTITY_ID DEAL_STAGE or DEAL_STAGE_n, STATUS_ID, NAME, SORT).

    CRM administrators only, as the page says.
    """
    crm_admin_only(portal, ctx)
    fields = params.get("fields")
    if not isinstance(fields, dict):
        raise legacy("Parameter 'fields' must be array.")
    fields = {str(k).upper(): v for k, v in fields.items()}
    for required in ("ENTITY_ID", "STATUS_ID", "NAME"):
        if not fields.get(required):
            raise legacy(f"The field {required} is required.")
    entity, status = str(fields["ENTITY_ID"]), str(fields["STATUS_ID"])
    if entity.startswith("DEAL_STAGE_") and not status.startswith("C"):
        status = f"C{entity.rsplit('_', 1)[1]}:{status}"  # stages of pipeline n carry the C<n>: prefix
    if any(r["ENTITY_ID"] == entity and r["STATUS_ID"] == status for r in portal.statuses):
        raise ApiError(400, "ERROR_CORE", f"Status {status} already exists<br>")
    new_id = max((int(r["ID"]) for r in portal.statuses), default=0) + 1
    semantics = {"S": "success", "F": "failure"}.get(str(fields.get("SEMANTICS") or ""))
    category = entity.rsplit("_", 1)[1] if entity.startswith("DEAL_STAGE_") else None
    row = {
        "ID": str(new_id),
        "ENTITY_ID": entity,
        "STATUS_ID": status,
        "NAME": str(fields["NAME"]),
        "NAME_INIT": "",
        "SORT": str(fields.get("SORT") or 500),
        "SYSTEM": "N",
        "COLOR": str(fields.get("COLOR") or "#ACE9FB"),
        "SEMANTICS": fields.get("SEMANTICS") or None,
        "CATEGORY_ID": category,
        "EXTRA": {"SEMANTICS": semantics or "process", "COLOR": str(fields.get("COLOR") or "#ACE9FB")},
    }
    portal.statuses.append(row)
    return new_id
