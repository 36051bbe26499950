"""crm.orderentity.list as api-reference/crm/universal/order-entity/crm-order-entity-list.md documents it: the sale
orders bound to CRM objects, camelCase fields, `{"orderEntity": [...]}`, pages of 50; only fields of the binding
filter; only administrators are answered (the page names the online-store manager, a role the sandbox has not)."""

from __future__ import annotations

from conftest import Emu


def _deals_with_payments(emu: Emu, n: int) -> list[int]:
    deals = [int(emu.ok("crm.deal.add", {"fields": {"TITLE": f"d{i}"}})) for i in range(n)]
    for deal in deals[:-1]:  # the last deal has no payment, so no order
        emu.ok("crm.item.payment.add", {"entityTypeId": 2, "entityId": deal})
        emu.ok("crm.item.payment.add", {"entityTypeId": 2, "entityId": deal})  # the same order again
    return deals


def test_orderentity_list_names_the_order_behind_each_deal_with_payments(emu: Emu) -> None:
    other = _deals_with_payments(emu, 2)[0]  # a deal with payments the filter leaves out
    deals = _deals_with_payments(emu, 3)
    params = {
        "select": ["orderId", "ownerId"],
        "filter": {"=ownerTypeId": 2, "@ownerId": deals, "!=ownerId": other},
        "order": {"orderId": "asc"},
    }
    rows = emu.ok("crm.orderentity.list", params)["orderEntity"]
    assert [r["ownerId"] for r in rows] == deals[:2]  # one order a deal; none for the deal without payments
    assert set(rows[0]) == {"orderId", "ownerId"}
    for row in rows:
        orders = emu.ok("sale.payment.list", {"filter": {"=orderId": [row["orderId"]]}, "select": ["id"]})
        listed = emu.ok("crm.item.payment.list", {"entityTypeId": 2, "entityId": row["ownerId"]})
        assert sorted(p["id"] for p in orders["payments"]) == sorted(p["id"] for p in listed)
        assert len(listed) == 2


def test_orderentity_list_pages_by_fifty_and_refuses_unknown_filters(emu: Emu) -> None:
    deals = _deals_with_payments(emu, 53)
    status, body = emu.call("crm.orderentity.list", {"filter": {"@ownerId": deals}})
    assert status == 200 and len(body["result"]["orderEntity"]) == 50
    assert body["total"] == 52 and body["next"] == 50
    status, body = emu.call("crm.orderentity.list", {"filter": {"TITLE": "d1"}})
    assert status == 400 and "TITLE" in body["error_description"]


def test_orderentity_list_answers_only_administrators(emu: Emu) -> None:
    _deals_with_payments(emu, 2)
    emu.portal.users[1]["IS_ADMIN"] = False
    status, body = emu.call("crm.orderentity.list", {})
    assert (status, body["error"]) == (400, 200040300010)
