"""crm.company.* / crm.contact.* (legacy, with multifields), crm.requisite.*, crm.duplicate.findbycomm."""

from __future__ import annotations

from typing import Any

from b24_1c_sandbox.bitrix24.entities import TYPES
from b24_1c_sandbox.bitrix24.errors import ApiError, legacy
from b24_1c_sandbox.bitrix24.filtering import FilterError, apply_select, compile_filter, sort_records
from b24_1c_sandbox.bitrix24.legacy import fields_param, id_param, register_legacy, select_list
from b24_1c_sandbox.bitrix24.php import php_array_to_python
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import ListResult, method, page

register_legacy(TYPES[4])
register_legacy(TYPES[3])

REQUISITE_FIELDS: dict[str, str] = {
    "ID": "integer",
    "ENTITY_TYPE_ID": "integer",
    "ENTITY_ID": "integer",
    "PRESET_ID": "integer",
    "NAME": "string",
    "CODE": "string",
    "XML_ID": "string",
    "ORIGINATOR_ID": "string",
    "ACTIVE": "char",
    "SORT": "integer",
    "DATE_CREATE": "datetime",
    "DATE_MODIFY": "datetime",
    "CREATED_BY_ID": "user",
    "MODIFY_BY_ID": "user",
    "RQ_NAME": "string",
    "RQ_COMPANY_NAME": "string",
    "RQ_COMPANY_FULL_NAME": "string",
    "RQ_INN": "string",
    "RQ_KPP": "string",
    "RQ_OGRN": "string",
    "RQ_OGRNIP": "string",
    "RQ_OKPO": "string",
    "RQ_DIRECTOR": "string",
    "RQ_ACCOUNTANT": "string",
}
PRESETS = {1: "Организация", 2: "ИП", 3: "Физ. лицо"}


@method("crm.requisite.add", "crm", write=True)
def requisite_add(portal: Portal, params: dict[str, Any], ctx: CallContext) -> int:
    """Requires ENTITY_TYPE_ID, ENTITY_ID, PRESET_ID and NAME; the owner must exist."""
    fields = {str(k).upper(): v for k, v in fields_param(params).items()}
    missing = [k for k in ("ENTITY_TYPE_ID", "ENTITY_ID", "PRESET_ID", "NAME") if not fields.get(k)]
    if missing:
        raise legacy(f"The field '{missing[0]}' is required.")
    owner_type = TYPES.get(int(str(fields["ENTITY_TYPE_ID"])))
    if owner_type is None or owner_type.id not in (3, 4):
        raise legacy("Invalid value of ENTITY_TYPE_ID field.")
    if int(str(fields["ENTITY_ID"])) not in portal.entities.get(owner_type.store, {}):
        raise legacy("Entity not found.")
    if int(str(fields["PRESET_ID"])) not in PRESETS:
        raise legacy("Preset not found.")
    req_id = portal.next_id("requisite")
    now = portal.iso_now()
    row: dict[str, Any] = dict.fromkeys(REQUISITE_FIELDS)
    row.update(
        {
            "ID": str(req_id),
            "ACTIVE": "Y",
            "SORT": "500",
            "DATE_CREATE": now,
            "DATE_MODIFY": now,
            "CREATED_BY_ID": str(ctx.user_id),
            "MODIFY_BY_ID": str(ctx.user_id),
        }
    )
    for name, value in fields.items():
        if name in REQUISITE_FIELDS and name not in ("ID", "DATE_CREATE", "DATE_MODIFY"):
            row[name] = None if value is None else str(value)
    portal.table("requisite")[req_id] = row
    return req_id


