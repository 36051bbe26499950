"""The portal keeps product rows as tuples (compact.py), not one dict each: every way of changing them changes
the store, and what a read gives is a copy (issue 13 goal 6)."""

from __future__ import annotations

import pytest
from b24_1c_sandbox import compact
from b24_1c_sandbox.bitrix24.saleindex import PAYMENT_KEYS, IndexedTable
from b24_1c_sandbox.compact import Table
from conftest import Emu


def test_product_rows_are_stored_packed_and_every_write_path_changes_them(emu: Emu) -> None:
    deal = int(emu.ok("crm.deal.add", {"fields": {"TITLE": "Заказ"}}))
    emu.ok("crm.deal.productrows.set", {"id": deal, "rows": [{"PRODUCT_NAME": "Профлист", "PRICE": 10}]})
    portal = emu.portal
    assert type(portal.product_rows._rows[("D", deal)]) in (bytes, list)
    added = emu.ok(
        "crm.item.productrow.add",
        {"fields": {"ownerType": "D", "ownerId": deal, "productName": "Саморез", "price": 2, "quantity": 3}},
    )["productRow"]
    assert [r["PRODUCT_NAME"] for r in portal.product_rows[("D", deal)]] == ["Профлист", "Саморез"]
    emu.ok("crm.item.productrow.update", {"id": added["id"], "fields": {"quantity": 5}})
    assert portal.product_rows[("D", deal)][1]["QUANTITY"] == 5
    assert emu.ok("crm.deal.get", {"id": deal})["OPPORTUNITY"] == "20.00"
    portal.product_rows[("D", deal)][0]["PRICE"] = 999  # a copy
    assert emu.ok("crm.deal.productrows.get", {"id": deal})[0]["PRICE"] == 10
    emu.ok("crm.item.productrow.delete", {"id": added["id"]})
    assert [r["PRODUCT_NAME"] for r in emu.ok("crm.deal.productrows.get", {"id": deal})] == ["Профлист"]


def test_crm_objects_are_packed_between_calls_and_changed_in_place_during_one(emu: Emu) -> None:
    portal = emu.portal
    deals = [int(emu.ok("crm.deal.add", {"fields": {"TITLE": f"Заказ {n}"}})) for n in range(3)]
    emu.ok("crm.deal.update", {"id": deals[1], "fields": {"TITLE": "Изменён", "OPPORTUNITY": 12.5}})
    store = portal.entities["deal"]
    assert not store._live and all(type(store._rows[d]) in (bytes, tuple) for d in deals)
    got = emu.ok("crm.deal.get", {"id": deals[1]})
    assert (got["TITLE"], got["OPPORTUNITY"]) == ("Изменён", "12.50")
    # A user field added later reaches every stored deal (the store is changed record by record).
    emu.ok("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "MEMO", "USER_TYPE_ID": "string"}})
    assert not store._live and all("UF_CRM_MEMO" in store[d] for d in deals)
    assert emu.ok("crm.deal.list", {"filter": {"ID": deals[2]}, "select": ["UF_CRM_MEMO"]})[0][
        "UF_CRM_MEMO"
    ] in (
        None,
        "",
    )


def test_payments_are_packed_between_calls_and_keep_their_indexes(emu: Emu) -> None:
    deal = int(emu.ok("crm.deal.add", {"fields": {"TITLE": "Заказ", "OPPORTUNITY": 100}}))
    paid = [
        emu.ok("crm.item.payment.add", {"entityId": deal, "entityTypeId": 2, "fields": {"sum": s}})
        for s in (30, 70)
    ]
    emu.ok("sale.payment.update", {"id": paid[0], "fields": {"paid": "Y"}})
    table = emu.portal.table("payment")
    assert isinstance(table, IndexedTable) and not table._live
    assert all(type(v) in (bytes, tuple) for v in table._rows.values())
    assert table[int(paid[0])]["paid"] == "Y" and table[int(paid[1])]["paid"] == "N"
    listed = emu.ok("crm.item.payment.list", {"entityId": deal, "entityTypeId": 2})
    assert [int(p["id"]) for p in listed] == [int(p) for p in paid]
    assert table.index_state() == IndexedTable(PAYMENT_KEYS, dict(table)).index_state()


def test_crm_objects_product_rows_and_payments_are_stored_as_compressed_bytes(
    emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its first records (here 1 KB instead of 64) each store keeps one compressed bytes object per record,
    never a dict, and every answer is what it was."""
    monkeypatch.setattr(compact, "SAMPLE_BYTES", 1024)
    deals = []
    for n in range(12):
        deal = int(emu.ok("crm.deal.add", {"fields": {"TITLE": f"Заказ {n}", "OPPORTUNITY": 10 + n}}))
        rows = [{"PRODUCT_NAME": f"Профлист {k}", "PRICE": 10.5, "QUANTITY": k + 1} for k in range(3)]
        emu.ok("crm.deal.productrows.set", {"id": deal, "rows": rows})
        emu.ok("crm.item.payment.add", {"entityId": deal, "entityTypeId": 2, "fields": {"sum": 5 + n}})
        deals.append(deal)
    portal = emu.portal
    stores = [portal.entities["deal"], portal.product_rows, portal.table("payment")]
    for store in stores:
        assert isinstance(store, Table) and store._codec.zdict is not None
        assert {type(v) for v in store._rows.values()} == {bytes}, store
    got = emu.ok("crm.deal.get", {"id": deals[5]})
    assert (got["TITLE"], got["OPPORTUNITY"]) == ("Заказ 5", "63.00")  # the rows make the amount
    rows = emu.ok("crm.deal.productrows.get", {"id": deals[5]})
    assert [(r["PRODUCT_NAME"], r["PRICE"], r["QUANTITY"]) for r in rows] == [
        (f"Профлист {k}", 10.5, k + 1) for k in range(3)
    ]
    listed = emu.ok("crm.item.payment.list", {"entityId": deals[5], "entityTypeId": 2})
    assert [p["accountNumber"] for p in listed] == [f"{deals[5]}/1"]
    found = emu.ok("crm.deal.list", {"filter": {"TITLE": "Заказ 7"}, "select": ["ID"]})
    assert [int(d["ID"]) for d in found] == [deals[7]]
