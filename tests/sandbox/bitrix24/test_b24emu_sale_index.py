"""The emulator's per-owner indexes of payments and sale orders (issue 13: a backfill of N orders cost N² in the
payment methods): every answer equals the plain scan's on random adds, deletes, updates and a snapshot reload, and
a payment add or a list of one owner reads only that owner's rows."""

from __future__ import annotations

import random
from typing import Any

import pytest
from b24_1c_sandbox.bitrix24 import orderentity, payments, sale
from b24_1c_sandbox.bitrix24.entities import TYPES
from b24_1c_sandbox.bitrix24.errors import ApiError
from b24_1c_sandbox.bitrix24.filtering import FilterError, compile_filter, sort_records
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal, Settings
from b24_1c_sandbox.bitrix24.registry import ListResult, page
from b24_1c_sandbox.bitrix24.saleindex import (
    PAYMENT_KEYS,
    SALE_ORDER_KEYS,
    IndexedTable,
    sale_orders,
)
from b24_1c_sandbox.bitrix24.saleindex import payments as payment_table
from b24_1c_sandbox.bitrix24.store import create

from connector.clock import ManualClock

CTX = CallContext(1, frozenset({"crm", "sale"}))
TZ = Portal(Settings(plan="off")).tz


def _portal() -> tuple[Portal, list[list[int]]]:
    portal = Portal(Settings(plan="off"), ManualClock(), seed=5)
    owners = [[2, int(create(portal, TYPES[2], {"TITLE": f"d{i}"}, CTX)["ID"])] for i in range(6)]
    owners += [[31, int(create(portal, TYPES[31], {"title": f"i{i}"}, CTX)["ID"])] for i in range(3)]
    return portal, owners


# -- the plain scans the handlers did before the indexes (the reference) -------------------------------------------


def _scan_list(
    rows: list[dict[str, Any]], params: dict[str, Any], fields: dict[str, str], default: Any
) -> Any:
    try:
        match = compile_filter(params.get("filter") or {}, fields, strict=True, portal_offset=TZ)
        got = [
            dict(r)
            for r in sort_records([r for r in rows if match(r)], params.get("order") or default, fields)
        ]
    except FilterError as err:
        raise ApiError(400, 0, err.message) from None
    if params.get("select"):
        got = [{k: r[k] for k in params["select"]} for r in got]
    return page(got, int(params.get("__start", 0)))


def _scan_sale_list(portal: Portal, params: dict[str, Any]) -> Any:
    every = [sale.view(r) for r in portal.table("payment").values()]
    found = _scan_list(every, params, sale.FIELD_TYPES, {"id": "asc"})
    return ListResult({"payments": found.rows}, found.total, found.next)


def _scan_orderentity(portal: Portal, params: dict[str, Any]) -> Any:
    every = [
        {"orderId": int(o["id"]), "ownerId": int(o["_owner"][1]), "ownerTypeId": int(o["_owner"][0])}
        for o in portal.table("sale_order").values()
    ]
    found = _scan_list(every, params, orderentity.FIELD_TYPES, {"ownerId": "asc"})
    return ListResult({"orderEntity": found.rows}, found.total, found.next)


def _scan_payment_list(portal: Portal, owner: list[int], params: dict[str, Any]) -> Any:
    rows = [payments._view(p) for p in portal.table("payment").values() if p["_owner"] == owner]
    match = compile_filter(params.get("filter") or {}, payments.FIELD_TYPES, strict=True, portal_offset=TZ)
    return sort_records(
        [r for r in rows if match(r)], params.get("order") or {"id": "ASC"}, payments.FIELD_TYPES
    )


