"""What `b24-1c verify` asks of each system, derived from the contract and narrowed by each mapping's options."""

from __future__ import annotations

import socket
from pathlib import Path

import requests

from connector.mapping.schema import load_mappings
from connector.verify.requirements import SETUP, VERIFY, bitrix24_needs, onec_entities
from connector.verify.transport import origin, plain_reason

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ["managers", "counterparties", "orders", "money", "deals_to_orders", "invoices"]


def test_each_flow_needs_the_scopes_and_rights_the_contract_gives() -> None:
    shipped = load_mappings(ROOT / "mappings", FLOWS)
    needs = bitrix24_needs(shipped[f] for f in FLOWS)  # as verify passes them: the configured flows
    scopes = {flow: {n.scope for n in found} - {"basic"} for flow, found in needs.items()}
    assert scopes["managers"] == {"user"}
    assert scopes["money"] == {"crm", "sale", "task"}
    assert scopes["orders"] == {"crm"}
    admin = {flow: sorted(n.method for n in found if n.admin) for flow, found in needs.items()}
    assert admin["money"] == ["sale.payment.list", "sale.payment.update"]
    assert admin[SETUP] == ["crm.deal.userfield.add", "crm.status.add"]
    # A flow writing company fields (rollups) makes setup need crm.company.userfield.add, an administrator's too.
    with_rollups = bitrix24_needs(shipped[f] for f in [*FLOWS, "rollups"])
    assert sorted(n.method for n in with_rollups[SETUP] if n.admin) == [
        "crm.company.userfield.add",
        "crm.deal.userfield.add",
        "crm.status.add",
    ]
    assert "crm.company.userfield.list" in {n.method for n in with_rollups[VERIFY]}
    assert "crm.company.userfield.list" not in {n.method for n in needs[VERIFY]}
    assert {"scope", "user.admin", "server.time", "method.get"} <= {n.method for n in needs[VERIFY]}
    assert all(n.doc.endswith(".md") for found in needs.values() for n in found)


def test_a_mappings_options_narrow_its_method_list() -> None:
    specs = load_mappings(ROOT / "mappings", FLOWS)
    money = specs["money"]
    full = {n.method for n in bitrix24_needs([money])["money"]}
    assert {"crm.activity.todo.add", "tasks.task.add", "sale.payment.update"} <= full
    assert "crm.item.add" not in full  # a smart process is not used with native payments
    money.money.reminder = None  # type: ignore[union-attr]
    money.money.overdue = None  # type: ignore[union-attr]
    money.money.payments.mode = "none"  # type: ignore[union-attr]
    narrow = {n.method for n in bitrix24_needs([money])["money"]}
    assert not {m for m in narrow if m.startswith(("crm.activity.", "tasks.", "sale.", "crm.item."))}
    assert {"crm.deal.list", "crm.deal.update"} <= narrow


def test_1c_objects_are_named_with_the_mapping_key_that_uses_them() -> None:
    from connector.mapping.client import NewClient

    specs = load_mappings(ROOT / "mappings", FLOWS)
    expected = {
        "Document_ЗаказКлиента": "target.entity",
        "Catalog_Валюты": "target.refs.Валюта_Key.entity",
        "Catalog_Номенклатура": "target.refs.Номенклатура_Key.entity",
        "Catalog_СтавкиНДС": "target.refs.СтавкаНДС_Key.entity",
        "Catalog_УпаковкиЕдиницыИзмерения": "target.refs.Упаковка_Key.entity",
        "Catalog_Контрагенты": "target.derive.Партнер_Key.entity",
        "Catalog_Организации": "target.defaults.Организация_Key.entity",
    }
    plain = specs["deals_to_orders"].model_copy(
        update={"target": specs["deals_to_orders"].target.model_copy(update={"client": None})}
    )
    assert onec_entities(plain) == expected
    making = plain.model_copy(
        update={"target": plain.target.model_copy(update={"client": NewClient(entity="Catalog_Клиенты")})}
    )
    assert onec_entities(making) == {
        **expected,
        "Catalog_Клиенты": "target.client.entity",
        "Catalog_Партнеры": "target.client.partner",
    }
    money = onec_entities(specs["money"])
    assert money["Document_ЗаказКлиента"] == "source.entity"
    assert money["Document_РеализацияТоваровУслуг"] == "money"


def test_connection_failures_get_a_plain_reason_and_messages_show_only_the_host() -> None:
    refused = requests.ConnectionError(ConnectionRefusedError(111, "Connection refused"))
    assert plain_reason(refused).startswith("connection refused")
    unknown = requests.ConnectionError(socket.gaierror(-2, "Name or service not known"))
    assert plain_reason(unknown) == "the host name does not resolve"
    assert plain_reason(requests.ConnectTimeout("x")).startswith("no connection within 3 s")
    assert plain_reason(requests.ReadTimeout("x")) == "connected, but no answer in time"
    assert origin("https://portal.example/rest/1/secretcode/") == "https://portal.example"
    assert origin("http://127.0.0.1:8025/ut/odata/standard.odata/") == "http://127.0.0.1:8025"


def test_the_attributes_a_new_client_is_written_through_must_exist_in_1c() -> None:
    from types import SimpleNamespace

    from connector.mapping.client import NewClient
    from connector.onec.metadata import EntityInfo
    from connector.verify.base import _client_properties
    from connector.verify.report import Checklist

    spec = load_mappings(ROOT / "mappings", FLOWS)["deals_to_orders"]
    spec = spec.model_copy(update={"target": spec.target.model_copy(update={"client": NewClient()})})
    counterparty = EntityInfo(
        "Catalog_Контрагенты", {"Комментарий": "Edm.String", "Партнер_Key": "Edm.Guid"}, {"Контакты": {}}
    )
    partner = EntityInfo("Catalog_Партнеры", {"Комментарий": "Edm.String"})
    fake = SimpleNamespace(metadata=SimpleNamespace(entities={e.name: e for e in (counterparty, partner)}))
    out = Checklist()
    _client_properties(fake, spec, "d.yaml", {"Catalog_Контрагенты", "Catalog_Партнеры"}, out)  # type: ignore[arg-type]
    assert [i.line() for i in out.problems] == [
        "[FIX] d.yaml: target.client.legal_form: 1C Catalog_Контрагенты has no property 'ЮрФизЛицо'",
        "[FIX] d.yaml: target.client.contacts: 1C Catalog_Контрагенты has no tabular section 'КонтактнаяИнформация'",
    ]
