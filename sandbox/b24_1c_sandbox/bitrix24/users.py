"""user.get / user.search / user.current: staff for e-mail → ASSIGNED_BY_ID lookups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from b24_1c_sandbox.bitrix24.errors import ApiError
from b24_1c_sandbox.bitrix24.filtering import FilterError, compile_filter, sort_records
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import ListResult, method, page

USER_FIELDS = {
    "ID": "integer",
    "ACTIVE": "boolean",
    "NAME": "string",
    "LAST_NAME": "string",
    "SECOND_NAME": "string",
    "EMAIL": "string",
    "WORK_POSITION": "string",
    "UF_DEPARTMENT": "integer",
    "USER_TYPE": "string",
    "PERSONAL_PHONE": "string",
    "IS_ONLINE": "char",
    "TIMESTAMP_X": "datetime",
}


def _view(user: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in user.items() if k != "IS_ADMIN"}


def _params(params: dict[str, Any]) -> dict[str, Any]:
    return {str(k).upper(): v for k, v in params.items()}


@method("user.get", "user")
def user_get(portal: Portal, params: dict[str, Any], ctx: CallContext) -> ListResult:
    """Users by FILTER (any field, CRM prefixes), ID, sort/order; pages of 50."""
    p = _params(params)
    flt: dict[str, Any] = dict(p["FILTER"]) if isinstance(p.get("FILTER"), dict) else {}
    flt = {**flt, **{k: v for k, v in p.items() if k in USER_FIELDS}}
    try:
        match = compile_filter(flt, USER_FIELDS, strict=False, portal_offset=portal.tz)
        rows: list[Any] = [u for u in portal.users.values() if match(u)]
        sort = str(p.get("SORT") or "ID")
        rows = sort_records(rows, {sort: str(p.get("ORDER") or "ASC").upper()}, USER_FIELDS)
    except FilterError as err:
        raise ApiError(400, err.code or "ERROR_ARGUMENT", err.message) from None
    result = page([_view(u) for u in rows], int(params.get("__start", 0)))
    return result


@method("user.search", "user")
def user_search(portal: Portal, params: dict[str, Any], ctx: CallContext) -> ListResult:
    """FIND (free text over names, e-mail, position) or NAME / LAST_NAME / WORK_POSITION / USER_TYPE."""
    p = _params(params)
    raw: dict[str, Any] = (
        p["FILTER"] if isinstance(p.get("FILTER"), dict) else {k: v for k, v in p.items() if k != "__START"}
    )
    flt = {str(k).upper(): v for k, v in raw.items()}
    if "FIND" in flt:
        needle = str(flt["FIND"]).casefold()
        rows = [
            u
            for u in portal.users.values()
            if any(
                needle in str(u.get(f) or "").casefold()
                for f in ("NAME", "LAST_NAME", "EMAIL", "WORK_POSITION")
            )
        ]
    else:
        allowed = {
            k: v
            for k, v in flt.items()
            if k in ("NAME", "LAST_NAME", "WORK_POSITION", "USER_TYPE", "ACTIVE", "EMAIL")
        }
        try:
            match = compile_filter(allowed, USER_FIELDS, strict=False, portal_offset=portal.tz)
        except FilterError as err:
            raise ApiError(400, err.code or "ERROR_ARGUMENT", err.message) from None
        rows = [u for u in portal.users.values() if match(u)]
    rows.sort(key=lambda u: int(u["ID"]))
    return page([_view(u) for u in rows], int(params.get("__start", 0)))


@method("user.current", "basic")
def user_current(portal: Portal, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    """The calling user."""
    return _view(portal.users.get(ctx.user_id) or {"ID": str(ctx.user_id)})


@method("profile", "basic")
def profile(portal: Portal, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    """The calling user's basic profile."""
    user = portal.users.get(ctx.user_id) or {}
    return {
        "ID": str(ctx.user_id),
        "ADMIN": bool(user.get("IS_ADMIN")),
        "NAME": user.get("NAME"),
        "LAST_NAME": user.get("LAST_NAME"),
        "PERSONAL_GENDER": "",
        "TIME_ZONE": "",
        "TIME_ZONE_OFFSET": 0,
    }