def _answer(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except ApiError as err:
        return ("error", err.status, err.code, err.description)


# -- the random walk ------------------------------------------------------------------------------------------------


def _sale_filters(orders: list[int], rng: random.Random) -> list[dict[str, Any]]:
    o1, o2 = (rng.choice(orders), rng.choice(orders)) if orders else (1, 2)
    return [
        {},
        {"=orderId": [o1, o2]},
        {"orderId": o1},
        {"@orderId": {"0": str(o1), "1": str(o2)}},
        {"=orderId": str(o1), "paid": "Y"},
        {"ORDERID": o1, "0": {"LOGIC": "OR", "paid": "Y", ">sum": 100}},
        {"LOGIC": "OR", "orderId": o1, "paid": "Y"},
        {"!orderId": o1},
        {"=orderId": []},
        {"orderId": ""},
        {"orderId": True},
        {"@orderId": [o1, None]},
        {"orderId": "5abc"},
        {"=orderId": [o1, o2, 1, 2, 3, 4, 999]},
        {"orderId": o1, "nope": 1},
        {"LOGIC": "XOR", "orderId": o1},
    ]


def _check(portal: Portal, owners: list[list[int]], rng: random.Random) -> None:
    table, orders = payment_table(portal), sale_orders(portal)
    assert table.index_state() == IndexedTable(PAYMENT_KEYS, dict(table)).index_state()
    assert orders.index_state() == IndexedTable(SALE_ORDER_KEYS, dict(orders)).index_state()
    order_ids = list(orders)
    for flt in _sale_filters(order_ids, rng):
        for extra in ({}, {"order": {"paid": "desc"}, "select": ["id", "orderId", "paid"]}, {"__start": 50}):
            params = {"filter": flt, **extra}
            got = _answer(sale.sale_payment_list, portal, params, CTX)
            assert got == _answer(_scan_sale_list, portal, params), params
    d1, d2 = rng.choice(owners)[1], rng.choice(owners)[1]
    for flt in (
        {"=ownerTypeId": 2, "@ownerId": [d1, d2]},
        {"ownerId": str(d1)},
        {"orderId": rng.choice(order_ids) if order_ids else 1},
        {"@orderId": order_ids[:3], "ownerTypeId": 31},
        {"LOGIC": "OR", "ownerId": d1, "ownerTypeId": 31},
        {"ownerId": [d1, "x"]},
        {"ownerId": d1, "bad": 2},
        {},
    ):
        params = {"filter": flt, "order": rng.choice([{"ownerTypeId": "desc"}, {}])}
        got = _answer(orderentity.orderentity_list, portal, params, CTX)
        assert got == _answer(_scan_orderentity, portal, params), params
    for owner in owners:
        params = {
            "entityTypeId": owner[0],
            "entityId": owner[1],
            "filter": {"paid": "N"},
            "order": {"sum": "desc"},
        }
        assert payments.payment_list(portal, params, CTX) == _scan_payment_list(portal, owner, params)


def test_every_answer_equals_the_plain_scan_over_random_adds_deletes_and_updates() -> None:
    portal, owners = _portal()
    rng = random.Random(13)
    for step in range(160):
        pick, table = rng.random(), portal.table("payment")
        if pick < 0.55 or not table:
            owner = rng.choice(owners)
            number = 1 + sum(1 for p in table.values() if p["_owner"] == owner)  # the scan the add did
            bound = next((i for i, o in portal.table("sale_order").items() if o["_owner"] == owner), None)
            pid = payments.payment_add(portal, {"entityTypeId": owner[0], "entityId": owner[1]}, CTX)
            row = portal.table("payment")[pid]
            assert row["accountNumber"] == f"{owner[1]}/{number}"
            assert bound is None or row["orderId"] == bound
        elif pick < 0.75:
            payments.payment_delete(portal, {"id": rng.choice(list(table))}, CTX)
        elif pick < 0.9:
            fields = {
                "sum": rng.randint(0, 300),
                "comments": f"c{step}",
                "orderId": 1,
                "paid": rng.choice("YN"),
            }
            _answer(sale.sale_payment_update, portal, {"id": rng.choice(list(table)), "fields": fields}, CTX)
        else:
            flag = rng.choice("YN")
            payments.payment_update(portal, {"id": rng.choice(list(table)), "fields": {"paid": flag}}, CTX)
        if step == 80:  # a reloaded snapshot: plain tables again, indexed afresh by the next call
            portal.restore(portal.snapshot())
            assert not isinstance(portal.table("payment"), IndexedTable)
        if step % 8 == 0:
            _check(portal, owners, rng)
    _check(portal, owners, rng)
    assert len(portal.table("payment")) > 40 and len(portal.table("sale_order")) == len(owners)


class Spy(dict[str, Any]):
    """A stored row that counts every read of it."""

    reads = 0

    def __getitem__(self, key: str) -> Any:
        Spy.reads += 1
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        Spy.reads += 1
        return super().get(key, default)


def test_a_payment_add_and_the_lists_of_one_owner_read_only_that_owners_rows() -> None:
    portal, owners = _portal()
    other, mine = owners[0], owners[1]
    for _ in range(5):
        payments.payment_add(portal, {"entityTypeId": 2, "entityId": other[1]}, CTX)
    for name in ("payment", "sale_order"):  # the other owner's rows now count every read of them
        table = portal.table(name)
        for key in list(table):
            table[key] = Spy(table[key])
    Spy.reads = 0
    pid = payments.payment_add(portal, {"entityTypeId": 2, "entityId": mine[1]}, CTX)
    payments.payment_add(portal, {"entityTypeId": 2, "entityId": mine[1]}, CTX)
    assert Spy.reads == 0  # counted and bound from the owner's index entries, not by a scan
    listed = payments.payment_list(portal, {"entityTypeId": 2, "entityId": mine[1]}, CTX)
    order = portal.table("payment")[pid]["orderId"]
    found = sale.sale_payment_list(portal, {"filter": {"=orderId": [order]}}, CTX)
    bound = orderentity.orderentity_list(portal, {"filter": {"=ownerTypeId": 2, "@ownerId": [mine[1]]}}, CTX)
    assert Spy.reads == 0
    assert [p["accountNumber"] for p in listed] == [f"{mine[1]}/1", f"{mine[1]}/2"]
    assert [p["id"] for p in found.rows["payments"]] == [p["id"] for p in listed]
    assert bound.rows["orderEntity"] == [{"orderId": order, "ownerId": mine[1], "ownerTypeId": 2}]
    sale.sale_payment_list(portal, {"filter": {"paid": "N"}}, CTX)  # no order named: the scan reads them all
    assert Spy.reads > 0


def test_the_indexed_table_keeps_its_indexes_through_every_kind_of_write() -> None:
    table = IndexedTable(PAYMENT_KEYS)
    table[3] = {"_owner": [2, 1], "orderId": 1}
    table.setdefault(1, {"_owner": [2, 1], "orderId": 1})
    table.update({2: {"_owner": [2, 2], "orderId": 2}})
    table |= {4: {"_owner": [2, 1], "orderId": 1}}
    assert table.ids("owner", (2, 1)) == [3, 1, 4]  # table order, not id order
    table[3] = {"_owner": [2, 2], "orderId": 2}  # an overwrite moves the keys, keeps the place
    assert table.ids("owner", (2, 2)) == [3, 2] and table.ids("owner", (2, 1)) == [1, 4]
    assert table.pop(1)["orderId"] == 1 and table.pop(1, None) is None
    with pytest.raises(KeyError):
        del table[1]
    assert table.popitem()[0] == 4 and table.in_order([2, 3, 9]) == [3, 2]
    assert table.index_state() == IndexedTable(PAYMENT_KEYS, dict(table)).index_state()
    table[1] = {"_owner": [2, 7], "orderId": 7}
    table[5] = {"_owner": [2, 7], "orderId": 7}
    table[1]["_owner"] = [
        2,
        8,
    ]  # changed in place, behind the index's back: its overwrite rebuilds the indexes
    table[1] = {**table[1], "sum": 1}
    assert table.ids("owner", (2, 8)) == [1] and table.ids("owner", (2, 7)) == [5]
    table[5]["orderId"] = 9  # and so does its removal
    del table[5]
    assert table.ids("owner", (2, 7)) == [] and table.ids("orderId", 7) == [1]
    assert table.index_state() == IndexedTable(PAYMENT_KEYS, dict(table)).index_state()
    table.clear()
    assert table.index_state() == {"owner": {}, "orderId": {}}
