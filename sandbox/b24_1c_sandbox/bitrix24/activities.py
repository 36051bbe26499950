"""Reminders: crm.activity.todo.add and the activities it creates, tasks.task.add / list, im.notify.system.add."""

from __future__ import annotations

import re
from typing import Any

from b24_1c_sandbox.bitrix24.entities import BY_ABBR, TYPES
from b24_1c_sandbox.bitrix24.errors import ApiError, legacy
from b24_1c_sandbox.bitrix24.filtering import FilterError, apply_select, compile_filter, sort_records
from b24_1c_sandbox.bitrix24.legacy import id_param, select_list
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import ListResult, method, page

Params = dict[str, Any]
ACTIVITY_FIELDS = {
    "ID": "integer",
    "OWNER_ID": "integer",
    "OWNER_TYPE_ID": "integer",
    "TYPE_ID": "integer",
    "PROVIDER_ID": "string",
    "PROVIDER_TYPE_ID": "string",
    "SUBJECT": "string",
    "DESCRIPTION": "string",
    "COMPLETED": "char",
    "DEADLINE": "datetime",
    "START_TIME": "datetime",
    "END_TIME": "datetime",
    "RESPONSIBLE_ID": "user",
    "AUTHOR_ID": "user",
    "EDITOR_ID": "user",
    "CREATED": "datetime",
    "LAST_UPDATED": "datetime",
    "PRIORITY": "integer",
    "COLOR_ID": "string",
    "PING_OFFSETS": "string",
    "PARENT_ID": "integer",
    "ORIGIN_ID": "string",
    "ORIGINATOR_ID": "string",
}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?([+-]\d{2}:?\d{2}|Z)?$")


def _owner_exists(portal: Portal, type_id: int, owner_id: int) -> bool:
    et = TYPES.get(type_id)
    return et is not None and owner_id in portal.entities.get(et.store, {})


def _deadline(portal: Portal, value: Any) -> str:
    text = str(value or "").strip()
    if not text:
        raise ApiError(400, 100, "Required fields are not provided: deadline")
    dt = portal.parse_datetime(text) if _ISO.match(text) else None
    if dt is None:
        raise ApiError(400, "WRONG_DATETIME_FORMAT", f"Wrong datetime format: {text}")
    return dt.isoformat()


@method("crm.activity.todo.add", "crm", write=True)
def todo_add(portal: Portal, params: Params, ctx: CallContext) -> dict[str, int]:
    """A to-do in an item's timeline → {"id": n}."""
    try:
        type_id, owner_id = int(str(params.get("ownerTypeId"))), int(str(params.get("ownerId")))
    except (TypeError, ValueError):
        raise ApiError(400, 100, "Required fields are not provided: ownerTypeId, ownerId") from None
    deadline = _deadline(portal, params.get("deadline"))
    if not _owner_exists(portal, type_id, owner_id):
        raise ApiError(400, "OWNER_NOT_FOUND", "Owner not found")
    responsible = int(str(params.get("responsibleId") or ctx.user_id))
    if responsible not in portal.users:
        raise ApiError(400, "NOT_FOUND", "Not found.")
    activity_id = portal.next_id("activity")
    now = portal.iso_now()
    offsets = params.get("pingOffsets") or []
    offsets = list(offsets.values()) if isinstance(offsets, dict) else offsets
    portal.table("activity")[activity_id] = {
        "ID": str(activity_id),
        "OWNER_ID": str(owner_id),
        "OWNER_TYPE_ID": str(type_id),
        "TYPE_ID": "6",
        "PROVIDER_ID": "CRM_TODO",
        "PROVIDER_TYPE_ID": "TODO",
        "SUBJECT": str(params.get("title") or ""),
        "DESCRIPTION": str(params.get("description") or ""),
        "COMPLETED": "N",
        "DEADLINE": deadline,
        "START_TIME": deadline,
        "END_TIME": deadline,
        "RESPONSIBLE_ID": str(responsible),
        "AUTHOR_ID": str(ctx.user_id),
        "EDITOR_ID": str(ctx.user_id),
        "CREATED": now,
        "LAST_UPDATED": now,
        "PRIORITY": "2",
        "COLOR_ID": str(params.get("colorId") or "1"),
        "PING_OFFSETS": [int(str(o)) for o in offsets],
        "PARENT_ID": str(params.get("parentActivityId") or 0),
        "ORIGIN_ID": None,  # crm.activity.todo.add has no external-key parameter: set by crm.activity.update
        "ORIGINATOR_ID": None,
    }
    return {"id": activity_id}


def _activity(portal: Portal, params: Params) -> dict[str, Any]:
    row = portal.table("activity").get(id_param(params))
    if row is None:
        raise legacy("Not found")
    return row


