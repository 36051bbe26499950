"""crm.item.payment.*: native payments of deals (2) and smart invoices (31), with integer error codes."""

from __future__ import annotations

from typing import Any

from b24_1c_sandbox.bitrix24.entities import TYPES, EntityType
from b24_1c_sandbox.bitrix24.errors import payment_error
from b24_1c_sandbox.bitrix24.filtering import FilterError, compile_filter, sort_records
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import method

Params = dict[str, Any]
PAY_SYSTEMS = {1: "Наличные", 6: "Безналичный расчёт", 7: "Банковская карта"}
FIELD_TYPES = {
    "id": "integer",
    "accountNumber": "string",
    "paid": "char",
    "datePaid": "datetime",
    "empPaidId": "user",
    "paySystemId": "integer",
    "sum": "double",
    "currency": "string",
    "paySystemName": "string",
}
_WRITABLE = {"sum", "paid", "datePaid", "paySystemId", "empPaidId", "currency"}


def _int(params: Params, *names: str) -> int | None:
    for name in names:
        value = params.get(name)
        if value not in (None, ""):
            try:
                return int(str(value))
            except ValueError:
                return None
    return None


def _owner(portal: Portal, params: Params) -> tuple[EntityType, dict[str, Any]]:
    type_id, entity_id = _int(params, "entityTypeId"), _int(params, "entityId")
    if type_id is None or entity_id is None:
        raise payment_error(100, "Required fields are not provided: entityTypeId, entityId")
    et = TYPES.get(type_id)
    if et is None or not et.payments:
        raise payment_error(0, "Entity type is not supported")
    owner = portal.entities.get(et.store, {}).get(entity_id)
    if owner is None:
        raise payment_error(0, "Entity not found")
    return et, owner


def _payment(portal: Portal, params: Params) -> dict[str, Any]:
    payment_id = _int(params, "id")
    if payment_id is None:
        raise payment_error(100, "Required fields are not provided: id")
    row = portal.table("payment").get(payment_id)
    if row is None:
        raise payment_error(0, "Payment not found")
    return row


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def _set_paid(portal: Portal, row: dict[str, Any], paid: bool, ctx: CallContext) -> None:
    row["paid"] = "Y" if paid else "N"
    row["datePaid"] = portal.iso_now() if paid else None
    row["empPaidId"] = ctx.user_id if paid else None


@method("crm.item.payment.add", "crm", write=True)
def payment_add(portal: Portal, params: Params, ctx: CallContext) -> int:
    """A payment for the owner's whole amount (unpaid); returns its id."""
    et, owner = _owner(portal, params)
    payment_id = portal.next_id("payment")
    n = 1 + sum(1 for p in portal.table("payment").values() if p["_owner"] == [et.id, int(owner["ID"])])
    portal.table("payment")[payment_id] = {
        "id": payment_id,
        "accountNumber": f"{owner['ID']}/{n}",
        "paid": "N",
        "datePaid": None,
        "empPaidId": None,
        "paySystemId": 6,
        "sum": float(owner.get("OPPORTUNITY") or 0),
        "currency": owner.get("CURRENCY_ID") or "RUB",
        "paySystemName": PAY_SYSTEMS[6],
        "_owner": [et.id, int(owner["ID"])],
    }
    return payment_id


@method("crm.item.payment.update", "crm", write=True)
def payment_update(portal: Portal, params: Params, ctx: CallContext) -> bool:
    """Change sum, paid flag, date, pay system."""
    row = _payment(portal, params)
    fields = params.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise payment_error(100, "Required fields are not provided: fields")
    for key, value in fields.items():
        if key not in _WRITABLE:
            continue
        if key == "sum":
            try:
                row["sum"] = float(str(value))
            except ValueError:
                raise payment_error(0, "Invalid value of field sum") from None
        elif key == "paid":
            _set_paid(portal, row, str(value).upper() == "Y", ctx)
        elif key == "datePaid":
            dt = portal.parse_datetime(value)
            row["datePaid"] = dt.isoformat() if dt else None
        elif key == "paySystemId":
            row["paySystemId"] = int(str(value))
            row["paySystemName"] = PAY_SYSTEMS.get(row["paySystemId"], "")
        else:
            row[key] = value
    return True


@method("crm.item.payment.get", "crm")
def payment_get(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """One payment."""
    return _view(_payment(portal, params))


@method("crm.item.payment.list", "crm")
def payment_list(portal: Portal, params: Params, ctx: CallContext) -> list[Any]:
    """Payments of one deal or invoice (a plain array, no paging)."""
    et, owner = _owner(portal, params)
    rows = [_view(p) for p in portal.table("payment").values() if p["_owner"] == [et.id, int(owner["ID"])]]
    try:
        match = compile_filter(params.get("filter") or {}, FIELD_TYPES, strict=True, portal_offset=portal.tz)
        return sort_records([r for r in rows if match(r)], params.get("order") or {"id": "ASC"}, FIELD_TYPES)
    except FilterError as err:
        raise payment_error(0, err.message) from None


@method("crm.item.payment.pay", "crm", write=True)
def payment_pay(portal: Portal, params: Params, ctx: CallContext) -> bool:
    """Mark paid now."""
    _set_paid(portal, _payment(portal, params), True, ctx)
    return True


@method("crm.item.payment.unpay", "crm", write=True)
def payment_unpay(portal: Portal, params: Params, ctx: CallContext) -> bool:
    """Mark unpaid."""
    _set_paid(portal, _payment(portal, params), False, ctx)
    return True


@method("crm.item.payment.delete", "crm", write=True)
def payment_delete(portal: Portal, params: Params, ctx: CallContext) -> bool:
    """Delete a payment."""
    row = _payment(portal, params)
    del portal.table("payment")[row["id"]]
    return True
