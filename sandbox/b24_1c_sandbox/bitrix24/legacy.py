"""Legacy `crm.deal|company|contact.*`: UPPER_CASE keys, string values, empty-string error codes.

The same handlers serve the three entities; `register_legacy` adds add/update/get/list/delete/fields and the
userfield methods for one of them.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from typing import Any

from b24_1c_sandbox.bitrix24.entities import (
    MULTIFIELDS,
    READ_ONLY,
    UF_NAME,
    EntityType,
    as_str,
    filter_type,
)
from b24_1c_sandbox.bitrix24.errors import BAD_ID, NOT_FOUND, ApiError, legacy
from b24_1c_sandbox.bitrix24.filtering import FilterError, apply_select, compile_filter, sort_records
from b24_1c_sandbox.bitrix24.listindex import candidates
from b24_1c_sandbox.bitrix24.php import php_array_to_python
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import ListResult, method, page
from b24_1c_sandbox.bitrix24.store import all_types, create, delete, empty_user_field, multifields, update

Params = dict[str, Any]


def fields_param(params: Params) -> dict[str, Any]:
    """`fields` must be an array."""
    fields = params.get("fields", params.get("FIELDS"))
    if not isinstance(fields, dict):
        raise legacy("Parameter 'fields' must be array.")
    return fields


def id_param(params: Params) -> int:
    """`id` (or `ID`) must be a positive integer."""
    raw = params.get("id", params.get("ID"))
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        raise legacy(BAD_ID) from None
    if value <= 0:
        raise legacy(BAD_ID)
    return value


def get_record(portal: Portal, et: EntityType, entity_id: int) -> dict[str, Any]:
    """The stored record, or 400 "" Not found."""
    record = portal.record(et.store, entity_id)
    if record is None:
        raise legacy(NOT_FOUND)
    return record


def legacy_view(portal: Portal, et: EntityType, record: dict[str, Any], with_multi: bool) -> dict[str, Any]:
    """A stored record as crm.*.get returns it (multifields attached for companies and contacts)."""
    out = dict(record)
    if with_multi and "HAS_PHONE" in et.fields:
        out.update(multifields(portal, et, int(record["ID"])))
    return out


def select_list(params: Params) -> list[str]:
    """`select` as a list of names."""
    select = php_array_to_python(params.get("select", params.get("SELECT")) or [])
    if isinstance(select, dict):
        select = list(select.values())
    if isinstance(select, str):
        select = [select]
    return [str(s) for s in select]


def _keyset_bound(flt: Any, order: Any, start: int) -> int | None:
    """The `>ID` bound of a keyset read (order ID ascending, no count), else None."""
    if start != -1 or not isinstance(order, dict) or len(order) != 1 or not isinstance(flt, dict):
        return None
    ((field, direction),) = order.items()
    if str(field).upper() != "ID" or str(direction).upper() != "ASC":
        return None
    bound = next((v for k, v in flt.items() if str(k).upper() == ">ID"), None)
    try:
        return int(str(bound)) if bound is not None and not isinstance(bound, list | dict) else None
    except ValueError:
        return None


# Where a scanned row keeps its record's key (no field name starts with a NUL).
_KEY = "\0key"


def list_records(portal: Portal, et: EntityType, params: Params) -> ListResult:
    """crm.*.list: filter (lenient), order, select with * and UF_*, pages of 50, no stable default order."""
    types = {k: filter_type(v) for k, v in all_types(portal, et).items() if v != "crm_multifield"}
    flt = params.get("filter", params.get("FILTER")) or {}
    order = params.get("order", params.get("ORDER")) or {}
    if flt and not isinstance(flt, dict | list):
        raise legacy("Parameter 'filter' must be array.")
    if order and not isinstance(order, dict):
        raise legacy("Parameter 'order' must be array.")
    try:
        match = compile_filter(flt, types, strict=False, portal_offset=portal.tz)
        keyset = _keyset_bound(flt, order, int(params.get("__start", 0)))
        store: Mapping[int, dict[str, Any]] = portal.entities.get(et.store) or {}
        narrowed = candidates(store, flt, types, {})
        rows: list[Any]
        keyed = False  # rows hold keys (`_KEY`) to read the page's records by
        if narrowed is not None:
            # Only these records can match (an index on ID or ORIGIN_ID, listindex.py); the whole filter decides.
            rows = [record for record in narrowed if match(record)]
            if keyset is not None:
                rows = sorted(rows, key=lambda record: int(record["ID"]))[:50]
        elif keyset is not None:
            # The database walks the primary key from the bound (what `>ID` + `order ID` + `start=-1` is for),
            # so a page costs the same at the millionth row as at the first.
            ids = sorted(store)
            rows = []
            for deal_id in ids[bisect.bisect_right(ids, keyset) :]:
                if match(store[deal_id]):
                    rows.append(store[deal_id])
                    if len(rows) == 50:
                        break
        else:
            # A matching record is kept as its key and the fields `order` sorts by, and only the page is read
            # again: deals_to_orders' window matches every deal, 93,000 dicts at 100,000 orders (~190 MB, goal 6).
            by = {str(name).upper() for name in order} if order else set()
            rows = [
                {**{n: v for n, v in record.items() if n.upper() in by}, _KEY: key}
                for key, record in store.items()
                if match(record)
            ]
            keyed = True
        if keyset is not None:
            pass  # already in ID order
        elif order:
            rows = sort_records(rows, order, types, portal_offset=portal.tz)
        elif portal.settings.shuffle_unordered:
            portal.random.shuffle(rows)  # no stable order unless `order` is given
    except FilterError as err:
        raise ApiError(400, err.code, err.message) from None
    select = select_list(params)
    wanted_multi = [m for m in MULTIFIELDS if m in {s.upper() for s in select}]
    result = page(rows, int(params.get("__start", 0)))
    if keyed:
        read = getattr(store, "peek", store.__getitem__)
        result.rows = [read(r[_KEY]) for r in result.rows]
    out = []
    for r in result.rows:
        view = apply_select(r, select or None, [n for n in et.fields if n not in MULTIFIELDS])
        if wanted_multi:
            multi = multifields(portal, et, int(r["ID"]))
            view.update({m: multi[m] for m in wanted_multi if m in multi})
        out.append(view)
    result.rows = out
    return result


def fields_descriptor(portal: Portal, et: EntityType) -> dict[str, Any]:
    """crm.*.fields: type, isRequired, isReadOnly, isImmutable, isMultiple, isDynamic, title (+statusType)."""
    status_types = {
        "STAGE_ID": "DEAL_STAGE",
        "TYPE_ID": "DEAL_TYPE" if et.id == 2 else "CONTACT_TYPE",
        "SOURCE_ID": "SOURCE",
        "COMPANY_TYPE": "COMPANY_TYPE",
    }
    out: dict[str, Any] = {}
    for name, kind in et.fields.items():
        entry: dict[str, Any] = {
            "type": kind,
            "isRequired": False,
            "isReadOnly": name in READ_ONLY,
            "isImmutable": name == "CATEGORY_ID",
            "isMultiple": kind == "crm_multifield",
            "isDynamic": False,
            "title": name.replace("_", " ").title(),
        }
        if kind == "crm_status" and name in status_types:
            entry["statusType"] = status_types[name]
        out[name] = entry
    if et.id == 2:
        out["CONTACT_IDS"] = {
            "type": "crm_contact",
            "isRequired": False,
            "isReadOnly": False,
            "isImmutable": False,
            "isMultiple": True,
            "isDynamic": False,
            "title": "Contacts",
        }
    for name, d in portal.user_field_defs(et.store).items():
        out[name] = {
            "type": d["USER_TYPE_ID"],
            "isRequired": d.get("MANDATORY") == "Y",
            "isReadOnly": False,
            "isImmutable": False,
            "isMultiple": d.get("MULTIPLE") == "Y",
            "isDynamic": True,
            "title": name,
            "listLabel": d.get("LIST_COLUMN_LABEL") or d.get("LABEL") or name,
            "formLabel": d.get("EDIT_FORM_LABEL") or d.get("LABEL") or name,
            "filterLabel": d.get("LABEL") or name,
            "settings": d.get("SETTINGS") or [],
        }
        if d["USER_TYPE_ID"] == "enumeration":
            out[name]["items"] = [{"ID": i["ID"], "VALUE": i["VALUE"]} for i in d.get("LIST", [])]
    return out


def crm_admin_only(portal: Portal, ctx: CallContext) -> None:
    """Methods the docs give to a CRM administrator ("Кто может выполнять метод: администратор CRM").

    The answer is crm.status.add's documented one (400, empty code, "Access denied."); the userfield.add pages list
    no access error of their own, so they answer the same.
    """
    if not portal.users.get(ctx.user_id, {}).get("IS_ADMIN"):
        raise legacy("Access denied.")


def userfield_add(portal: Portal, et: EntityType, params: Params, ctx: CallContext) -> int:
    """crm.*.userfield.add (CRM administrators only): UF_CRM_ prefix, A-Z0-9_, ≤ 50 characters; enum ids."""
    crm_admin_only(portal, ctx)
    fields = params.get("fields")
    if not isinstance(fields, dict) or not fields.get("FIELD_NAME") or not fields.get("USER_TYPE_ID"):
        raise legacy("Required fields: FIELD_NAME, USER_TYPE_ID")
    name = str(fields["FIELD_NAME"]).upper()
    if not name.startswith("UF_CRM_"):
        name = "UF_CRM_" + (name[3:] if name.startswith("UF_") else name)
    if not UF_NAME.match(name) or len(name) > 50:
        raise ApiError(400, "ERROR_CORE", "Field name contains invalid characters or is longer than 50<br>")
    defs = portal.user_field_defs(et.store)
    if name in defs:
        raise ApiError(400, "ERROR_CORE", f"Field {name} already exists<br>")
    uf_id = portal.next_id("userfield")
    label = fields.get("LABEL") or fields.get("EDIT_FORM_LABEL") or name
    options = php_array_to_python(fields.get("LIST") or [])
    options = list(options.values()) if isinstance(options, dict) else options
    enum = [
        {
            "ID": str(portal.next_id("enum")),
            "VALUE": str(o.get("VALUE", "")),
            "DEF": as_str(o.get("DEF") or "N"),
            "SORT": str(o.get("SORT") or 500),
            "XML_ID": o.get("XML_ID"),
        }
        for o in options
        if isinstance(o, dict)
    ]
    defs[name] = {
        "ID": str(uf_id),
        "ENTITY_ID": et.uf_entity,
        "FIELD_NAME": name,
        "USER_TYPE_ID": str(fields["USER_TYPE_ID"]),
        "XML_ID": fields.get("XML_ID"),
        "SORT": "100",
        "MULTIPLE": as_str(fields.get("MULTIPLE") or "N"),
        "MANDATORY": as_str(fields.get("MANDATORY") or "N"),
        "SHOW_FILTER": "N",
        "SHOW_IN_LIST": "Y",
        "EDIT_IN_LIST": as_str(fields.get("EDIT_IN_LIST") or "Y"),  # users may edit it; N: read-only for them
        "IS_SEARCHABLE": "N",
        "SETTINGS": fields.get("SETTINGS") or [],
        "LABEL": label,
        "EDIT_FORM_LABEL": fields.get("EDIT_FORM_LABEL") or label,
        "LIST_COLUMN_LABEL": fields.get("LIST_COLUMN_LABEL") or label,
        "LIST": enum,
    }
    objects = portal.store(et.store)
    for n, record_id in enumerate(list(objects), start=1):
        objects[record_id].setdefault(name, empty_user_field(defs[name]))  # by id: the store's own record
        if n % 1000 == 0:
            objects.settle()  # a field added to 100,000 deals: 1,000 unpacked at a time
    return uf_id


def userfield_list(portal: Portal, et: EntityType, params: Params) -> ListResult:
    """crm.*.userfield.list with an optional FIELD_NAME / USER_TYPE_ID filter."""
    rows = list(portal.user_field_defs(et.store).values())
    flt = params.get("filter") or {}
    if isinstance(flt, dict):
        for key in ("FIELD_NAME", "USER_TYPE_ID", "ID"):
            if flt.get(key):
                rows = [r for r in rows if str(r[key]).upper() == str(flt[key]).upper()]
    return page(rows, int(params.get("__start", 0)))


def register_legacy(et: EntityType) -> None:
    """Register crm.<entity>.add/update/get/list/delete/fields/userfield.add/userfield.list."""
    base = f"crm.{et.name.lower()}"

    def add(portal: Portal, params: Params, ctx: CallContext) -> int:
        return int(create(portal, et, fields_param(params), ctx)["ID"])

    def upd(portal: Portal, params: Params, ctx: CallContext) -> bool:
        entity_id = id_param(params)
        fields = fields_param(params)
        update(portal, et, get_record(portal, et, entity_id), fields, ctx)
        return True

    def get(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
        return legacy_view(portal, et, get_record(portal, et, id_param(params)), with_multi=True)

    def dele(portal: Portal, params: Params, ctx: CallContext) -> bool:
        entity_id = id_param(params)
        get_record(portal, et, entity_id)
        delete(portal, et, entity_id, ctx)
        return True

    handlers: list[tuple[str, Callable[..., Any], bool]] = [
        ("add", add, True),
        ("update", upd, True),
        ("get", get, False),
        ("delete", dele, True),
        ("list", lambda p, q, c: list_records(p, et, q), False),
        ("fields", lambda p, q, c: fields_descriptor(p, et), False),
        ("userfield.add", lambda p, q, c: userfield_add(p, et, q, c), True),
        ("userfield.list", lambda p, q, c: userfield_list(p, et, q), False),
    ]
    for suffix, handler, write in handlers:
        method(f"{base}.{suffix}", "crm", write=write)(handler)
