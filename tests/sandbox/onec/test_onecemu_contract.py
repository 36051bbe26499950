"""The 1C emulator checks each request it serves against connector/contracts/onec.yaml and records what is outside."""

from __future__ import annotations

import dataclasses

import pytest
from b24_1c_sandbox.onec import contract
from onecemu import OneC

from connector.contracts import onec as onec_contract

ORDERS = "Document_ЗаказКлиента"


def _recorded(start: int) -> list[str]:
    return [str(v) for v in contract.violations_since(start)]


def test_requests_inside_the_contract_record_nothing(onec: OneC) -> None:
    start = contract.mark()
    onec.json(ORDERS, **{"$select": "Ref_Key,Date,Товары", "$filter": "Posted eq true", "$orderby": "Date"})
    onec.json("Catalog_Контрагенты", **{"$top": "1"})
    assert _recorded(start) == []


def test_what_the_contract_lacks_is_recorded_while_the_base_still_serves_it(
    onec: OneC, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = onec_contract.load_onec()
    order = real.entity("ut11.5", ORDERS)
    assert order is not None
    narrowed = dataclasses.replace(
        order, properties={k: v for k, v in order.properties.items() if k != "Комментарий"}
    )
    profiles = {**real.profiles, "ut11.5": {**real.profiles["ut11.5"], ORDERS: narrowed}}
    monkeypatch.setattr(contract, "load_onec", lambda: dataclasses.replace(real, profiles=profiles))
    start = contract.mark()
    rows = onec.json(
        ORDERS, **{"$select": "Ref_Key,Комментарий", "$filter": "Комментарий ne ''", "$top": "1"}
    )
    assert "value" in rows  # served: the emulator's own rules answer, the contract only records
    recorded = _recorded(start)
    assert any("select 'Комментарий'" in v for v in recorded), recorded
    assert any("filter 'Комментарий'" in v for v in recorded), recorded


def test_an_unknown_function_and_body_property_are_recorded(onec: OneC) -> None:
    start = contract.mark()
    ref = onec.json("Catalog_Контрагенты", **{"$top": "1"})["value"][0]["Ref_Key"]
    onec.post(f"Catalog_Контрагенты(guid'{ref}')/Post")
    onec.patch(f"Catalog_Контрагенты(guid'{ref}')", {"Description": "x", "НетТакогоРеквизита": "1"})
    recorded = _recorded(start)
    assert any("function 'Post'" in v for v in recorded), recorded
    assert any("body 'НетТакогоРеквизита'" in v for v in recorded), recorded
    assert not any("'Description'" in v for v in recorded), recorded


def test_soap_calls_outside_the_contract_are_recorded(onec: OneC) -> None:
    envelope = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="urn:crm"><soap:Body>'
        "<m:{op}><m:OrderId>x</m:OrderId>{extra}</m:{op}></soap:Body></soap:Envelope>"
    )
    start = contract.mark()
    for op, extra in (("GetOrderState", ""), ("GetOrderState", "<m:Лишний>1</m:Лишний>"), ("DropOrder", "")):
        onec.session.post(
            onec.ws + "CrmExchange",
            data=envelope.format(op=op, extra=extra).encode(),
            headers={"Content-Type": "text/xml; charset=utf-8"},
            timeout=10,
        )
    recorded = _recorded(start)
    assert len(recorded) == 2, recorded
    assert "param 'Лишний'" in recorded[0] and "operation 'DropOrder'" in recorded[1]
