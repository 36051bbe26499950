"""crm.deal.*: legacy UPPER_CASE deals with string-typed values, product rows and user fields."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from connector.sandbox.bitrix24.errors import BAD_ID, NOT_FOUND, ApiError, legacy
from connector.sandbox.bitrix24.filtering import FilterError, apply_select, compile_filter, sort_records
from connector.sandbox.bitrix24.php import php_array_to_python
from connector.sandbox.bitrix24.portal import CallContext, Portal
from connector.sandbox.bitrix24.registry import ListResult, method, page

# Standard deal fields and their types (crm.deal.fields); read-only ones are maintained by the portal.
DEAL_FIELDS: dict[str, str] = {
    "ID": "integer", "TITLE": "string", "TYPE_ID": "crm_status", "CATEGORY_ID": "crm_category",
    "STAGE_ID": "crm_status", "STAGE_SEMANTIC_ID": "string", "IS_NEW": "char", "IS_RECURRING": "char",
    "IS_RETURN_CUSTOMER": "char", "IS_REPEATED_APPROACH": "char", "PROBABILITY": "integer",
    "CURRENCY_ID": "crm_currency", "OPPORTUNITY": "double", "IS_MANUAL_OPPORTUNITY": "char", "TAX_VALUE": "double",
    "COMPANY_ID": "crm_company", "CONTACT_ID": "crm_contact", "QUOTE_ID": "crm_quote", "BEGINDATE": "date",
    "CLOSEDATE": "date", "OPENED": "char", "CLOSED": "char", "COMMENTS": "string", "ASSIGNED_BY_ID": "user",
    "CREATED_BY_ID": "user", "MODIFY_BY_ID": "user", "MOVED_BY_ID": "user", "DATE_CREATE": "datetime",
    "DATE_MODIFY": "datetime", "MOVED_TIME": "datetime", "SOURCE_ID": "crm_status", "SOURCE_DESCRIPTION": "string",
    "LEAD_ID": "crm_lead", "ADDITIONAL_INFO": "string", "LOCATION_ID": "location", "ORIGINATOR_ID": "string",
    "ORIGIN_ID": "string", "UTM_SOURCE": "string", "UTM_MEDIUM": "string", "UTM_CAMPAIGN": "string",
    "UTM_CONTENT": "string", "UTM_TERM": "string", "LAST_ACTIVITY_TIME": "datetime", "LAST_ACTIVITY_BY": "user",
}
READ_ONLY = {"ID", "STAGE_SEMANTIC_ID", "IS_NEW", "CREATED_BY_ID", "MODIFY_BY_ID", "MOVED_BY_ID", "DATE_CREATE",
             "DATE_MODIFY", "MOVED_TIME", "LAST_ACTIVITY_TIME", "LAST_ACTIVITY_BY", "CLOSED"}
FINAL_STAGES = {"WON": "S", "LOSE": "F", "APOLOGY": "F"}
_UF_NAME = re.compile(r"^UF_CRM_[A-Z0-9_]+$")


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _money(value: Any) -> str:
    try:
        return f"{float(str(value).replace(',', '.') or 0):.2f}"
    except ValueError:
        return "0.00"


def _fields_param(params: dict[str, Any]) -> dict[str, Any]:
    fields = params.get("fields")
    if not isinstance(fields, dict):
        raise legacy("Parameter 'fields' must be array.")
    return fields


def _id_param(params: dict[str, Any]) -> int:
    raw = params.get("id", params.get("ID"))
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        raise legacy(BAD_ID) from None
    if value <= 0:
        raise legacy(BAD_ID)
    return value


def _coerce(portal: Portal, name: str, value: Any, types: dict[str, str]) -> Any:
    kind = types.get(name, "string")
    if kind == "double":
        return _money(value)
    if kind == "date":
        dt = portal.parse_datetime(value)
        return portal.render_date(dt.date().isoformat()) if dt else None
    if kind == "datetime":
        dt = portal.parse_datetime(value)
        return dt.isoformat() if dt else None
    if isinstance(value, list):
        return [_str(v) for v in value]
    return _str(value)


def _write_fields(portal: Portal, deal: dict[str, Any], fields: dict[str, Any], creating: bool) -> None:
    ufs = portal.user_field_defs("deal")
    uf_types = {n: {"double": "double", "date": "date", "datetime": "datetime"}.get(d["USER_TYPE_ID"], "string")
                for n, d in ufs.items()}
    for raw_name, value in fields.items():
        name = str(raw_name).upper()
        if name in READ_ONLY or (name == "CATEGORY_ID" and not creating):
            continue  # silently ignored, as the portal does (CATEGORY_ID is immutable here)
        if name in DEAL_FIELDS:
            deal[name] = _coerce(portal, name, value, DEAL_FIELDS)
        elif name in ufs:
            deal[name] = _coerce(portal, name, value, uf_types)
        # unknown fields are ignored


def _stage_semantics(deal: dict[str, Any]) -> None:
    stage = str(deal.get("STAGE_ID") or "NEW").split(":")[-1]
    deal["STAGE_SEMANTIC_ID"] = FINAL_STAGES.get(stage, "P")
    deal["CLOSED"] = "Y" if stage in FINAL_STAGES else "N"


def _get(portal: Portal, deal_id: int) -> dict[str, Any]:
    deal = portal.entities["deal"].get(deal_id)
    if deal is None:
        raise legacy(NOT_FOUND)
    return deal


@method("crm.deal.add", "crm", write=True)
def deal_add(portal: Portal, params: dict[str, Any], ctx: CallContext) -> int:
    fields = _fields_param(params)
    deal_id = portal.next_id("deal")
    now = portal.now()
    deal: dict[str, Any] = {n: None for n in DEAL_FIELDS}
    deal.update({"ID": str(deal_id), "TITLE": f"Сделка #{deal_id}", "TYPE_ID": "SALE", "CATEGORY_ID": "0",
                 "STAGE_ID": "NEW", "PROBABILITY": None, "CURRENCY_ID": "RUB", "OPPORTUNITY": "0.00",
                 "IS_MANUAL_OPPORTUNITY": "N", "TAX_VALUE": "0.00", "OPENED": "Y", "IS_NEW": "Y",
                 "IS_RECURRING": "N", "IS_RETURN_CUSTOMER": "N", "IS_REPEATED_APPROACH": "N",
                 "BEGINDATE": portal.render_date(now.date().isoformat()),
                 "CLOSEDATE": portal.render_date((now + timedelta(days=7)).date().isoformat()),
                 "ASSIGNED_BY_ID": str(ctx.user_id), "CREATED_BY_ID": str(ctx.user_id),
                 "MODIFY_BY_ID": str(ctx.user_id), "DATE_CREATE": now.isoformat(), "DATE_MODIFY": now.isoformat(),
                 "MOVED_BY_ID": str(ctx.user_id), "MOVED_TIME": now.isoformat()})
    _write_fields(portal, deal, fields, creating=True)
    if not deal.get("TITLE"):
        deal["TITLE"] = f"Сделка #{deal_id}"
    _stage_semantics(deal)
    portal.entities["deal"][deal_id] = deal
    return deal_id


@method("crm.deal.update", "crm", write=True)
def deal_update(portal: Portal, params: dict[str, Any], ctx: CallContext) -> bool:
    deal_id = _id_param(params)
    fields = _fields_param(params)
    deal = _get(portal, deal_id)
    before = deal.get("STAGE_ID")
    _write_fields(portal, deal, fields, creating=False)
    now = portal.now().isoformat()
    deal["DATE_MODIFY"] = now
    deal["MODIFY_BY_ID"] = str(ctx.user_id)
    deal["IS_NEW"] = "N"
    if deal.get("STAGE_ID") != before:
        deal["MOVED_TIME"] = now
        deal["MOVED_BY_ID"] = str(ctx.user_id)
    _stage_semantics(deal)
    return True


@method("crm.deal.get", "crm")
def deal_get(portal: Portal, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    return dict(_get(portal, _id_param(params)))


@method("crm.deal.delete", "crm", write=True)
def deal_delete(portal: Portal, params: dict[str, Any], ctx: CallContext) -> bool:
    deal_id = _id_param(params)
    _get(portal, deal_id)
    del portal.entities["deal"][deal_id]
    portal.product_rows.pop(("D", deal_id), None)
    return True


@method("crm.deal.list", "crm")
def deal_list(portal: Portal, params: dict[str, Any], ctx: CallContext) -> ListResult:
    types = {**DEAL_FIELDS, **{n: d["USER_TYPE_ID"] for n, d in portal.user_field_defs("deal").items()}}
    flt = params.get("filter") or {}
    order = params.get("order") or {}
    if flt and not isinstance(flt, dict):
        raise legacy("Parameter 'filter' must be array.")
    if order and not isinstance(order, dict):
        raise legacy("Parameter 'order' must be array.")
    try:
        match = compile_filter(flt, types, strict=False, portal_offset=portal.tz)
        rows = [d for d in portal.entities["deal"].values() if match(d)]
        if order:
            rows = sort_records(rows, order, types)
        elif portal.settings.shuffle_unordered:
            portal.random.shuffle(rows)  # no stable order unless `order` is given
    except FilterError as err:
        raise ApiError(400, err.code, err.message) from None
    select = php_array_to_python(params.get("select") or [])
    if isinstance(select, dict):
        select = list(select.values())
    result = page(rows, int(params.get("__start", 0)))
    result.rows = [apply_select(r, select or None, list(DEAL_FIELDS)) for r in result.rows]
    return result


@method("crm.deal.fields", "crm")
def deal_fields(portal: Portal, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    out = {}
    for name, kind in DEAL_FIELDS.items():
        out[name] = {"type": kind, "isRequired": False, "isReadOnly": name in READ_ONLY,
                     "isImmutable": name == "CATEGORY_ID", "isMultiple": False, "isDynamic": False, "title": name}
    for name, d in portal.user_field_defs("deal").items():
        out[name] = {"type": d["USER_TYPE_ID"], "isRequired": d.get("MANDATORY") == "Y", "isReadOnly": False,
                     "isImmutable": False, "isMultiple": d.get("MULTIPLE") == "Y", "isDynamic": True,
                     "title": name, "listLabel": d.get("LIST_COLUMN_LABEL") or d.get("LABEL") or name}
    return out


# -- product rows ------------------------------------------------------------------------------------------------

_ROW_DEFAULTS: dict[str, Any] = {"PRODUCT_ID": 0, "PRICE": 0.0, "QUANTITY": 1, "DISCOUNT_TYPE_ID": 2,
                                 "DISCOUNT_RATE": 0, "DISCOUNT_SUM": 0, "TAX_RATE": None, "TAX_INCLUDED": "N",
                                 "MEASURE_CODE": 796, "MEASURE_NAME": "шт", "SORT": 10}


@method("crm.deal.productrows.set", "crm", write=True)
def rows_set(portal: Portal, params: dict[str, Any], ctx: CallContext) -> bool:
    deal_id = _id_param(params)
    deal = _get(portal, deal_id)
    rows = php_array_to_python(params.get("rows") or [])
    if isinstance(rows, dict):
        rows = list(rows.values())
    if not isinstance(rows, list):
        raise legacy("Parameter 'rows' must be array.")
    stored = []
    for n, raw in enumerate(rows):
        if not isinstance(raw, dict):
            raise ApiError(400, "ERROR_CORE", f"Invalid product row #{n + 1}<br>")
        row = {**_ROW_DEFAULTS, **{str(k).upper(): v for k, v in raw.items()}}
        try:
            price = float(row["PRICE"])
            qty = float(row["QUANTITY"])
        except (TypeError, ValueError):
            raise ApiError(400, "ERROR_CORE", f"Invalid price or quantity in row #{n + 1}<br>") from None
        stored.append({"ID": str(portal.next_id("productrow")), "OWNER_ID": str(deal_id), "OWNER_TYPE": "D",
                       "PRODUCT_ID": int(row["PRODUCT_ID"] or 0), "PRODUCT_NAME": str(row.get("PRODUCT_NAME") or ""),
                       "PRICE": price, "PRICE_EXCLUSIVE": price, "PRICE_NETTO": price, "PRICE_BRUTTO": price,
                       "PRICE_ACCOUNT": f"{price:.2f}", "QUANTITY": qty,
                       "DISCOUNT_TYPE_ID": int(row["DISCOUNT_TYPE_ID"]), "DISCOUNT_RATE": row["DISCOUNT_RATE"],
                       "DISCOUNT_SUM": row["DISCOUNT_SUM"], "TAX_RATE": row["TAX_RATE"],
                       "TAX_INCLUDED": row["TAX_INCLUDED"], "CUSTOMIZED": "Y", "MEASURE_CODE": row["MEASURE_CODE"],
                       "MEASURE_NAME": row["MEASURE_NAME"], "SORT": int(row["SORT"]) if row["SORT"] else 10 * (n + 1),
                       "XML_ID": row.get("XML_ID"), "TYPE": 1, "STORE_ID": None})
    portal.product_rows[("D", deal_id)] = stored
    if deal.get("IS_MANUAL_OPPORTUNITY") != "Y":
        deal["OPPORTUNITY"] = f"{sum(r['PRICE'] * r['QUANTITY'] for r in stored):.2f}"
    deal["DATE_MODIFY"] = portal.now().isoformat()
    return True


@method("crm.deal.productrows.get", "crm")
def rows_get(portal: Portal, params: dict[str, Any], ctx: CallContext) -> list[dict[str, Any]]:
    deal_id = _id_param(params)
    _get(portal, deal_id)
    return [dict(r) for r in portal.product_rows.get(("D", deal_id), [])]


# -- user fields -------------------------------------------------------------------------------------------------

@method("crm.deal.userfield.add", "crm", write=True)
def uf_add(portal: Portal, params: dict[str, Any], ctx: CallContext) -> int:
    fields = params.get("fields")
    if not isinstance(fields, dict) or not fields.get("FIELD_NAME") or not fields.get("USER_TYPE_ID"):
        raise legacy("Required fields: FIELD_NAME, USER_TYPE_ID")
    name = str(fields["FIELD_NAME"]).upper()
    if not name.startswith("UF_CRM_"):
        name = "UF_CRM_" + (name[3:] if name.startswith("UF_") else name)
    if not _UF_NAME.match(name) or len(name) > 50:
        raise ApiError(400, "ERROR_CORE", "Field name contains invalid characters or is too long<br>")
    defs = portal.user_field_defs("deal")
    if name in defs:
        raise ApiError(400, "ERROR_CORE", f"Field {name} already exists<br>")
    uf_id = portal.next_id("userfield")
    label = fields.get("LABEL") or fields.get("EDIT_FORM_LABEL") or name
    defs[name] = {"ID": str(uf_id), "ENTITY_ID": "CRM_DEAL", "FIELD_NAME": name,
                  "USER_TYPE_ID": str(fields["USER_TYPE_ID"]), "XML_ID": fields.get("XML_ID"), "SORT": "100",
                  "MULTIPLE": _str(fields.get("MULTIPLE") or "N"), "MANDATORY": _str(fields.get("MANDATORY") or "N"),
                  "SHOW_FILTER": "N", "SHOW_IN_LIST": "Y", "EDIT_IN_LIST": "Y", "IS_SEARCHABLE": "N",
                  "SETTINGS": fields.get("SETTINGS") or [], "LABEL": label, "LIST_COLUMN_LABEL": label}
    return uf_id


@method("crm.deal.userfield.list", "crm")
def uf_list(portal: Portal, params: dict[str, Any], ctx: CallContext) -> ListResult:
    rows = list(portal.user_field_defs("deal").values())
    flt = params.get("filter") or {}
    if isinstance(flt, dict) and flt.get("FIELD_NAME"):
        rows = [r for r in rows if r["FIELD_NAME"] == str(flt["FIELD_NAME"]).upper()]
    return page(rows, int(params.get("__start", 0)))
