"""Create / update / delete / read of CRM entities, shared by the legacy `crm.deal|company|contact.*` methods and
`crm.item.*`: one store, two views."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from b24_1c_sandbox.bitrix24.entities import (
    EMPTY_AS,
    MULTIFIELDS,
    READ_ONLY,
    EntityType,
    as_str,
    money,
    to_camel,
    typed,
)
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.seed import default_category, first_stage, stage_semantics

_UF_KIND = {
    "double": "double",
    "date": "date",
    "datetime": "datetime",
    "integer": "integer",
    "boolean": "boolean",
    "enumeration": "enumeration",
    "employee": "user",
}


def uf_types(portal: Portal, et: EntityType) -> dict[str, str]:
    """UF name → value kind for one entity type."""
    return {n: _UF_KIND.get(d["USER_TYPE_ID"], "string") for n, d in portal.user_field_defs(et.store).items()}


def all_types(portal: Portal, et: EntityType) -> dict[str, str]:
    """Standard and user fields of a type with their kinds."""
    return {**et.fields, **uf_types(portal, et)}


def coerce(portal: Portal, kind: str, value: Any, multiple: bool = False) -> Any:
    """An input value in the stored (legacy) form for a field kind."""
    if multiple or isinstance(value, list | dict):
        items = (
            list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
        )
        return [coerce(portal, kind, v) for v in items if not isinstance(v, list | dict)]
    if kind == "double":
        return money(value) if value not in (None, "") else None
    if kind == "date":
        dt = portal.parse_datetime(value)
        return portal.render_date(dt.date().isoformat()) if dt else None
    if kind == "datetime":
        dt = portal.parse_datetime(value)
        return dt.isoformat() if dt else None
    if kind == "boolean":
        return "1" if str(value).upper() in ("1", "Y", "TRUE") else "0"
    return as_str(value)


def _set_contacts(portal: Portal, et: EntityType, record: dict[str, Any], ids: Any) -> None:
    items = list(ids.values()) if isinstance(ids, dict) else ids if isinstance(ids, list) else [ids]
    clean = [int(i) for i in items if str(i).strip().isdigit() and int(i) > 0]
    portal.contact_links[(et.id, int(record["ID"]))] = clean
    if "CONTACT_ID" in et.fields:
        record["CONTACT_ID"] = str(clean[0]) if clean else None


def write_fields(
    portal: Portal,
    et: EntityType,
    record: dict[str, Any],
    fields: dict[str, Any],
    creating: bool,
    immutable_category: bool = True,
) -> None:
    """Apply input fields (UPPER names) to a stored record; unknown and read-only fields are ignored."""
    ufs = portal.user_field_defs(et.store)
    kinds = uf_types(portal, et)
    for raw_name, value in fields.items():
        name = str(raw_name).upper()
        if name in READ_ONLY or (name == "CATEGORY_ID" and not creating and immutable_category):
            continue  # silently ignored, as the portal does (CATEGORY_ID is immutable in crm.deal.update)
        if name == "CONTACT_IDS":
            _set_contacts(portal, et, record, value)
        elif name in MULTIFIELDS and name in et.fields:
            write_multifield(portal, et, int(record["ID"]), name, value)
        elif name in et.fields:
            record[name] = coerce(portal, et.fields[name], value)
            if name == "CONTACT_ID" and (et.id, int(record["ID"])) not in portal.contact_links and value:
                portal.contact_links[(et.id, int(record["ID"]))] = (
                    [int(str(value))] if str(value).isdigit() else []
                )
        elif name in ufs:
            record[name] = coerce(portal, kinds[name], value, ufs[name].get("MULTIPLE") == "Y")


def write_multifield(portal: Portal, et: EntityType, entity_id: int, type_id: str, value: Any) -> None:
    """Legacy multifield writes: new entries appended; {ID, VALUE:""} deletes, {ID, VALUE} changes."""
    entries = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
    stored = portal.multifields.setdefault((et.id, entity_id), [])
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        known = next((e for e in stored if str(e["ID"]) == str(entry.get("ID", ""))), None)
        text = str(entry.get("VALUE", "") or "")
        if known is not None:
            if text:
                known["VALUE"] = text
                known["VALUE_TYPE"] = str(entry.get("VALUE_TYPE") or known["VALUE_TYPE"])
            else:
                stored.remove(known)
        elif text:
            stored.append(
                {
                    "ID": str(portal.next_id("multifield")),
                    "TYPE_ID": type_id,
                    "VALUE": text,
                    "VALUE_TYPE": str(entry.get("VALUE_TYPE") or "WORK"),
                }
            )


def write_fm(portal: Portal, et: EntityType, entity_id: int, fm: Any) -> None:
    """crm.item.update `fm`: `n0` keys add, id + value change, id + empty delete, no typeId = silent no-op."""
    entries = fm.items() if isinstance(fm, dict) else enumerate(fm) if isinstance(fm, list) else []
    stored = portal.multifields.setdefault((et.id, entity_id), [])
    for key, entry in entries:
        if not isinstance(entry, dict) or not entry.get("typeId"):
            continue
        ident = str(entry.get("id") or key)
        known = next((e for e in stored if e["ID"] == ident), None)
        text = str(entry.get("value", "") or "")
        if known is not None:
            if text:
                known.update(
                    {"VALUE": text, "VALUE_TYPE": str(entry.get("valueType") or known["VALUE_TYPE"])}
                )
            else:
                stored.remove(known)
        elif text and not ident.isdigit():
            stored.append(
                {
                    "ID": str(portal.next_id("multifield")),
                    "TYPE_ID": str(entry["typeId"]),
                    "VALUE": text,
                    "VALUE_TYPE": str(entry.get("valueType") or "WORK"),
                }
            )


def empty_user_field(definition: dict[str, Any]) -> Any:
    """An unset user field as crm.deal.get returns it: "" ([] when multiple), per the capture named in EMPTY_AS."""
    return [] if definition.get("MULTIPLE") == "Y" else ""


def _fill_empty(et: EntityType, record: dict[str, Any]) -> None:
    """Empty fields stored as the portal keeps them ("0" for an id, "" for text), so get and list return those."""
    for name, empty in EMPTY_AS.get(et.id, {}).items():
        if record.get(name) in (None, ""):
            record[name] = empty


def _touch_multifield_flags(portal: Portal, et: EntityType, record: dict[str, Any]) -> None:
    if "HAS_IMOL" in et.fields:
        record["HAS_IMOL"] = "N"  # no open-line chats in the sandbox
    if "HAS_PHONE" in et.fields:
        entries = portal.multifields.get((et.id, int(record["ID"])), [])
        record["HAS_PHONE"] = "Y" if any(e["TYPE_ID"] == "PHONE" for e in entries) else "N"
        record["HAS_EMAIL"] = "Y" if any(e["TYPE_ID"] == "EMAIL" for e in entries) else "N"


def _stage(portal: Portal, et: EntityType, record: dict[str, Any]) -> None:
    if not et.staged:
        return
    stage = record.get("STAGE_ID")
    category = int(record.get("CATEGORY_ID") or 0)
    entity = _stage_entity(et, category)
    valid = {r["STATUS_ID"] for r in portal.statuses if r["ENTITY_ID"] == entity}
    if stage not in valid:
        record["STAGE_ID"] = first_stage(portal, entity)
    record["STAGE_SEMANTIC_ID"] = stage_semantics(portal, record["STAGE_ID"])
    record["CLOSED"] = "Y" if record["STAGE_SEMANTIC_ID"] != "P" else "N"


def _stage_entity(et: EntityType, category: int) -> str:
    if et.id == 2:
        return "DEAL_STAGE" if category == 0 else f"DEAL_STAGE_{category}"
    if et.id == 31:
        return f"SMART_INVOICE_STAGE_{category}"
    return f"DYNAMIC_{et.id}_STAGE_{category}"


def share_strings(record: dict[str, Any]) -> dict[str, Any]:
    """One object per repeated string value (dates of the same second, stage and currency ids, user ids, the
    external key's originator): the stores of a 100,000-order backfill repeat them in every record (issue 13
    goal 6)."""
    for name, value in record.items():
        if type(value) is str:
            record[name] = sys.intern(value)
    return record


def create(portal: Portal, et: EntityType, fields: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    """Insert a record with the portal's defaults and auto-maintained fields; fires the ADD event."""
    entity_id = portal.next_id(et.store)
    now = portal.now()
    user = str(ctx.user_id)
    record: dict[str, Any] = dict.fromkeys(et.fields)
    for name in MULTIFIELDS:
        record.pop(name, None)
    for name, definition in portal.user_field_defs(et.store).items():
        record[name] = empty_user_field(definition)
    record.update(
        {
            "ID": str(entity_id),
            "OPENED": "Y",
            "ASSIGNED_BY_ID": user,
            "CREATED_BY_ID": user,
            "MODIFY_BY_ID": user,
            "DATE_CREATE": now.isoformat(),
            "DATE_MODIFY": now.isoformat(),
        }
    )
    if "OPPORTUNITY" in et.fields:
        record.update(
            {"OPPORTUNITY": "0.00", "IS_MANUAL_OPPORTUNITY": "N", "TAX_VALUE": "0.00", "CURRENCY_ID": "RUB"}
        )
    if et.staged:
        record.update(
            {
                "CATEGORY_ID": str(default_category(portal, et.id)),
                "MOVED_BY_ID": user,
                "MOVED_TIME": now.isoformat(),
                "BEGINDATE": portal.render_date(now.date().isoformat()),
                "CLOSEDATE": portal.render_date((now + timedelta(days=7)).date().isoformat()),
            }
        )
    if et.id == 2:
        record.update(
            {
                "TYPE_ID": "SALE",
                "IS_NEW": "Y",
                "IS_RECURRING": "N",
                "IS_RETURN_CUSTOMER": "N",
                "IS_REPEATED_APPROACH": "N",
                "TITLE": f"Сделка #{entity_id}",
            }
        )
    elif et.id == 4:
        record.update(
            {
                "TITLE": f"Компания #{entity_id}",
                "COMPANY_TYPE": "CUSTOMER",
                "IS_MY_COMPANY": "N",
                "CURRENCY_ID": "RUB",
                "REVENUE": "0.00",
            }
        )
    elif et.id == 3:
        record.update({"NAME": "Без имени", "TYPE_ID": "CLIENT"})
    elif et.id == 31:
        record.update({"TITLE": f"Счёт #{entity_id}", "ACCOUNT_NUMBER": str(entity_id)})
    elif "TITLE" in et.fields:
        record["TITLE"] = f"Элемент #{entity_id}"
    portal.store(et.store)[entity_id] = record
    write_fields(portal, et, record, fields, creating=True)
    if not record.get("TITLE") and "TITLE" in et.fields and et.id != 3:
        record["TITLE"] = f"#{entity_id}"
    _stage(portal, et, record)
    _touch_multifield_flags(portal, et, record)
    _fill_empty(et, record)
    share_strings(record)
    emit(portal, et, "ADD", entity_id, ctx)
    return record