@method("crm.activity.get", "crm")
def activity_get(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """One activity (legacy shape)."""
    return dict(_activity(portal, params))


@method("crm.activity.list", "crm")
def activity_list(portal: Portal, params: Params, ctx: CallContext) -> ListResult:
    """Activities with legacy filters (OWNER_TYPE_ID, OWNER_ID, COMPLETED, RESPONSIBLE_ID...)."""
    try:
        match = compile_filter(
            params.get("filter") or {}, ACTIVITY_FIELDS, strict=False, portal_offset=portal.tz
        )
        rows: list[Any] = [r for r in portal.table("activity").values() if match(r)]
        if params.get("order"):
            rows = sort_records(rows, params["order"], ACTIVITY_FIELDS, portal_offset=portal.tz)
    except FilterError as err:
        raise ApiError(400, err.code, err.message) from None
    result = page(rows, int(params.get("__start", 0)))
    select = select_list(params)
    result.rows = [apply_select(r, select or ["*"], list(ACTIVITY_FIELDS)) for r in result.rows]
    return result


@method("crm.activity.update", "crm", write=True)
def activity_update(portal: Portal, params: Params, ctx: CallContext) -> bool:
    """A partial update (the vendor's own example sends only the fields it changes): COMPLETED, DEADLINE (with
    END_TIME), SUBJECT, DESCRIPTION, RESPONSIBLE_ID and the external key ORIGINATOR_ID / ORIGIN_ID (writable,
    "only to bind to an external source"). OWNER_TYPE_ID and TYPE_ID are immutable and OWNER_ID moves only through
    crm.activity.binding.move, so those may be sent only with their current values. All or nothing."""
    row = _activity(portal, params)
    fields = params.get("fields")
    if not isinstance(fields, dict):
        raise legacy("Parameter 'fields' must be array.")
    changed = dict(row)
    for key, value in fields.items():
        name = str(key).upper()
        if name == "DEADLINE":
            changed["DEADLINE"] = changed["END_TIME"] = _deadline(portal, value)
        elif name == "COMPLETED":
            changed["COMPLETED"] = "Y" if str(value).upper() in ("Y", "1", "TRUE") else "N"
        elif name == "SUBJECT":
            if not str(value or "").strip():
                raise legacy("The field SUBJECT is not defined or empty")
            changed[name] = str(value)
        elif name == "RESPONSIBLE_ID":
            if not str(value).isdigit() or int(str(value)) not in portal.users:
                raise legacy("The field RESPONSIBLE_ID is not defined or invalid")
            changed[name] = str(value)
        elif name == "DESCRIPTION":
            changed[name] = str(value)
        elif name in ("ORIGINATOR_ID", "ORIGIN_ID"):
            changed[name] = None if value is None or value == "" else str(value)
        elif name in ("OWNER_TYPE_ID", "OWNER_ID", "TYPE_ID") and str(value) != str(row[name]):
            # Assumed refusal: the docs call these immutable (the owner moves by crm.activity.binding.move) but
            # name no error for an attempt.
            raise legacy(f"The field {name} cannot be changed")
    changed["LAST_UPDATED"] = portal.iso_now()
    changed["EDITOR_ID"] = str(ctx.user_id)
    row.update(changed)
    return True


@method("crm.activity.todo.updateDeadline", "crm", write=True)
def todo_update_deadline(portal: Portal, params: Params, ctx: CallContext) -> dict[str, int]:
    """Move a to-do."""
    row = _activity(portal, params)
    row["DEADLINE"] = row["END_TIME"] = _deadline(portal, params.get("value"))
    row["LAST_UPDATED"] = portal.iso_now()
    return {"id": int(row["ID"])}


@method("crm.activity.delete", "crm", write=True)
def activity_delete(portal: Portal, params: Params, ctx: CallContext) -> bool:
    """Delete an activity."""
    row = _activity(portal, params)
    del portal.table("activity")[int(row["ID"])]
    return True


@method("tasks.task.add", "task", write=True)
def task_add(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """{task: {...}} with camelCase keys and string values; UF_CRM_TASK binds CRM items ("D_10")."""
    fields = params.get("fields")
    if not isinstance(fields, dict):
        raise ApiError(400, "ERROR_CORE", "Parameter 'fields' must be array.")
    fields = {str(k).upper(): v for k, v in fields.items()}
    if not str(fields.get("TITLE") or "").strip():
        raise ApiError(400, "ERROR_CORE", "Не указано название задачи")
    if not fields.get("RESPONSIBLE_ID"):
        raise ApiError(400, "ERROR_CORE", "Не указан ответственный")
    bindings = fields.get("UF_CRM_TASK") or []
    bindings = list(bindings.values()) if isinstance(bindings, dict) else bindings
    for b in bindings:
        abbr, _, ident = str(b).partition("_")
        et = BY_ABBR.get(abbr)
        if et is None or not ident.isdigit() or int(ident) not in portal.entities.get(et.store, {}):
            raise ApiError(400, "ERROR_CORE", f"CRM element {b} not found")
    task_id = portal.next_id("task")
    deadline = portal.parse_datetime(fields.get("DEADLINE"))
    auditors = fields.get("AUDITORS") or []
    auditors = list(auditors.values()) if isinstance(auditors, dict) else auditors
    task = {
        "id": str(task_id),
        "title": str(fields["TITLE"]),
        "description": str(fields.get("DESCRIPTION") or ""),
        "responsibleId": str(fields["RESPONSIBLE_ID"]),
        "createdBy": str(fields.get("CREATED_BY") or ctx.user_id),
        "createdDate": portal.iso_now(),
        "deadline": deadline.isoformat() if deadline else None,
        "status": "2",
        "auditors": [str(a) for a in auditors],
        "ufCrmTask": [str(b) for b in bindings],
        "priority": str(fields.get("PRIORITY") or 1),
        "groupId": str(fields.get("GROUP_ID") or 0),
        "xmlId": str(fields["XML_ID"]) if fields.get("XML_ID") not in (None, "") else None,
    }
    portal.table("task")[task_id] = task
    return {"task": dict(task)}


# tasks.task.list: the filter keys the vendor's page lists that the emulator implements (→ the task's key), and
# XML_ID. The page does not list XML_ID among filterable fields (tasks.task.getFields knows it as a string field):
# its filter here is UNVERIFIED against a real portal, so the connector also compares xmlId on its side.
TASK_FILTERS = {
    "ID": "id",
    "PARENT_ID": "parentId",
    "GROUP_ID": "groupId",
    "CREATED_BY": "createdBy",
    "RESPONSIBLE_ID": "responsibleId",
    "PRIORITY": "priority",
    "REAL_STATUS": "status",
    "TITLE": "title",
    "UF_CRM_TASK": "ufCrmTask",
    "XML_ID": "xmlId",  # unverified, see above
}
TASK_SELECT = {
    **TASK_FILTERS,
    "DESCRIPTION": "description",
    "DEADLINE": "deadline",
    "CREATED_DATE": "createdDate",
}


def _task_matches(task: dict[str, Any], name: str, wanted: Any) -> bool:
    value = task.get(TASK_FILTERS[name])
    wanted = list(wanted.values()) if isinstance(wanted, dict) else wanted  # a PHP array from a batch
    options = [str(w) for w in (wanted if isinstance(wanted, list) else [wanted])]
    if name == "UF_CRM_TASK":
        return any(o in (value or []) for o in options)
    if name == "TITLE":  # a pattern with % and _
        return any(
            re.fullmatch(re.escape(o).replace("%", ".*").replace("_", "."), str(value or ""), re.S)
            for o in options
        )
    return str(value) in options if value is not None else False


@method("tasks.task.list", "task")
def task_list(portal: Portal, params: Params, ctx: CallContext) -> ListResult:
    """{tasks: [...]} with camelCase keys, newest first, pages of 50; filter by the keys above, optionally with
    `!`; select by upper-case field names (ID is always returned). Any other filter key is refused here: the
    emulator does not pretend to filter by what it does not implement."""
    flt = params.get("filter") or {}
    if not isinstance(flt, dict):
        raise ApiError(400, "ERROR_CORE", "Parameter 'filter' must be array.")
    tests: list[tuple[str, bool, Any]] = []
    for key, wanted in flt.items():
        negate = str(key).startswith("!")
        name = str(key).lstrip("!").upper()
        if name not in TASK_FILTERS:
            raise ApiError(400, "ERROR_CORE", f"Filter by {name} is not supported by the emulator")
        tests.append((name, negate, wanted))
    rows = [
        t
        for t in portal.table("task").values()
        if all(_task_matches(t, name, wanted) != negate for name, negate, wanted in tests)
    ]
    rows.sort(key=lambda t: int(t["id"]), reverse=True)
    select = [s.upper() for s in select_list(params)]
    keys = ["id", *(TASK_SELECT[s] for s in select if s in TASK_SELECT)] if select else None
    found = page(rows, int(params.get("__start", 0)))
    views = [dict(t) if keys is None else {k: t.get(k) for k in keys} for t in found.rows]
    return ListResult({"tasks": views}, found.total, found.next)


@method("im.notify.system.add", "im", write=True)
def notify_system_add(portal: Portal, params: Params, ctx: CallContext) -> int:
    """A system notification → its id; a TAG replaces the older notification with the same tag."""
    p = {str(k).upper(): v for k, v in params.items()}
    if not p.get("USER_ID"):
        raise ApiError(400, "USER_ID_EMPTY", "User ID can't be empty")
    if not str(p.get("MESSAGE") or "").strip():
        raise ApiError(400, "MESSAGE_EMPTY", "Message can't be empty")
    if (p.get("TAG") or p.get("SUB_TAG")) and ctx.via == "webhook" and not p.get("CLIENT_ID"):
        raise ApiError(400, "CLIENT_ID_EMPTY", "Client ID can't be empty")
    table = portal.table("notification")
    if p.get("TAG"):
        for old in [k for k, v in table.items() if v["TAG"] == str(p["TAG"])]:
            del table[old]
    notify_id = portal.next_id("notification")
    table[notify_id] = {
        "ID": notify_id,
        "USER_ID": int(str(p["USER_ID"])),
        "MESSAGE": str(p["MESSAGE"]),
        "MESSAGE_OUT": p.get("MESSAGE_OUT"),
        "TAG": str(p["TAG"]) if p.get("TAG") else None,
        "SUB_TAG": p.get("SUB_TAG"),
        "AUTHOR_ID": ctx.user_id,
        "DATE": portal.iso_now(),
    }
    return notify_id
