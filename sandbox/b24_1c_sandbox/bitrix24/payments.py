"""crm.item.payment.*: native payments of deals (2) and smart invoices (31), with integer error codes.

A payment is a row of the sale module (one order per deal); these methods see a short view of it and change only
the paid flag and the pay system. Sum, dates and external ids are changed through `sale.payment.update` (sale.py).
"""

from __future__ import annotations

from typing import Any

from b24_1c_sandbox.bitrix24.entities import TYPES, EntityType
from b24_1c_sandbox.bitrix24.errors import payment_error
from b24_1c_sandbox.bitrix24.filtering import FilterError, compile_filter, sort_records
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import method
from b24_1c_sandbox.bitrix24.saleindex import payments, sale_orders
from b24_1c_sandbox.bitrix24.store import share_strings

Params = dict[str, Any]
PAY_SYSTEMS = {1: "Банковский перевод", 6: "Наличные", 7: "Банковская карта"}
CASH = {6}
DEFAULT_PAY_SYSTEM = 6  # the docs' examples: a new payment is "Наличные" (6), unpaid, for 0
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
SHORT = tuple(FIELD_TYPES)  # sale_order_payment_crm_simple: what crm.item.payment.get/list show


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
    owner = portal.record(et.store, entity_id)
    if owner is None:
        raise payment_error(0, "Entity not found")
    return et, owner


def _payment(portal: Portal, params: Params) -> dict[str, Any]:
    payment_id = _int(params, "id")
    if payment_id is None:
        raise payment_error(100, "Required fields are not provided: id")
    row: dict[str, Any] | None = payments(portal).get(payment_id)
    if row is None:
        raise payment_error(0, "Payment not found")
    return row


