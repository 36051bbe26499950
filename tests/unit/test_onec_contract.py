"""The 1C contract (connector/contracts/onec.yaml): it loads, sources every entry, covers every 1C object the
shipped mappings use, and `check_request` tells a request inside it from one outside."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.contracts import ContractError
from connector.contracts.onec import (
    RequestShape,
    check_request,
    filter_names,
    load_onec,
    onec_objects_for,
    parse,
)
from connector.mapping.schema import load_mappings
from connector.verify.requirements import onec_entities

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
ORDERS = "Document_ЗаказКлиента"


@pytest.mark.parametrize(("profile", "directory"), [("ut11.5", MAPPINGS), ("bp3.0", MAPPINGS / "bp30")])
def test_every_object_the_shipped_mappings_use_is_in_the_contract(profile: str, directory: Path) -> None:
    objects = set(onec_objects_for(profile))
    used = {entity for spec in load_mappings(directory).values() for entity in onec_entities(spec)}
    assert used, "the mappings name 1C objects"
    assert sorted(used - objects) == []


def test_every_property_a_mapping_reads_of_an_order_has_an_edm_type() -> None:
    order = load_onec().entity("ut11.5", ORDERS)
    assert order is not None
    assert order.properties["Ref_Key"] == "Edm.Guid"
    assert order.properties["Date"] == "Edm.DateTime"
    assert order.properties["СуммаДокумента"] == "Edm.Double"
    assert "Товары" in order.tables and order.functions == ("Post", "Unpost")


def test_profiles_differ_where_the_configurations_do() -> None:
    contract = load_onec()
    assert contract.entity("bp3.0", ORDERS) is None  # БП 3.0 has no customer order
    assert contract.entity("ut11.5", "Catalog_СтавкиНДС") is not None
    assert contract.entity("ut11.4", "Catalog_СтавкиНДС") is None  # УТ 11.4: the enum СтавкаНДС
    assert onec_objects_for("ut11.5", ["Document_"]) == [
        n for n in onec_objects_for("ut11.5") if n.startswith("Document_")
    ]
    with pytest.raises(ContractError, match="no profile 'ut9'"):
        onec_objects_for("ut9")


def test_every_entry_names_its_source() -> None:
    contract = load_onec()
    for objects in contract.profiles.values():
        for entity in objects.values():
            assert entity.source.startswith(("DOC §17.4", "metadata: ", "reference: "))
    assert {"Post", "Unpost", "SelectChanges"} <= set(contract.functions)
    assert set(contract.soap["CrmExchange"]["operations"]) == {"CreateOrder", "UpdateOrder", "GetOrderState"}


def test_filter_names_are_the_paths_heads() -> None:
    text = (
        "Контрагент_Key eq guid'0cc1a3f0-9a1b-11ef-8f2a-00155d0a1b01' and Date ge datetime'2025-01-01T00:00:00'"
        " and substringof('Description eq', Description) and Товары/any(d: d/Номенклатура_Key ne null)"
        " and Контрагент/ИНН eq '7701' and not Posted"
    )
    assert filter_names(text) == ["Контрагент_Key", "Date", "Description", "Товары", "Контрагент", "Posted"]


def test_a_request_inside_the_contract_has_no_problem() -> None:
    shape = RequestShape(
        ORDERS,
        select=["Ref_Key", "Контрагент/Description", "Товары"],
        filter=["Date", "Posted"],
        orderby=["Date"],
        expand=["Контрагент"],
        body=["Товары@odata.type", "Комментарий"],
    )
    assert check_request(load_onec(), "ut11.5", shape) == []


def test_a_request_outside_the_contract_is_named() -> None:
    contract = load_onec()
    problems = check_request(
        contract, "ut11.5", RequestShape(ORDERS, select=["Ответственный_Key"], body=["ДополнительныйСтатус"])
    )
    assert [(p.kind, p.name) for p in problems] == [
        ("select", "Ответственный_Key"),
        ("body", "ДополнительныйСтатус"),
    ]
    # declared by a profile extension file: allowed
    declared = check_request(
        contract, "ut11.5", RequestShape(ORDERS, body=["ДополнительныйСтатус"]), ["ДополнительныйСтатус"]
    )
    assert declared == []
    # the integration's own extension (CRM_ prefix): allowed by pattern on any object
    by_pattern = RequestShape(
        "Catalog_ДоговорыКонтрагентов", select=["CRM_ТипДоговора"], body=["CRM_Признак"]
    )
    assert check_request(contract, "ut11.5", by_pattern) == []
    assert [p.kind for p in check_request(contract, "bp3.0", RequestShape(ORDERS))] == ["entity"]
    post_a_catalog = check_request(contract, "ut11.5", RequestShape("Catalog_Контрагенты", function="Post"))
    assert [(p.kind, p.name) for p in post_a_catalog] == [("function", "Post")]
    section = check_request(contract, "ut11.5", RequestShape(ORDERS, section="Монтаж", select=["Работа"]))
    assert [p.kind for p in section] == ["section", "select"]
    rows = check_request(
        contract, "ut11.5", RequestShape(ORDERS, section="Товары", select=["Номенклатура_Key"])
    )
    assert rows == []


def test_a_malformed_contract_is_refused_naming_file_and_key() -> None:
    with pytest.raises(ContractError, match=r"x.yaml: profiles.ut.entities.Catalog_X: 'source' must start"):
        parse(
            "profiles:\n  ut:\n    entities:\n      Catalog_X: {source: 'my guess', properties: {}}\n",
            "x.yaml",
        )
    with pytest.raises(ContractError, match="needs 'unverified_note'"):
        parse(
            "profiles:\n  ut:\n    entities:\n      Catalog_X: {source: 'reference: x', unverified: true}\n",
            "x.yaml",
        )
    with pytest.raises(ContractError, match=r"functions: Post not in protocol\.functions"):
        parse(
            "profiles:\n  ut:\n    entities:\n      Catalog_X: {source: 'DOC §17.4', functions: [Post]}\n",
            "x.yaml",
        )


def test_the_money_documents_verify_expects_are_in_the_contract_of_their_profile() -> None:
    from connector.flows.money.bp_facts import BP_DOCS
    from connector.verify.requirements import MONEY_DOCS

    assert sorted(set(MONEY_DOCS) - set(onec_objects_for("ut11.5"))) == []
    assert sorted(set(BP_DOCS) - set(onec_objects_for("bp3.0"))) == []