def update(
    portal: Portal,
    et: EntityType,
    record: dict[str, Any],
    fields: dict[str, Any],
    ctx: CallContext,
    immutable_category: bool = True,
) -> None:
    """Change a record; maintains DATE_MODIFY, MOVED_*, stage semantics; fires the UPDATE event."""
    before_stage, before_category = record.get("STAGE_ID"), record.get("CATEGORY_ID")
    write_fields(portal, et, record, fields, creating=False, immutable_category=immutable_category)
    now = portal.now().isoformat()
    record["DATE_MODIFY"] = now
    record["MODIFY_BY_ID"] = str(ctx.user_id)
    if et.id == 2:
        record["IS_NEW"] = "N"
    if et.staged:
        if record.get("CATEGORY_ID") != before_category and record.get("STAGE_ID") == before_stage:
            record["STAGE_ID"] = None  # a new pipeline starts at its first stage
        _stage(portal, et, record)
        if record.get("STAGE_ID") != before_stage:
            record["MOVED_TIME"] = now
            record["MOVED_BY_ID"] = str(ctx.user_id)
            if "PREVIOUS_STAGE_ID" in et.fields:
                record["PREVIOUS_STAGE_ID"] = before_stage
    _touch_multifield_flags(portal, et, record)
    _fill_empty(et, record)
    share_strings(record)
    emit(portal, et, "UPDATE", int(record["ID"]), ctx)