@method("crm.requisite.list", "crm")
def requisite_list(portal: Portal, params: dict[str, Any], ctx: CallContext) -> ListResult:
    """Filter by RQ_INN / RQ_KPP / ENTITY_TYPE_ID + ENTITY_ID...; string values."""
    try:
        match = compile_filter(
            params.get("filter") or {}, REQUISITE_FIELDS, strict=False, portal_offset=portal.tz
        )
        rows: list[Any] = [r for r in portal.table("requisite").values() if match(r)]
        rows = sort_records(
            rows, params.get("order") or {"ID": "ASC"}, REQUISITE_FIELDS, portal_offset=portal.tz
        )
    except FilterError as err:
        raise ApiError(400, err.code, err.message) from None
    result = page(rows, int(params.get("__start", 0)))
    select = select_list(params)
    result.rows = [apply_select(r, select or None, list(REQUISITE_FIELDS)) for r in result.rows]
    return result


@method("crm.requisite.get", "crm")
def requisite_get(portal: Portal, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    """One requisite."""
    row = portal.table("requisite").get(id_param(params))
    if row is None:
        raise legacy("Not found")
    return dict(row)


@method("crm.requisite.delete", "crm", write=True)
def requisite_delete(portal: Portal, params: dict[str, Any], ctx: CallContext) -> bool:
    """Delete one requisite."""
    if portal.table("requisite").pop(id_param(params), None) is None:
        raise legacy("Not found")
    return True


def _normalize(kind: str, value: str) -> str:
    if kind == "PHONE":
        digits = "".join(ch for ch in value if ch.isdigit())
        return digits[-10:]  # +7 999 ... and 8 999 ... are the same number
    return value.strip().lower()


@method("crm.duplicate.findbycomm", "crm")
def findbycomm(portal: Portal, params: dict[str, Any], ctx: CallContext) -> Any:
    """{TYPE: [ids]} per entity type; ≥ 20 hits in one type suppress the others; `[]` when nothing."""
    kind = str(params.get("type") or params.get("TYPE") or "").upper()
    if kind not in ("EMAIL", "PHONE"):
        raise ApiError(400, "Communication type is not defined", "Parameter 'type' is required.")
    values = php_array_to_python(params.get("values") or params.get("VALUES") or [])
    values = list(values.values()) if isinstance(values, dict) else values
    if not isinstance(values, list) or not values:
        raise ApiError(400, "Values are not defined", "Parameter 'values' is required.")
    if len(values) > 20:
        raise ApiError(400, "Too many values", "Too many values: 20 is the maximum.")
    wanted = {_normalize(kind, str(v)) for v in values}
    only = str(params.get("entity_type") or params.get("ENTITY_TYPE") or "").upper()
    found: dict[str, list[int]] = {}
    for (type_id, entity_id), entries in portal.multifields.items():
        name = {1: "LEAD", 3: "CONTACT", 4: "COMPANY"}.get(type_id)
        if name is None or (only and only != name):
            continue
        if any(e["TYPE_ID"] == kind and _normalize(kind, e["VALUE"]) in wanted for e in entries):
            found.setdefault(name, []).append(entity_id)
    for name, ids in found.items():
        ids.sort()
        if len(ids) >= 20:
            return {name: ids[:20]}
    return found or []


@method("crm.requisite.update", "crm", write=True)
def requisite_update(portal: Portal, params: dict[str, Any], ctx: CallContext) -> bool:
    """Change a requisite's fields (owner and preset stay); unknown ids → "Not found"."""
    try:
        req_id = int(str(params.get("id", params.get("ID"))))
    except (TypeError, ValueError):
        raise legacy("ID is not defined or invalid") from None
    row = portal.table("requisite").get(req_id)
    if row is None:
        raise legacy("Not found")
    for name, value in {str(k).upper(): v for k, v in fields_param(params).items()}.items():
        if name in REQUISITE_FIELDS and name not in (
            "ID",
            "ENTITY_TYPE_ID",
            "ENTITY_ID",
            "DATE_CREATE",
            "DATE_MODIFY",
            "CREATED_BY_ID",
        ):
            row[name] = None if value is None else str(value)
    row["DATE_MODIFY"] = portal.iso_now()
    row["MODIFY_BY_ID"] = str(ctx.user_id)
    return True
