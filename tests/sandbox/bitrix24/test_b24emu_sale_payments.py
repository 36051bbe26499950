"""Payments as the vendor documents them: crm.item.payment.add takes only the owner, crm.item.payment.update only
`paid` / `paySystemId`; sum, dates and external ids go through sale.payment.* (scope `sale`, administrators only),
and the sale module refuses to change the sum of a paid payment."""

from __future__ import annotations

from b24_1c_sandbox.bitrix24.portal import Webhook
from conftest import Emu


def _deal_with_payment(emu: Emu) -> int:
    emu.ok("crm.deal.add", {"fields": {"OPPORTUNITY": 25000, "CURRENCY_ID": "RUB"}})
    return int(emu.ok("crm.item.payment.add", {"entityTypeId": 2, "entityId": 1, "fields": {"sum": 900}}))


def test_a_new_payment_is_empty_whatever_the_deal_amount(emu: Emu) -> None:
    pid = _deal_with_payment(emu)
    got = emu.ok("sale.payment.get", {"id": pid})["payment"]
    assert got["sum"] == 0 and got["paid"] == "N" and got["datePaid"] is None
    assert got["orderId"] > 0 and got["xmlId"].startswith("bx_") and got["id1c"] == ""
    assert got["paySystemId"] == 6 and got["paySystemName"] == "Наличные" and got["currency"] == "RUB"
    second = emu.ok("crm.item.payment.add", {"entityTypeId": 2, "entityId": 1})
    assert (
        emu.ok("sale.payment.get", {"id": second})["payment"]["orderId"] == got["orderId"]
    )  # one order a deal


def test_crm_payment_update_changes_only_paid_and_pay_system(emu: Emu) -> None:
    pid = _deal_with_payment(emu)
    fields = {"sum": 400, "datePaid": "2024-11-07T10:00:00+03:00", "xmlId": "1C:x", "paySystemId": 1}
    assert emu.ok("crm.item.payment.update", {"id": pid, "fields": fields}) is True
    got = emu.ok("sale.payment.get", {"id": pid})["payment"]
    assert got["sum"] == 0 and got["datePaid"] is None and got["xmlId"] != "1C:x" and got["paySystemId"] == 1
    assert emu.ok("crm.item.payment.update", {"id": pid, "fields": {"paid": "Y"}}) is True
    assert emu.ok("crm.item.payment.get", {"id": pid})["paid"] == "Y"


def test_sale_payment_update_sets_the_documented_fields_and_answers_the_payment(emu: Emu) -> None:
    pid = _deal_with_payment(emu)
    fields = {
        "sum": 10000,
        "datePaid": "2024-11-07T10:00:00+03:00",
        "paid": "Y",
        "xmlId": "1C:doc:1",
        "id1c": "doc",
        "payVoucherNum": "ЦБ00-000042",
        "comments": "Поступление ЦБ00-000042",
    }
    got = emu.ok("sale.payment.update", {"id": pid, "fields": fields})["payment"]
    assert got["sum"] == 10000 and got["paid"] == "Y" and got["datePaid"] == "2024-11-07T10:00:00+03:00"
    assert (got["xmlId"], got["id1c"], got["payVoucherNum"]) == ("1C:doc:1", "doc", "ЦБ00-000042")
    assert emu.ok("crm.item.payment.get", {"id": pid})["sum"] == 10000
    status, body = emu.call("sale.payment.update", {"id": 999, "fields": {"sum": 1}})
    assert (status, body["error"]) == (400, 200640400001)
    assert emu.call("sale.payment.update", {"id": pid, "fields": {}})[1]["error"] == 100


def test_the_sum_of_a_paid_payment_changes_only_after_unpaying_it(emu: Emu) -> None:
    pid = _deal_with_payment(emu)
    emu.ok("sale.payment.update", {"id": pid, "fields": {"sum": 10000, "paid": "Y"}})
    status, body = emu.call("sale.payment.update", {"id": pid, "fields": {"sum": 12000}})
    assert (status, body["error"]) == (400, "SALE_PAYMENT_NOT_ALLOWED_CHANGE_SUM")
    assert emu.ok("sale.payment.get", {"id": pid})["payment"]["sum"] == 10000  # nothing of the call applied
    status, body = emu.call(
        "sale.payment.update", {"id": pid, "fields": {"datePaid": "2024-01-01", "sum": 1}}
    )
    assert status == 400 and emu.ok("sale.payment.get", {"id": pid})["payment"]["datePaid"] != "2024-01-01"
    assert emu.ok("crm.item.payment.unpay", {"id": pid}) is True
    emu.ok("sale.payment.update", {"id": pid, "fields": {"sum": 12000}})
    emu.ok(
        "sale.payment.update", {"id": pid, "fields": {"paid": "Y", "datePaid": "2024-11-08T09:00:00+03:00"}}
    )
    got = emu.ok("sale.payment.get", {"id": pid})["payment"]
    assert (got["sum"], got["paid"], got["datePaid"]) == (12000, "Y", "2024-11-08T09:00:00+03:00")


def test_sale_payment_list_filters_by_xml_id_and_order_and_wraps_payments(emu: Emu) -> None:
    pid = _deal_with_payment(emu)
    other = emu.ok("crm.item.payment.add", {"entityTypeId": 2, "entityId": 1})
    emu.ok("sale.payment.update", {"id": pid, "fields": {"xmlId": "1C:a:1"}})
    status, body = emu.call(
        "sale.payment.list",
        {"select": ["id", "xmlId", "orderId", "sum"], "filter": {"=xmlId": ["1C:a:1", "1C:b:1"]}},
    )
    assert status == 200 and body["total"] == 1
    ((row,),) = [body["result"]["payments"]]
    assert row == {"id": pid, "xmlId": "1C:a:1", "orderId": row["orderId"], "sum": 0}
    by_order = emu.ok("sale.payment.list", {"filter": {"orderId": row["orderId"]}, "order": {"id": "desc"}})
    assert [p["id"] for p in by_order["payments"]] == [other, pid]
    assert emu.call("sale.payment.list", {"filter": {"nonsense": 1}})[0] == 400


def test_sale_methods_need_the_sale_scope_and_an_administrator(emu: Emu) -> None:
    pid = _deal_with_payment(emu)
    emu.portal.webhooks[1] = Webhook(1, "testwebhookcode", frozenset({"crm", "user"}))
    status, body = emu.call("sale.payment.get", {"id": pid})
    assert status == 401 and body["error"] == "insufficient_scope"
    assert emu.ok("crm.item.payment.get", {"id": pid})["id"] == pid  # crm still answers
    emu.portal.webhooks[1] = Webhook(1, "testwebhookcode")
    emu.portal.users[1]["IS_ADMIN"] = False
    for method, params, code in (
        ("sale.payment.get", {"id": pid}, 200040300010),
        ("sale.payment.list", {}, 200040300010),
        ("sale.payment.update", {"id": pid, "fields": {"sum": 5}}, 200040300020),
    ):
        status, body = emu.call(method, params)
        assert (status, body["error"], body["error_description"]) == (400, code, "Access Denied"), method


def test_default_webhook_and_app_scopes_include_sale() -> None:
    from b24_1c_sandbox.bitrix24.portal import OAuthApp

    assert "sale" in Webhook(1, "x").scopes and "sale" in OAuthApp("a", "b").scopes