def amount(value: Any) -> Any:
    """A stored amount as portals return it: whole amounts as JSON integers ("sum": 1176 in the sale.payment.list
    capture of api-reference/sale/payment/sale-payment-list.md, "sum": 0 in crm-item-payment-list.md)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {k: amount(row.get(k)) if k == "sum" else row.get(k) for k in SHORT}


def set_paid(portal: Portal, row: dict[str, Any], paid: bool, ctx: CallContext, date: Any = None) -> None:
    """Paid now (or at `date`, when the same call sets it) by the caller; unpaid clears both."""
    row["paid"] = "Y" if paid else "N"
    row["datePaid"] = (date or portal.iso_now()) if paid else None
    row["empPaidId"] = ctx.user_id if paid else None


def set_pay_system(row: dict[str, Any], value: Any) -> None:
    try:
        system = int(str(value))
    except ValueError:
        raise payment_error(0, "Pay system not found") from None
    if system not in PAY_SYSTEMS:
        raise payment_error(0, "Pay system not found")
    row["paySystemId"] = system
    row["paySystemName"] = PAY_SYSTEMS[system]
    row["paySystemIsCash"] = "Y" if system in CASH else "N"


def _order_of(portal: Portal, owner: list[int]) -> int:
    """The sale order behind a deal or invoice: made with its first payment, kept for the next ones."""
    orders = sale_orders(portal)
    found = orders.ids("owner", tuple(owner))  # the owner's own rows, not a scan of every order
    if found:
        return found[0]
    order_id = portal.next_id("sale_order")
    orders[order_id] = {"id": order_id, "_owner": owner}
    return order_id


def new_payment(portal: Portal, owner: list[int], currency: str, ctx: CallContext) -> dict[str, Any]:
    """A fresh payment as the sale module makes it: unpaid, for 0, cash, with a generated `bx_…` xmlId."""
    table = payments(portal)
    payment_id = portal.next_id("payment")
    n = 1 + len(table.ids("owner", tuple(owner)))  # counted from the owner's index entry, not a scan
    now = portal.iso_now()
    row: dict[str, Any] = {
        "id": payment_id,
        "orderId": _order_of(portal, owner),
        "accountNumber": f"{owner[1]}/{n}",
        "paid": "N",
        "datePaid": None,
        "empPaidId": None,
        "sum": 0.0,
        "currency": currency,
        "dateBill": now,
        "responsibleId": ctx.user_id,
        "empResponsibleId": ctx.user_id,
        "dateResponsibleId": now,
        "xmlId": "bx_" + "".join(portal.random.choice("0123456789abcdef") for _ in range(13)),
        "_owner": owner,
    }
    for name, default in DEFAULTS.items():
        row.setdefault(name, default)
    set_pay_system(row, DEFAULT_PAY_SYSTEM)
    table[payment_id] = share_strings(row)
    return row


DEFAULTS: dict[str, Any] = {  # the sale_order_payment fields a fresh payment leaves empty
    "comments": "",
    "companyId": None,
    "dateMarked": None,
    "datePayBefore": None,
    "empMarkedId": None,
    "empReturnId": None,
    "externalPayment": "N",
    "id1c": "",
    "isReturn": "N",
    "marked": "N",
    "payReturnComment": "",
    "payReturnDate": None,
    "payReturnNum": "",
    "paySystemXmlId": "",
    "payVoucherDate": None,
    "payVoucherNum": "",
    "priceCod": "0.000000",  # as the sale.payment.list capture shows it
    "psCurrency": "",
    "psInvoiceId": None,
    "psResponseDate": None,
    "psStatus": "",
    "psStatusCode": "",
    "psStatusDescription": "",
    "psStatusMessage": "",
    "psSum": None,
    "reasonMarked": "",
    "updated1c": "N",
    "version1c": "",
}


@method("crm.item.payment.add", "crm", write=True)
def payment_add(portal: Portal, params: Params, ctx: CallContext) -> int:
    """An empty payment of the owner (it takes only the owner: no sum, date or external id); returns its id."""
    et, owner = _owner(portal, params)
    row = new_payment(portal, [et.id, int(owner["ID"])], str(owner.get("CURRENCY_ID") or "RUB"), ctx)
    return int(row["id"])


@method("crm.item.payment.update", "crm", write=True)
def payment_update(portal: Portal, params: Params, ctx: CallContext) -> bool:
    """Only the paid flag and the pay system; other fields are not this method's (sale.payment.update)."""
    row = _payment(portal, params)
    fields = params.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise payment_error(100, "Required fields are not provided: fields")
    for key, value in fields.items():
        if key == "paid":
            set_paid(portal, row, str(value).upper() == "Y", ctx)
        elif key == "paySystemId":
            set_pay_system(row, value)
    return True


@method("crm.item.payment.get", "crm")
def payment_get(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """One payment."""
    return _view(_payment(portal, params))


@method("crm.item.payment.list", "crm")
def payment_list(portal: Portal, params: Params, ctx: CallContext) -> list[Any]:
    """Payments of one deal or invoice (a plain array, no paging)."""
    et, owner = _owner(portal, params)
    try:
        match = compile_filter(params.get("filter") or {}, FIELD_TYPES, strict=True, portal_offset=portal.tz)
        table = payments(portal)
        rows = [_view(table[i]) for i in table.ids("owner", (et.id, int(owner["ID"])))]
        return sort_records([r for r in rows if match(r)], params.get("order") or {"id": "ASC"}, FIELD_TYPES)
    except FilterError as err:
        raise payment_error(0, err.message) from None


@method("crm.item.payment.pay", "crm", write=True)
def payment_pay(portal: Portal, params: Params, ctx: CallContext) -> bool:
    """Mark paid now."""
    set_paid(portal, _payment(portal, params), True, ctx)
    return True


@method("crm.item.payment.unpay", "crm", write=True)
def payment_unpay(portal: Portal, params: Params, ctx: CallContext) -> bool:
    """Mark unpaid."""
    set_paid(portal, _payment(portal, params), False, ctx)
    return True


@method("crm.item.payment.delete", "crm", write=True)
def payment_delete(portal: Portal, params: Params, ctx: CallContext) -> bool:
    """Delete a payment."""
    row = _payment(portal, params)
    del payments(portal)[row["id"]]
    return True
