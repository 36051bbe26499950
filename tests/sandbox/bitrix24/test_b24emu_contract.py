"""The emulated portal is held to the Bitrix24 contract (connector/contracts/bitrix24.yaml): what a portal ignores
is ignored (and recorded), what it rejects is rejected with its error, and no handler is more lenient."""

from __future__ import annotations

from typing import Any

from b24_1c_sandbox.bitrix24.contract import mark, violations_since

from tests.sandbox.bitrix24.conftest import Emu


def _deal_with_payment(emu: Emu) -> tuple[int, int]:
    deal = emu.ok(
        "crm.deal.add", {"fields": {"TITLE": "Договор", "OPPORTUNITY": 25000, "CURRENCY_ID": "RUB"}}
    )
    payment = emu.ok("crm.item.payment.add", {"entityTypeId": 2, "entityId": deal})
    return int(deal), int(payment)


def _recorded(emu: Emu) -> list[str]:
    return [str(v) for v in emu.portal.violations]


def test_payment_update_ignores_sum_as_the_docs_restrict_it_and_records_the_violation(emu: Emu) -> None:
    _, payment = _deal_with_payment(emu)
    start = mark()
    assert emu.ok("crm.item.payment.update", {"id": payment, "fields": {"sum": 10000, "paid": "Y"}}) is True
    (row,) = emu.ok("crm.item.payment.list", {"entityTypeId": 2, "entityId": _owner(emu, payment)})
    assert (
        row["sum"] == 0 and row["paid"] == "Y"
    )  # paid applied, sum not: only paid and paySystemId are written
    found = [str(v) for v in violations_since(start)]
    assert found == ["crm.item.payment.update: field 'sum' is not a writable field of the method (ignored)"]


def _owner(emu: Emu, payment: int) -> int:
    return int(emu.portal.table("payment")[payment]["_owner"][1])


def test_a_field_the_method_does_not_write_is_dropped_before_the_handler(emu: Emu) -> None:
    deal = emu.ok("crm.deal.add", {"fields": {"TITLE": "A", "NO_SUCH_FIELD": "x", "UF_CRM_NOT_MADE": "1"}})
    stored = next(d for d in emu.portal.deals() if d["ID"] == str(deal))
    assert "NO_SUCH_FIELD" not in stored
    assert "crm.deal.add: field 'NO_SUCH_FIELD' is not a writable field of the method (ignored)" in _recorded(
        emu
    )
    assert not any("UF_CRM_NOT_MADE" in v for v in _recorded(emu))  # user fields are allowed by pattern


def test_a_parameter_the_method_does_not_take_is_ignored_and_recorded(emu: Emu) -> None:
    emu.ok("crm.deal.add", {"fields": {"TITLE": "B"}, "REGISTER_SONET_EVENT": "N"})
    assert any(v.startswith("crm.deal.add: param 'REGISTER_SONET_EVENT'") for v in _recorded(emu))
    emu.ok("crm.deal.add", {"fields": {"TITLE": "C"}, "params": {"REGISTER_SONET_EVENT": "N", "IMPORT": "Y"}})
    assert "crm.deal.add: option 'IMPORT' is not a documented key of params (ignored)" in _recorded(emu)


def test_a_value_of_the_wrong_type_is_rejected_with_the_family_error(emu: Emu) -> None:
    deal = emu.ok("crm.deal.add", {"fields": {"TITLE": "D", "OPPORTUNITY": 100}})
    status, body = emu.call("crm.deal.update", {"id": deal, "fields": {"OPPORTUNITY": "сто рублей"}})
    assert status == 400 and body["error"] == "" and "OPPORTUNITY" in body["error_description"]
    stored = next(d for d in emu.portal.deals() if d["ID"] == str(deal))
    assert stored["OPPORTUNITY"] == "100.00"  # nothing of the refused call was written
    status, body = emu.call(
        "crm.item.update", {"entityTypeId": 2, "id": deal, "fields": {"opportunity": "x"}}
    )
    assert status == 400 and body["error"] == "CRM_FIELD_ERROR_VALUE_NOT_VALID"
    status, body = emu.call("crm.deal.update", {"id": deal, "fields": {"IS_MANUAL_OPPORTUNITY": "maybe"}})
    assert status == 400


def test_inside_a_batch_each_command_is_held_to_the_contract(emu: Emu) -> None:
    _, payment = _deal_with_payment(emu)
    result: Any = emu.ok(
        "batch",
        {"halt": 0, "cmd": {"p": f"crm.item.payment.update?id={payment}&fields[sum]=5&fields[paid]=Y"}},
    )
    assert result["result"]["p"] is True
    assert emu.portal.table("payment")[payment]["sum"] == 0
    assert (
        "crm.item.payment.update: field 'sum' is not a writable field of the method (ignored)"
        in _recorded(emu)
    )


def test_a_method_outside_the_contract_is_served_and_recorded(emu: Emu) -> None:
    deal = emu.ok("crm.deal.add", {"fields": {"TITLE": "E"}})
    assert emu.ok("crm.deal.get", {"id": deal})["TITLE"] == "E"
    assert "crm.deal.get: method 'crm.deal.get' is not in the contract (served)" in _recorded(emu)


def test_calls_within_the_contract_record_nothing(emu: Emu) -> None:
    deal, payment = _deal_with_payment(emu)
    emu.ok(
        "crm.deal.update",
        {"id": deal, "fields": {"COMMENTS": "ok", "UF_CRM_X": "1"}, "params": {"REGISTER_SONET_EVENT": "N"}},
    )
    emu.ok(
        "crm.deal.list",
        {
            "filter": {">=DATE_MODIFY": "2024-01-01", "@ID": [deal]},
            "select": ["ID", "UF_*"],
            "order": {"ID": "ASC"},
        },
    )
    emu.ok("crm.item.payment.update", {"id": payment, "fields": {"paid": "Y", "paySystemId": 6}})
    assert _recorded(emu) == []


def test_a_contract_only_portal_answers_method_not_found_outside_the_contract(emu: Emu) -> None:
    deal = emu.ok("crm.deal.add", {"fields": {"TITLE": "F"}})
    emu.portal.settings.contract_only = True
    status, body = emu.call("crm.deal.get", {"id": deal})
    assert (status, body["error"]) == (404, "ERROR_METHOD_NOT_FOUND")
    assert emu.ok("crm.deal.list", {"filter": {"ID": deal}, "select": ["ID"]})[0]["ID"] == str(deal)
