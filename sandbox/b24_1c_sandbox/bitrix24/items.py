"""crm.item.* (universal API: camelCase, typed values, {item}/{items}) and crm.item.productrow.*."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from b24_1c_sandbox.bitrix24.deals import make_row, recompute_opportunity
from b24_1c_sandbox.bitrix24.entities import (
    BY_ABBR,
    MULTIFIELDS,
    READ_ONLY,
    TYPES,
    UNSUPPORTED,
    EntityType,
    camel_map,
    filter_type,
    from_camel,
    to_camel,
    typed,
)
from b24_1c_sandbox.bitrix24.errors import ApiError, item_not_found
from b24_1c_sandbox.bitrix24.filtering import FilterError, compile_filter, sort_records
from b24_1c_sandbox.bitrix24.legacy import select_list
from b24_1c_sandbox.bitrix24.listindex import INDEXED_TEXT, candidates
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import ListResult, method, page
from b24_1c_sandbox.bitrix24.store import all_types, create, delete, item_view, update, write_fm

Params = dict[str, Any]


def entity_type(params: Params) -> EntityType:
    """The `entityTypeId` parameter, validated the way crm.item.* does."""
    raw = params.get("entityTypeId", params.get("ENTITYTYPEID", params.get("entitytypeid")))
    try:
        type_id = int(str(raw))
    except (TypeError, ValueError):
        raise ApiError(400, "INVALID_ARG_VALUE", "entityTypeId is required") from None
    if type_id in UNSUPPORTED:
        raise ApiError(400, UNSUPPORTED[type_id], "Entity type is not supported")
    et = TYPES.get(type_id)
    if et is None:
        raise ApiError(400, "NOT_FOUND", "SPA not found")
    return et


def _item_id(params: Params) -> int:
    try:
        return int(str(params.get("id", params.get("ID"))))
    except (TypeError, ValueError):
        raise ApiError(400, "INVALID_ARG_VALUE", "id is required") from None


def _record(portal: Portal, et: EntityType, item_id: int) -> dict[str, Any]:
    record = portal.record(et.store, item_id)
    if record is None:
        raise item_not_found()
    return record


def _fields(portal: Portal, et: EntityType, params: Params) -> tuple[dict[str, Any], Any]:
    raw = params.get("fields")
    if not isinstance(raw, dict):
        raise ApiError(400, "INVALID_ARG_VALUE", "fields is required")
    known = camel_map(et, list(portal.user_field_defs(et.store)))
    out: dict[str, Any] = {}
    fm = None
    for key, value in raw.items():
        if key == "fm":
            fm = value
            continue
        if key == "contactIds":
            out["CONTACT_IDS"] = value
            continue
        upper = from_camel(str(key), et, known)
        if upper is not None and upper not in MULTIFIELDS:
            out[upper] = value
    return out, fm


def _view(portal: Portal, et: EntityType, record: dict[str, Any], params: Params) -> dict[str, Any]:
    original = str(params.get("useOriginalUfNames", "N")).upper() in ("Y", "1", "TRUE")
    return item_view(portal, et, record, original)


@method("crm.item.add", "crm", write=True)
def item_add(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """{item: {...}} of the created item."""
    et = entity_type(params)
    fields, fm = _fields(portal, et, params)
    record = create(portal, et, fields, ctx)
    if fm is not None and "HAS_PHONE" in et.fields:
        write_fm(portal, et, int(record["ID"]), fm)
        update(portal, et, record, {}, ctx)
    return {"item": _view(portal, et, record, params)}


@method("crm.item.update", "crm", write=True)
def item_update(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """Partial update; `categoryId` may change here (it cannot through crm.deal.update)."""
    et = entity_type(params)
    record = _record(portal, et, _item_id(params))
    fields, fm = _fields(portal, et, params)
    if fm is not None and "HAS_PHONE" in et.fields:
        write_fm(portal, et, int(record["ID"]), fm)
    update(portal, et, record, fields, ctx, immutable_category=False)
    return {"item": _view(portal, et, record, params)}


@method("crm.item.get", "crm")
def item_get(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """{item: {...}}."""
    et = entity_type(params)
    return {"item": _view(portal, et, _record(portal, et, _item_id(params)), params)}


@method("crm.item.delete", "crm", write=True)
def item_delete(portal: Portal, params: Params, ctx: CallContext) -> list[Any]:
    """Deletes; the portal answers an empty (PHP) array."""
    et = entity_type(params)
    item_id = _item_id(params)
    _record(portal, et, item_id)
    delete(portal, et, item_id, ctx)
    return []


@method("crm.item.list", "crm")
def item_list(portal: Portal, params: Params, ctx: CallContext) -> ListResult:
    """{items: [...]} with strict camelCase filters (unknown field → 400 INVALID_ARG_VALUE)."""
    et = entity_type(params)
    types = {
        to_camel(n, et): filter_type(k) for n, k in all_types(portal, et).items() if k != "crm_multifield"
    }
    if et.id in (2, 31, 1038):
        types["contactIds"] = "crm_contact"
    order = params.get("order") or {}
    try:
        match = compile_filter(params.get("filter") or {}, types, strict=True, portal_offset=portal.tz)
        # One view at a time, kept only when it matches: the store's records are never all materialised at once
        # (57,000 smart invoices at 100,000 orders were ~85 MB of views per call, issue 13 goal 6).
        store: Any = portal.entities.get(et.store, {})
        stored: Iterable[dict[str, Any]] | None = candidates(  # an index on id or xmlId (listindex.py)
            store, params.get("filter"), types, {n: to_camel(n, et) for n in ("ID", *INDEXED_TEXT)}
        )
        if stored is None:
            stored = store.values()
        rows: list[Any] = [v for v in (item_view(portal, et, r) for r in stored) if match(v)]
        if order:
            for key, direction in order.items() if isinstance(order, dict) else []:
                if str(key) not in types and str(key).lower() not in {t.lower() for t in types}:
                    raise FilterError("INVALID_ARG_VALUE", f"Invalid order: field '{key}' is not allowed")
                if str(direction).upper() not in ("ASC", "DESC"):
                    raise FilterError(
                        "INVALID_ARG_VALUE", "Invalid order: allowed sort directions are ASC, DESC"
                    )
            rows = sort_records(rows, order, types, portal_offset=portal.tz)
        elif portal.settings.shuffle_unordered:
            portal.random.shuffle(rows)
    except FilterError as err:
        raise ApiError(400, err.code or "INVALID_ARG_VALUE", err.message) from None
    result = page(rows, int(params.get("__start", 0)))
    select = select_list(params)
    original = str(params.get("useOriginalUfNames", "N")).upper() in ("Y", "1", "TRUE")
    out = []
    for view in result.rows:
        if original:
            view = _view(portal, et, portal.entities[et.store][view["id"]], params)
        out.append(_select(view, select))
    result.rows = {"items": out}
    return result


def _select(view: dict[str, Any], select: list[str]) -> dict[str, Any]:
    if not select or "*" in select:
        extra = {s.lower() for s in select if s.endswith("*") and s != "*"}
        if select and not extra:
            return view
        return {
            k: v
            for k, v in view.items()
            if not k.lower().startswith("ufcrm")
            or not select
            or any(k.lower().startswith(p[:-1]) for p in extra)
        }
    wanted = {s.lower() for s in select} | {"id"}
    prefixes = [s.lower()[:-1] for s in select if s.endswith("*")]
    return {
        k: v for k, v in view.items() if k.lower() in wanted or any(k.lower().startswith(p) for p in prefixes)
    }


@method("crm.item.fields", "crm")
def item_fields(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """{fields: {camelName: {type, isRequired, ..., upperName}}}."""
    et = entity_type(params)
    out: dict[str, Any] = {}
    for name, kind in et.fields.items():
        if name in MULTIFIELDS:
            continue
        out[to_camel(name, et)] = {
            "type": kind,
            "isRequired": False,
            "isReadOnly": name in READ_ONLY,
            "isImmutable": False,
            "isMultiple": False,
            "isDynamic": False,
            "title": name.replace("_", " ").title(),
            "upperName": name,
        }
    for name, d in portal.user_field_defs(et.store).items():
        out[to_camel(name, et)] = {
            "type": d["USER_TYPE_ID"],
            "isRequired": d.get("MANDATORY") == "Y",
            "isReadOnly": False,
            "isImmutable": False,
            "isMultiple": d.get("MULTIPLE") == "Y",
            "isDynamic": True,
            "title": d.get("LABEL") or name,
            "upperName": name,
        }
    return {"fields": out}


# -- product rows -----------------------------------------------------------------------------------------

_ROW_KINDS = {
    "ID": "integer",
    "OWNER_ID": "integer",
    "PRODUCT_ID": "integer",
    "PRICE": "double",
    "PRICE_EXCLUSIVE": "double",
    "PRICE_NETTO": "double",
    "PRICE_BRUTTO": "double",
    "QUANTITY": "double",
    "DISCOUNT_TYPE_ID": "integer",
    "DISCOUNT_RATE": "double",
    "DISCOUNT_SUM": "double",
    "TAX_RATE": "double",
    "MEASURE_CODE": "integer",
    "SORT": "integer",
    "TYPE": "integer",
    "STORE_ID": "integer",
    "PRICE_ACCOUNT": "double",
}
_ROW_TYPES = {to_camel(k, TYPES[2]): filter_type(v) for k, v in _ROW_KINDS.items()} | {
    "ownerType": "string",
    "productName": "string",
    "taxIncluded": "char",
    "xmlId": "string",
}


def _row_view(row: dict[str, Any]) -> dict[str, Any]:
    return {to_camel(k, TYPES[2]): typed(v, _ROW_KINDS.get(k, "string")) for k, v in row.items()}


def _row_input(fields: dict[str, Any]) -> dict[str, Any]:
    return {("".join("_" + c if c.isupper() else c for c in str(k))).upper(): v for k, v in fields.items()}


def _owner(portal: Portal, owner_type: Any, owner_id: Any) -> tuple[EntityType, dict[str, Any]]:
    et = BY_ABBR.get(str(owner_type))
    try:
        record = portal.record(et.store, int(str(owner_id))) if et else None
    except ValueError:
        record = None
    if et is None or record is None:
        raise ApiError(400, "NOT_FOUND", "Owner not found")
    return et, record


def _find_row(portal: Portal, row_id: int) -> tuple[tuple[str, int], dict[str, Any]]:
    for key, rows in portal.product_rows.items():
        for row in rows:
            if int(row["ID"]) == row_id:
                return key, row
    raise ApiError(400, "NOT_FOUND", "Product row not found")


@method("crm.item.productrow.add", "crm", write=True)
def productrow_add(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """{productRow: {...}}; the owner's amount follows unless it is manual."""
    fields: dict[str, Any] = params["fields"] if isinstance(params.get("fields"), dict) else {}
    et, owner = _owner(portal, fields.get("ownerType"), fields.get("ownerId"))
    rows = portal.product_rows.get((et.abbr, int(owner["ID"])), [])
    row = make_row(portal, et.abbr, int(owner["ID"]), _row_input(fields), len(rows))
    rows.append(row)
    portal.product_rows[(et.abbr, int(owner["ID"]))] = rows  # the store keeps copies (compact.Table)
    recompute_opportunity(portal, et, owner)
    return {"productRow": _row_view(row)}


