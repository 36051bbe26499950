"""sale.payment.get / list / update: the sale module's full view of payments (scope `sale`, administrators only).

The contract is bitrix-tools/b24-rest-docs api-reference/sale/payment/: camelCase fields, results wrapped as
`{"payment": {…}}` and `{"payments": […]}`, numeric error codes. As in the sale module, the sum of a paid payment
cannot change (unpay, change, pay again); setting `paid` to Y without `datePaid` in the same call dates it now.
"""

from __future__ import annotations

from typing import Any

from b24_1c_sandbox.bitrix24.errors import ApiError
from b24_1c_sandbox.bitrix24.filtering import FilterError, compile_filter, sort_records
from b24_1c_sandbox.bitrix24.payments import amount, set_paid, set_pay_system
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import ListResult, method, page
from b24_1c_sandbox.bitrix24.saleindex import payments, pinned

Params = dict[str, Any]
NOT_FOUND = 200640400001  # "payment is not exists"
NO_READ = 200040300010
NO_WRITE = 200040300020
DATETIMES = {
    "datePaid",
    "psResponseDate",
    "payVoucherDate",
    "datePayBefore",
    "dateBill",
    "dateMarked",
    "dateResponsibleId",
}
FIELD_TYPES: dict[str, str] = {
    **{name: "datetime" for name in DATETIMES},
    "id": "integer",
    "orderId": "integer",
    "accountNumber": "string",
    "paid": "char",
    "empPaidId": "user",
    "paySystemId": "integer",
    "paySystemName": "string",
    "paySystemIsCash": "char",
    "paySystemXmlId": "string",
    "psStatus": "char",
    "psStatusCode": "string",
    "psStatusDescription": "string",
    "psStatusMessage": "string",
    "psSum": "double",
    "psCurrency": "string",
    "payVoucherNum": "string",
    "xmlId": "string",
    "sum": "double",
    "currency": "string",
    "companyId": "integer",
    "payReturnNum": "string",
    "priceCod": "string",
    "payReturnDate": "date",
    "empReturnId": "user",
    "payReturnComment": "string",
    "responsibleId": "user",
    "empResponsibleId": "user",
    "isReturn": "char",
    "comments": "string",
    "updated1c": "char",
    "id1c": "string",
    "version1c": "string",
    "externalPayment": "char",
    "psInvoiceId": "string",
    "marked": "char",
    "reasonMarked": "string",
    "empMarkedId": "user",
}
READ_ONLY = {
    "id",
    "orderId",
    "accountNumber",
    "currency",
    "paySystemName",
    "paySystemIsCash",
    "paySystemXmlId",
}
READ_ONLY |= {"dateMarked", "dateResponsibleId"}


def _admin(portal: Portal, ctx: CallContext, code: int) -> None:
    """The sale methods answer only administrators."""
    if not portal.users.get(ctx.user_id, {}).get("IS_ADMIN"):
        raise ApiError(400, code, "Access Denied")


def _row(portal: Portal, params: Params) -> dict[str, Any]:
    raw = params.get("id")
    if raw in (None, ""):
        raise ApiError(400, 100, "Required parameter id is not defined")
    row: dict[str, Any] | None
    try:
        row = payments(portal).get(int(str(raw)))
    except ValueError:
        row = None
    if row is None:
        raise ApiError(400, NOT_FOUND, "payment is not exists")
    return row


def view(row: dict[str, Any]) -> dict[str, Any]:
    """The full sale_order_payment object, keys sorted as the docs show them."""
    return {k: amount(row.get(k)) if k in ("sum", "psSum") else row.get(k) for k in sorted(FIELD_TYPES)}


def _number(value: Any, name: str) -> float:
    try:
        return float(str(value))
    except ValueError:
        raise ApiError(400, 0, f"Invalid value of field {name}") from None


def _datetime(portal: Portal, value: Any) -> str | None:
    dt = portal.parse_datetime(value)
    return dt.isoformat() if dt else None


@method("sale.payment.get", "sale")
def sale_payment_get(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """Every field of one payment."""
    _admin(portal, ctx, NO_READ)
    return {"payment": view(_row(portal, params))}


def _candidates(portal: Portal, params: Params) -> list[dict[str, Any]]:
    """Views of the payments the filter may match: those of the orders it names (`orderId`, `=orderId`, `@orderId`,
    the connector's read) from the orderId index, else every payment; the whole filter is applied to them after."""
    table = payments(portal)
    orders = pinned(params.get("filter"), "orderId")
    if orders is None:
        return [view(r) for r in table.values()]
    return [view(table[i]) for i in table.in_order(i for o in orders for i in table.ids("orderId", o))]


@method("sale.payment.list", "sale")
def sale_payment_list(portal: Portal, params: Params, ctx: CallContext) -> ListResult:
    """Payments by select / filter (any field, with the documented prefixes) / order; pages of 50."""
    _admin(portal, ctx, NO_READ)
    try:
        match = compile_filter(params.get("filter") or {}, FIELD_TYPES, strict=True, portal_offset=portal.tz)
        order = params.get("order") or {"id": "asc"}
        rows = [
            dict(r)
            for r in sort_records([r for r in _candidates(portal, params) if match(r)], order, FIELD_TYPES)
        ]
    except FilterError as err:
        raise ApiError(400, 0, err.message) from None
    select = params.get("select")
    if isinstance(select, list) and select:
        unknown = [s for s in select if s not in FIELD_TYPES]
        if unknown:
            raise ApiError(400, 0, f"Unknown field: {unknown[0]}")
        rows = [{k: r[k] for k in select} for r in rows]
    found = page(rows, int(params.get("__start", 0)))
    return ListResult({"payments": found.rows}, found.total, found.next)


@method("sale.payment.update", "sale", write=True)
def sale_payment_update(portal: Portal, params: Params, ctx: CallContext) -> dict[str, Any]:
    """Change fields in the order given; a paid payment's sum is refused (SALE_PAYMENT_NOT_ALLOWED_CHANGE_SUM)."""
    _admin(portal, ctx, NO_WRITE)
    row = _row(portal, params)
    fields = params.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise ApiError(400, 100, "Required parameter fields is not defined or empty")
    changed = dict(row)  # all or nothing: the sale module saves only a consistent payment
    for key, value in fields.items():
        if key not in FIELD_TYPES or key in READ_ONLY:
            continue  # not a writable field of the payment: ignored
        kind = FIELD_TYPES[key]
        if key == "sum":
            amount = _number(value, key)
            if changed["paid"] == "Y" and abs(amount - float(changed["sum"] or 0)) > 1e-9:
                raise ApiError(
                    400,
                    "SALE_PAYMENT_NOT_ALLOWED_CHANGE_SUM",
                    "Сумму оплаченной оплаты изменить нельзя: сначала отмените оплату",
                )
            changed["sum"] = amount
        elif key == "paid":
            paid = str(value).upper() == "Y"
            if paid != (changed["paid"] == "Y"):
                set_paid(portal, changed, paid, ctx, _datetime(portal, fields.get("datePaid")))
        elif key == "paySystemId":
            set_pay_system(changed, value)
        elif kind == "datetime":
            changed[key] = _datetime(portal, value)
        elif kind == "double":
            changed[key] = None if value in (None, "") else _number(value, key)
        elif kind in ("integer", "user"):
            changed[key] = None if value in (None, "") else int(_number(value, key))
        elif kind == "char":
            changed[key] = str(value).upper()[:1]
        else:
            changed[key] = "" if value is None else str(value)
    row.update(changed)
    return {"payment": view(row)}
