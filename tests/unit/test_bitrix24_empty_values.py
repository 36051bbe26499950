"""Bitrix24 reads empty fields back as "0" or "" (legacy get/list) and 0 (crm.item): the connector reads them as
none, so an object found by its key after a lost ledger is not rewritten for an empty company or comment."""

from __future__ import annotations

from connector.compare import changed_fields, read_value


def test_an_empty_link_read_as_zero_equals_writing_none() -> None:
    current = {"COMPANY_ID": "0", "CONTACT_ID": "17", "COMMENTS": "", "MOVED_BY_ID": "0", "SOURCE_ID": ""}
    wanted = {"COMPANY_ID": None, "CONTACT_ID": "17", "COMMENTS": None, "SOURCE_ID": None}
    assert changed_fields(current, wanted) == {}


def test_a_real_company_still_differs_from_none_and_from_another_company() -> None:
    assert changed_fields({"COMPANY_ID": "9"}, {"COMPANY_ID": None}) == {"COMPANY_ID": None}
    assert changed_fields({"COMPANY_ID": "0"}, {"COMPANY_ID": "9"}) == {"COMPANY_ID": "9"}


def test_crm_item_links_read_as_integer_zero_are_none() -> None:
    assert changed_fields({"companyId": 0, "mycompanyId": 0}, {"companyId": None, "mycompanyId": None}) == {}
    assert read_value("companyId", 0) is None
    assert read_value("opportunity", 0) == 0  # a zero amount is a value, not an empty link
    assert read_value("OPPORTUNITY", "0") == "0"