@method("crm.item.productrow.set", "crm", write=True)
def productrow_set(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """Replace all rows of an owner."""
    et, owner = _owner(portal, params.get("ownerType"), params.get("ownerId"))
    raw = params.get("productRows") or []
    raw = list(raw.values()) if isinstance(raw, dict) else raw
    rows = [
        make_row(portal, et.abbr, int(owner["ID"]), _row_input(r), n)
        for n, r in enumerate(raw)
        if isinstance(r, dict)
    ]
    portal.product_rows[(et.abbr, int(owner["ID"]))] = rows
    recompute_opportunity(portal, et, owner)
    return {"productRows": [_row_view(r) for r in rows]}


@method("crm.item.productrow.update", "crm", write=True)
def productrow_update(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """Change one row."""
    (abbr, owner_id), row = _find_row(portal, int(str(params.get("id") or 0)))
    fields: dict[str, Any] = params["fields"] if isinstance(params.get("fields"), dict) else {}
    merged = make_row(portal, abbr, owner_id, {**row, **_row_input(fields)}, 0)
    merged["ID"] = row["ID"]
    row.update(merged)
    rows = portal.product_rows[(abbr, owner_id)]
    rows[next(n for n, r in enumerate(rows) if r["ID"] == row["ID"])] = row
    portal.product_rows[(abbr, owner_id)] = rows  # the store keeps copies (compact.Table)
    et, owner = _owner(portal, abbr, owner_id)
    recompute_opportunity(portal, et, owner)
    return {"productRow": _row_view(row)}


@method("crm.item.productrow.get", "crm")
def productrow_get(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """One row."""
    return {"productRow": _row_view(_find_row(portal, int(str(params.get("id") or 0)))[1])}


@method("crm.item.productrow.delete", "crm", write=True)
def productrow_delete(portal: Portal, params: Params, ctx: CallContext) -> list[Any]:
    """Delete one row."""
    key, row = _find_row(portal, int(str(params.get("id") or 0)))
    rows = portal.product_rows[key]
    rows.remove(row)
    portal.product_rows[key] = rows  # the store keeps copies (compact.Table)
    et, owner = _owner(portal, key[0], key[1])
    recompute_opportunity(portal, et, owner)
    return []


@method("crm.item.productrow.list", "crm")
def productrow_list(portal: Portal, params: Params, ctx: CallContext) -> ListResult:
    """{productRows: [...]}; the filter must name `=ownerType` and `=ownerId`."""
    flt: dict[str, Any] = params["filter"] if isinstance(params.get("filter"), dict) else {}
    keys = {str(k).lstrip("="): v for k, v in flt.items()}
    if "ownerType" not in keys or "ownerId" not in keys:
        raise ApiError(400, "INVALID_ARG_VALUE", "Filter must contain ownerType and ownerId")
    et, owner = _owner(portal, keys["ownerType"], keys["ownerId"])
    views = [_row_view(r) for r in portal.product_rows.get((et.abbr, int(owner["ID"])), [])]
    try:
        match = compile_filter(flt, _ROW_TYPES, strict=True, portal_offset=portal.tz)
        rows = sort_records(
            [v for v in views if match(v)], params.get("order") or {"sort": "ASC"}, _ROW_TYPES
        )
    except FilterError as err:
        raise ApiError(400, err.code or "INVALID_ARG_VALUE", err.message) from None
    result = page(rows, int(params.get("__start", 0)))
    result.rows = {"productRows": result.rows}
    return result