def delete(portal: Portal, et: EntityType, entity_id: int, ctx: CallContext) -> None:
    """Remove a record and what hangs on it; fires the DELETE event."""
    del portal.entities[et.store][entity_id]
    portal.product_rows.pop((et.abbr, entity_id), None)
    portal.multifields.pop((et.id, entity_id), None)
    portal.contact_links.pop((et.id, entity_id), None)
    emit(portal, et, "DELETE", entity_id, ctx)


def emit(portal: Portal, et: EntityType, action: str, entity_id: int, ctx: CallContext) -> None:
    """Hand the change to the event bus (online handlers and the offline queue)."""
    if portal.events is None or not et.events:
        return
    data: dict[str, Any] = {"FIELDS": {"ID": str(entity_id)}}
    if et.events == "ONCRMDYNAMICITEM":
        data["FIELDS"]["ENTITY_TYPE_ID"] = str(et.id)
    portal.events.emit(et.events + action, data, ctx)


def multifields(portal: Portal, et: EntityType, entity_id: int) -> dict[str, list[dict[str, Any]]]:
    """Legacy PHONE/EMAIL/WEB/IM arrays of {ID, VALUE_TYPE, VALUE, TYPE_ID}."""
    out: dict[str, list[dict[str, Any]]] = {}
    for e in portal.multifields.get((et.id, entity_id), []):
        out.setdefault(e["TYPE_ID"], []).append(
            {"ID": e["ID"], "VALUE_TYPE": e["VALUE_TYPE"], "VALUE": e["VALUE"], "TYPE_ID": e["TYPE_ID"]}
        )
    return out


def item_view(
    portal: Portal, et: EntityType, record: dict[str, Any], original_uf: bool = False
) -> dict[str, Any]:
    """The crm.item.* shape: camelCase keys, typed values, contactIds, fm, entityTypeId."""
    kinds = all_types(portal, et)
    out: dict[str, Any] = {}
    for name, value in record.items():
        kind = kinds.get(name, "string")
        shown = typed(value, kind)
        if shown is None and kind in ("crm_company", "crm_contact"):
            shown = (
                0  # an empty link is 0 in crm.item (capture in api-reference/crm/universal/crm-item-get.md)
            )
        if name.startswith("UF_") and original_uf:
            out[name] = shown
        else:
            out[to_camel(name, et)] = shown
    entity_id = int(record["ID"])
    out["entityTypeId"] = et.id
    if et.id in (2, 31, 1038):
        out["contactIds"] = list(portal.contact_links.get((et.id, entity_id), []))
    if "HAS_PHONE" in et.fields:
        out["fm"] = [
            {"id": int(e["ID"]), "typeId": e["TYPE_ID"], "valueType": e["VALUE_TYPE"], "value": e["VALUE"]}
            for e in portal.multifields.get((et.id, entity_id), [])
        ]
    return out
