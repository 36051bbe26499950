"""The emulated portal keeps one object per repeated string of its stores (the external key's originator, a
currency, the same second's dates, a product name) however many records repeat it: a 100,000-order backfill
repeats them in every deal, row and payment (issue 13 goal 6)."""

from __future__ import annotations

from conftest import Emu


def test_repeated_strings_of_deals_rows_and_payments_are_one_object_each(emu: Emu) -> None:
    deals = []
    for n in range(12):
        fields = {
            "TITLE": f"Заказ {n}",
            "ORIGINATOR_ID": "1C-trade",
            "ORIGIN_ID": f"k{n}",
            "CURRENCY_ID": "EUR",
        }
        deal = emu.ok("crm.deal.add", {"fields": fields})
        emu.ok(
            "crm.deal.productrows.set", {"id": deal, "rows": [{"PRODUCT_NAME": "Профлист С8", "PRICE": 10}]}
        )
        emu.ok("crm.item.payment.add", {"entityId": deal, "entityTypeId": 2, "fields": {"sum": 5}})
        deals.append(int(deal))
    portal = emu.portal
    stored = [portal.entities["deal"][d] for d in deals]
    rows = [portal.product_rows[("D", d)][0] for d in deals]
    payments = list(portal.table("payment").values())
    assert len(payments) == 12
    # Each value came in a separate request (a fresh string each time); the store holds one object per value.
    assert len({id(d["ORIGINATOR_ID"]) for d in stored}) == 1
    assert len({id(d["CURRENCY_ID"]) for d in stored}) == 1
    assert len({id(d["DATE_CREATE"]) for d in stored}) == len({d["DATE_CREATE"] for d in stored})
    assert len({id(r["PRODUCT_NAME"]) for r in rows}) == 1
    assert len({id(p["dateBill"]) for p in payments}) == len({p["dateBill"] for p in payments})
