"""connector.contracts.check: what departs from the Bitrix24 contract in one call, and what does not."""

from __future__ import annotations

import pytest

from connector.contracts import load_bitrix24
from connector.contracts.check import check_call, type_ok


def problems(method: str, params: dict[str, object]) -> list[str]:
    return [str(p) for p in check_call(load_bitrix24(), method, params)]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("integer", "17"),
        ("crm_company", 9),
        ("crm_company", ""),
        ("double", "1500.50"),
        ("double", 12),
        ("char", "Y"),
        ("char", True),
        ("boolean", "true"),
        ("datetime", "2024-08-30T14:29:00+02:00"),
        ("date", "2024-08-30"),
        ("crm_contact[]", ["1", "2"]),
        ("string", "Ромашка"),
    ],
)
def test_values_a_portal_takes(kind: str, value: object) -> None:
    assert type_ok(kind, value)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("integer", "17a"),
        ("crm_company", "ООО"),
        ("double", "сто"),
        ("char", "maybe"),
        ("datetime", "30.08.2024"),
        ("string", {"a": 1}),
    ],
)
def test_values_a_portal_refuses(kind: str, value: object) -> None:
    assert not type_ok(kind, value)


def test_a_call_within_the_contract_has_no_problem() -> None:
    assert (
        problems(
            "crm.deal.list",
            {
                "filter": {
                    ">=DATE_MODIFY": "2024-01-01",
                    "@ORIGIN_ID": ["a"],
                    "!STAGE_ID": "WON",
                    "UF_CRM_X": "1",
                },
                "select": ["ID", "UF_*", "*"],
                "order": {"ID": "ASC"},
                "start": -1,
            },
        )
        == []
    )
    assert problems("user.get", {"ID": "1", "FILTER": {"ACTIVE": True}}) == []  # filter keys as parameters


def test_each_kind_of_departure_is_named() -> None:
    found = problems(
        "crm.deal.update",
        {"id": 1, "fields": {"OPPORTUNITY": "x", "NOPE": 1}, "params": {"SILENT": "Y"}, "extra": 1},
    )
    assert "crm.deal.update: type 'OPPORTUNITY' must be double, got 'x'" in found
    assert "crm.deal.update: field 'NOPE' is not a writable field of the method" in found
    assert "crm.deal.update: option 'SILENT' is not a documented key of params" in found
    assert any(p.startswith("crm.deal.update: param 'extra' is not a parameter") for p in found)
    assert problems("crm.deal.list", {"filter": {">=NOPE": 1}, "select": ["NAME"]}) == [
        "crm.deal.list: filter '>=NOPE' is not a documented filter name of the method",
        "crm.deal.list: select 'NAME' is not a documented select name of the method",
    ]
    assert problems("crm.deal.productrows.set", {"id": 1, "rows": [{"PRICE": 1, "COLOR": "red"}]}) == [
        "crm.deal.productrows.set: row 'rows[0].COLOR' is not a field of a row"
    ]
    assert problems("crm.deal.get", {"id": 1}) == [
        "crm.deal.get: method 'crm.deal.get' is not in the contract"
    ]


def test_crm_item_fields_are_those_of_the_entity_type() -> None:
    assert problems("crm.item.update", {"entityTypeId": 31, "id": 5, "fields": {"stageId": "DT31_3:P"}}) == []
    assert problems("crm.item.update", {"entityTypeId": 31, "id": 5, "fields": {"isMyCompany": "Y"}}) == [
        "crm.item.update: field 'isMyCompany' is not a writable field of the method"
    ]
