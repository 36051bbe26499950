"""SOAP web services (reference checklist 28-29): 1C's WSDL shape, zeep unchanged, SOAP 1.1/1.2, faults."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import requests
import zeep
from onecemu import OneC, session
from zeep.transports import Transport

WSDL = "{http://schemas.xmlsoap.org/wsdl/}"


def _client(onec: OneC, name: str = "CrmExchange") -> tuple[zeep.Client, zeep.proxy.ServiceProxy]:
    client = zeep.Client(f"{onec.ws}{name}.1cws?wsdl", transport=Transport(session=onec.session))
    # The WSDL's address is the publication's configured host, unreachable from here: override it.
    service = client.create_service(f"{{{_ns(name)}}}{name}SoapBinding", f"{onec.ws}{name}.1cws")
    return client, service


def _ns(name: str) -> str:
    return "urn:crm" if name == "CrmExchange" else "http://www.1c.ru/SaaS/1.0/WS"


def test_wsdl_has_1c_shape_and_needs_auth(onec: OneC) -> None:
    assert requests.get(f"{onec.ws}CrmExchange.1cws?wsdl", timeout=10).status_code == 401
    text = onec.session.get(f"{onec.ws}CrmExchange?wsdl", timeout=10).text
    for prefix in (
        'xmlns:soapbind="http://schemas.xmlsoap.org/wsdl/soap/"',
        "xmlns:soap12bind=",
        'xmlns:xsd1="urn:crm"',
        'xmlns:tns="urn:crm"',
        'elementFormDefault="qualified"',
    ):
        assert prefix in text
    root = ET.fromstring(text)
    assert root.get("name") == "CrmExchange" and root.get("targetNamespace") == "urn:crm"
    messages = {m.get("name"): m.find(f"{WSDL}part").get("name") for m in root.iter(f"{WSDL}message")}  # type: ignore[union-attr]
    assert messages["GetOrderStateRequestMessage"] == "parameters"
    assert "CreateOrderResponseMessage" in messages
    assert [p.get("name") for p in root.iter(f"{WSDL}portType")] == ["CrmExchangePortType"]
    assert {b.get("name") for b in root.iter(f"{WSDL}binding")} == {
        "CrmExchangeSoapBinding",
        "CrmExchangeSoap12Binding",
    }
    assert 'soapAction="urn:crm#CrmExchange:GetOrderState"' in text
    ports = {p.get("name") for p in root.iter(f"{WSDL}port")}
    assert (
        ports == {"CrmExchangeSoap", "CrmExchangeSoap12"}
        and "http://srv-1c.local/ut/ws/CrmExchange.1cws" in text
    )
    assert '<xs:element name="return"' in text


def test_zeep_reads_order_state_through_a_requests_session(onec: OneC) -> None:
    _, service = _client(onec)
    state = json.loads(service.GetOrderState(OrderId=onec.refs["order"]))
    assert (state["Статус"], state["Оплачено"], state["Отгружено"]) == ("КОтгрузке", 10000, 10000)
    assert state["СуммаДокумента"] == 25000


def test_create_order_is_idempotent_by_key(onec: OneC) -> None:
    _, service = _client(onec)
    order = {
        "Контрагент_Key": onec.refs["counterparty"],
        "НомерПоДаннымКлиента": "B24-9001",
        "Товары": [{"Номенклатура_Key": onec.refs["product_a"], "Количество": 2, "Цена": 1500}],
    }
    before = len(onec.ib.all("Document_ЗаказКлиента"))
    first = json.loads(service.CreateOrder(IdempotencyKey="deal-9001", OrderJson=json.dumps(order)))
    second = json.loads(service.CreateOrder(IdempotencyKey="deal-9001", OrderJson=json.dumps(order)))
    assert first["Создан"] is True and second["Создан"] is False and first["Ref_Key"] == second["Ref_Key"]
    assert len(onec.ib.all("Document_ЗаказКлиента")) == before + 1
    stored = onec.json(f"Document_ЗаказКлиента(guid'{first['Ref_Key']}')")
    assert (
        stored["Posted"] is True
        and stored["СуммаДокумента"] == 3000
        and stored["Партнер_Key"] == onec.refs["partner"]
    )
    changed = json.loads(
        service.UpdateOrder(
            OrderId=first["Ref_Key"],
            OrderJson=json.dumps(
                {"Товары": [{"Номенклатура_Key": onec.refs["product_a"], "Количество": 4, "Цена": 1500}]}
            ),
        )
    )
    assert changed["СуммаДокумента"] == 6000


def test_faults_are_http_500_with_russian_text(onec: OneC) -> None:
    _, service = _client(onec)
    before = len(onec.ib.all("Document_ЗаказКлиента"))
    with pytest.raises(zeep.exceptions.Fault) as caught:
        service.CreateOrder(IdempotencyKey="deal-1", OrderJson=json.dumps({"Товары": []}))
    assert "Не удалось провести" in caught.value.message and "Контрагент" in caught.value.message
    assert len(onec.ib.all("Document_ЗаказКлиента")) == before  # the transaction left nothing behind
    with pytest.raises(zeep.exceptions.Fault, match="Заказ клиента не найден"):
        service.GetOrderState(OrderId="0cc1a3f0-9a1b-11ef-8f2a-00155d0a1bff")
    raw = onec.session.post(
        f"{onec.ws}CrmExchange.1cws", data=b"<oops", headers={"Content-Type": "text/xml"}, timeout=10
    )
    assert raw.status_code == 500 and b"faultstring" in raw.content


def test_soap_12_request_gets_an_m_prefixed_soap_12_answer(onec: OneC) -> None:
    body = (
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:crm="urn:crm"><soap:Body>'
        f"<crm:GetOrderState><crm:OrderId>{onec.refs['order']}</crm:OrderId></crm:GetOrderState>"
        "</soap:Body></soap:Envelope>"
    )
    resp = onec.session.post(
        f"{onec.ws}CrmExchange.1cws",
        data=body.encode(),
        timeout=10,
        headers={
            "Content-Type": 'application/soap+xml; charset=utf-8; action="urn:crm#CrmExchange:GetOrderState"'
        },
    )
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/soap+xml")
    assert '<m:GetOrderStateResponse xmlns:m="urn:crm"><m:return' in resp.text
    soap11 = body.replace(
        "http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/"
    )
    old = onec.session.post(
        f"{onec.ws}CrmExchange.1cws",
        data=soap11.encode(),
        timeout=10,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '"urn:crm#CrmExchange:GetOrderState"',
        },
    )
    assert old.status_code == 200 and "schemas.xmlsoap.org/soap/envelope" in old.text


def test_interface_version_get_versions(onec: OneC) -> None:
    _, service = _client(onec, "InterfaceVersion")
    assert list(service.GetVersions(InterfaceName="CrmExchange")) == ["1.0.0.1", "1.1.0.1"]
    assert not service.GetVersions(InterfaceName="Нет")


def test_cyrillic_user_reaches_soap(onec: OneC) -> None:
    onec.ib.users["Обмен с CRM"] = "пароль"
    resp = session("Обмен с CRM", "пароль").get(f"{onec.ws}InterfaceVersion.1cws?wsdl", timeout=10)
    assert resp.status_code == 200 and "GetVersionsRequestMessage" in resp.text
