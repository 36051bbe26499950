"""Settlement movements, virtual tables and the exchange plan (reference checklist 17, 27; §10 derived state)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from onecemu import OneC, error_of

REG = "AccumulationRegister_РасчетыСКлиентами"
ATOM = "{http://www.w3.org/2005/Atom}"
TOMB = "{http://purl.org/atompub/tombstones/1.0}"


def _turnovers(onec: OneC) -> dict[str, Any]:
    cond = f"ОбъектРасчетов_Key eq guid'{onec.refs['settlement']}'"
    rows = onec.json(f"{REG}/Turnovers(Condition='{cond}',Dimensions='ОбъектРасчетов')")["value"]
    assert len(rows) <= 1
    return rows[0] if rows else {}


def test_reference_scenario_paid_and_shipped_from_turnovers(onec: OneC) -> None:
    row = _turnovers(onec)
    assert row["ОбъектРасчетов_Key"] == onec.refs["settlement"]
    assert (row["КОплатеReceipt"], row["КОплатеExpense"], row["КОтгрузкеExpense"]) == (25000, 10000, 10000)
    cond = f"ОбъектРасчетов_Key eq guid''{onec.refs['settlement']}''"  # the OData-standard doubled form
    balance = onec.json(f"{REG}/Balance(Period=datetime'2024-12-31T00:00:00',Condition='{cond}')")["value"]
    assert balance[0]["КОплатеBalance"] == 15000 and balance[0]["КОтгрузкеBalance"] == 15000
    assert balance[0]["СуммаBalance"] == 0  # shipped 10 000, paid 10 000: no debt, no prepayment
    early = onec.json(f"{REG}/Balance(Period=datetime'2024-11-06T00:00:00',Condition='{cond}')")["value"]
    assert early[0]["КОплатеBalance"] == 25000


def test_unpost_removes_and_repost_rebuilds_movements(onec: OneC) -> None:
    entity = "Document_ПоступлениеБезналичныхДенежныхСредств"
    onec.data.repost(entity, onec.refs["receipt"], 12000)
    assert _turnovers(onec)["КОплатеExpense"] == 12000
    assert onec.post(f"{entity}(guid'{onec.refs['receipt']}')/Unpost").status_code == 200
    assert _turnovers(onec)["КОплатеExpense"] == 0
    records = onec.json(
        f"{REG}_RecordType", **{"$filter": f"Recorder eq cast(guid'{onec.refs['receipt']}','{entity}')"}
    )["value"]
    assert records == []
    plain = onec.json(f"{REG}_RecordType", **{"$filter": f"Recorder eq guid'{onec.refs['shipment']}'"})[
        "value"
    ]
    assert plain == []  # composite without cast() silently matches nothing, as in 1C


def test_refund_reduces_paid_and_register_sets_are_readable(onec: OneC) -> None:
    order = onec.ib.get("Document_ЗаказКлиента", onec.refs["order"])
    assert order is not None
    refund = onec.data.refund(order, 3000, datetime(2024, 11, 20, 9, 0), cash=True)
    assert _turnovers(onec)["КОплатеExpense"] == 7000
    sets = onec.json(REG)["value"]
    mine = next(s for s in sets if s["Recorder"] == refund["Ref_Key"])
    assert mine["Recorder_Type"] == "StandardODATA.Document_РасходныйКассовыйОрдер"
    assert mine["RecordSet"][0]["RecordType"] == "Expense" and mine["RecordSet"][0]["КОплате"] == -3000
    shipment = f"cast(guid'{onec.refs['shipment']}','Document_РеализацияТоваровУслуг')"
    flat = onec.json(f"{REG}_RecordType", **{"$filter": f"Recorder eq {shipment}"})["value"]
    assert {r["RecordType"] for r in flat} == {"Receipt", "Expense"} and all(r["LineNumber"] for r in flat)


def test_balance_and_turnovers_columns(onec: OneC) -> None:
    cond = f"ОбъектРасчетов_Key eq guid'{onec.refs['settlement']}'"
    row = onec.json(
        f"{REG}/BalanceAndTurnovers(StartPeriod=datetime'2024-11-06T00:00:00',"
        f"EndPeriod=datetime'2024-12-31T00:00:00',Condition='{cond}',Dimensions='ОбъектРасчетов')"
    )["value"][0]
    assert row["КОплатеOpeningBalance"] == 25000 and row["КОплатеClosingBalance"] == 15000
    assert error_of(onec.get(f"{REG}/Остатки()", **{"$format": "json"}))[0] == 400


def _node(onec: OneC) -> str:
    created = onec.post("ExchangePlan_ДляCRM", {"Code": "CRM", "Description": "Битрикс24"})
    assert created.status_code == 201
    return f"{onec.root}ExchangePlan_ДляCRM(guid'{created.json()['Ref_Key']}')"


def test_exchange_plan_registers_writes_and_deletions(onec: OneC) -> None:
    point = _node(onec)
    key = f"Document_ЗаказКлиента(guid'{onec.refs['order']}')"
    onec.patch(key, {"Комментарий": "изменено"})
    victim = onec.data.order(datetime(2025, 3, 1, 10, 0))
    onec.session.delete(onec.root + f"Document_ЗаказКлиента(guid'{victim['Ref_Key']}')", timeout=10)
    feed = onec.session.post(
        onec.root + "SelectChanges",
        params={"DataExchangePoint": f"'{point}'", "MessageNo": "1", "$top": "1"},
        timeout=10,
    )
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)
    ids = [e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")]
    assert any(i and i.endswith(key) for i in ids) and len(ids) > 1  # $top ignored
    tombs = [t.get("ref") for t in root.findall(f"{TOMB}deleted-entry")]
    assert any(victim["Ref_Key"] in (t or "") for t in tombs)
    again = onec.post("SelectChanges", DataExchangePoint=f"'{point}'", MessageNo="1").json()["value"]
    assert {"odata.id": next(t for t in tombs if t), "odata.deleted": True} in again
    assert (
        onec.post("NotifyChangesReceived", DataExchangePoint=f"'{point}'", MessageNo="1").status_code == 200
    )
    assert onec.post("SelectChanges", DataExchangePoint=f"'{point}'", MessageNo="2").json()["value"] == []
    node = onec.json("ExchangePlan_ДляCRM", **{"$filter": "Code eq 'CRM'"})["value"][0]
    assert (node["SentNo"], node["ReceivedNo"]) == ("2", "1")
    onec.patch(key, {"Комментарий": "ещё раз"})
    fresh = onec.post("SelectChanges", DataExchangePoint=f"'{point}'", MessageNo="3").json()["value"]
    assert [v["odata.id"].endswith(key) for v in fresh] == [True]
    assert fresh[0]["odata.type"] == "StandardODATA.Document_ЗаказКлиента"


def test_select_changes_needs_post_and_a_known_node(onec: OneC) -> None:
    assert error_of(onec.get("SelectChanges", **{"$format": "json"}))[:2] == (405, "19")
    bad = f"'{onec.root}ExchangePlan_ДляCRM(guid'0cc1a3f0-9a1b-11ef-8f2a-00155d0a1bff')'"
    assert error_of(onec.post("SelectChanges", DataExchangePoint=bad, MessageNo="1"))[:2] == (404, "9")
