"""The dataset generator: reproducible, realistic money flows, helpers that go through real posting."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

import pytest
from b24_1c_sandbox.dataset import generate, reference_scenario
from b24_1c_sandbox.onec.errors import ODataError
from b24_1c_sandbox.onec.infobase import Infobase
from b24_1c_sandbox.onec.registers import order_state

NOW = datetime(2025, 3, 14, 12, 0)


def _ib(profile: str = "ut11.5", orders: int = 400, seed: int = 11) -> Infobase:
    ib = Infobase(profile)
    ib.now = lambda: NOW
    generate(ib, orders, seed=seed, now=NOW)
    return ib


def test_same_seed_same_data() -> None:
    a, b = _ib(orders=60), _ib(orders=60)
    for entity in ("Document_ЗаказКлиента", "Document_ПоступлениеБезналичныхДенежныхСредств"):
        assert [(r["Ref_Key"], r["СуммаДокумента"], r["Posted"]) for r in a.all(entity)] == [
            (r["Ref_Key"], r["СуммаДокумента"], r["Posted"]) for r in b.all(entity)
        ]


def test_orders_money_and_goods_are_realistic() -> None:
    ib = _ib()
    orders = [o for o in ib.all("Document_ЗаказКлиента") if o["Posted"]]
    dates = [o["Date"] for o in ib.all("Document_ЗаказКлиента")]
    assert dates == sorted(dates) and dates[0] < "2018" and all(1 <= len(o["Товары"]) <= 10 for o in orders)
    states = [(float(o["СуммаДокумента"]), order_state(ib, o)) for o in orders]
    assert any(0 < s["Оплачено"] < total for total, s in states)  # partial payments
    assert any(s["Оплачено"] > total + 0.01 for total, s in states)  # over-paid
    assert any(0 < s["Отгружено"] < total for total, s in states)  # partial shipments
    receipts = ib.all("Document_ПоступлениеБезналичныхДенежныхСредств") + ib.all(
        "Document_ПриходныйКассовыйОрдер"
    )
    assert ib.all("Document_ПриходныйКассовыйОрдер")  # cash too
    assert any(not r["Posted"] and not r["DeletionMark"] for r in receipts)  # un-posted
    assert any(r["DeletionMark"] for r in receipts)  # marked for deletion
    assert ib.all("Document_СписаниеБезналичныхДенежныхСредств") or ib.all("Document_РасходныйКассовыйОрдер")
    per_order: defaultdict[str, int] = defaultdict(int)
    for r in receipts:
        per_order[r["РасшифровкаПлатежа"][0]["ОбъектРасчетов_Key"]] += 1
    assert max(per_order.values()) >= 3  # several partial payments per order
    deferred = [
        s for o in orders for s in o["ЭтапыГрафикаОплаты"] if s["ВариантОплаты"] == "КредитПослеОтгрузки"
    ]
    assert deferred and all(s["ДатаПлатежа"] > "2017" for s in deferred)
    assert ib.all("Document_СчетНаОплатуКлиенту")


def test_counterparties_look_like_real_ones() -> None:
    ib = _ib(orders=10)
    cps = ib.all("Catalog_Контрагенты")
    by_inn = Counter(c["ИНН"] for c in cps)
    kinds = Counter(c["ЮрФизЛицо"] for c in cps)
    assert kinds["ЮрЛицо"] and kinds["ФизЛицо"] and kinds["ИндивидуальныйПредприниматель"]
    names = Counter(c["Description"] for c in cps)
    assert any(n > 1 for n in names.values()) or any(n > 1 for n in by_inn.values())  # look-alikes


def test_inn_with_several_kpp_exists_for_some_seed() -> None:
    found = False
    for seed in range(1, 8):
        ib = Infobase()
        generate(ib, 0, seed=seed, now=NOW)
        groups = defaultdict(set)
        for c in ib.all("Catalog_Контрагенты"):
            if c["КПП"]:
                groups[c["ИНН"]].add(c["КПП"])
        found = found or any(len(k) > 1 for k in groups.values())
    assert found


def test_helpers_post_through_the_same_validation() -> None:
    ib = Infobase()
    ib.now = lambda: NOW
    refs = reference_scenario(ib)
    data = generate(ib, 5, seed=2, now=NOW, money=False)
    order = ib.get("Document_ЗаказКлиента", refs["order"])
    assert order is not None
    data.receipt(order, 5000, datetime(2024, 11, 20), cash=True)
    assert order_state(ib, order)["Оплачено"] == 15000
    data.shipment(order, 0.6, datetime(2024, 11, 21))
    assert order_state(ib, order)["Отгружено"] == 25000
    broken = {**order, "Контрагент_Key": "00000000-0000-0000-0000-000000000000"}
    with pytest.raises(ODataError) as caught:
        data.receipt(broken, 100, datetime(2024, 11, 22))
    assert caught.value.code == "-1" and "Контрагент" in caught.value.message
    data.unpost("Document_ПоступлениеБезналичныхДенежныхСредств", refs["receipt"])
    assert order_state(ib, order)["Оплачено"] == 5000
    data.repost("Document_ПоступлениеБезналичныхДенежныхСредств", refs["receipt"], 12000)
    assert order_state(ib, order)["Оплачено"] == 17000


def test_activity_simulates_new_and_edited_documents() -> None:
    ib = Infobase()
    ib.now = lambda: NOW
    data = generate(ib, 30, seed=4, now=NOW)
    before = {r["Ref_Key"]: r["DataVersion"] for r in ib.all("Document_ЗаказКлиента")}
    done = data.activity(12)
    after = {r["Ref_Key"]: r["DataVersion"] for r in ib.all("Document_ЗаказКлиента")}
    assert len(after) == len(before) + done["new"] and sum(done.values()) == 12
    assert done["new"] > 0 and done["edited"] > 0  # seed 4 draws both kinds of activity
    # every edit gives the order a new DataVersion; a payment is a new document and leaves the order's version alone
    assert sum(1 for k, v in before.items() if after[k] != v) == done["edited"]


@pytest.mark.parametrize("profile", ["ut11.4", "bp3.0"])
def test_other_profiles_generate_money_flows(profile: str) -> None:
    ib = _ib(profile, orders=80)
    receipts = ib.all(ib.config.roles["bank_receipt"])
    assert receipts and ib.all(ib.config.roles["shipment"])
    row = receipts[0]["РасшифровкаПлатежа"][0]
    assert ("Заказ_Type" in row) == (profile == "ut11.4") and ("СчетНаОплату_Key" in row) == (
        profile == "bp3.0"
    )


@pytest.mark.slow
def test_scales_to_100000_orders() -> None:
    ib = Infobase()
    generate(ib, 100_000, seed=1, now=NOW, money=False)
    assert len(ib.all("Document_ЗаказКлиента")) == 100_000
