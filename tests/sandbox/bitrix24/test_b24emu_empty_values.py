"""Empty fields as portals return them: "0" / "" in legacy crm.deal|company|contact get and list, never null for
the fields real captures show (sources in b24_1c_sandbox/bitrix24/entities.py EMPTY_AS)."""

from __future__ import annotations

from tests.sandbox.bitrix24.conftest import Emu

DEAL_EMPTY = {
    "COMPANY_ID": "0",
    "PROBABILITY": "0",
    "COMMENTS": "",
    "SOURCE_ID": "",
    "SOURCE_DESCRIPTION": "",
}


def test_a_deal_without_company_or_comment_reads_zero_and_empty_in_get_and_list(emu: Emu) -> None:
    deal = emu.ok("crm.deal.add", {"fields": {"TITLE": "Без компании"}})
    got = emu.ok("crm.deal.get", {"id": deal})
    assert {k: got[k] for k in DEAL_EMPTY} == DEAL_EMPTY
    assert got["LEAD_ID"] is None and got["ORIGIN_ID"] is None  # these stay null in the capture
    (listed,) = emu.ok("crm.deal.list", {"filter": {"ID": deal}, "select": ["*"]})
    assert {k: listed[k] for k in DEAL_EMPTY} == DEAL_EMPTY


def test_clearing_a_company_reads_zero_again(emu: Emu) -> None:
    company = emu.ok("crm.company.add", {"fields": {"TITLE": "Ромашка"}})
    deal = emu.ok("crm.deal.add", {"fields": {"TITLE": "С компанией", "COMPANY_ID": company}})
    assert emu.ok("crm.deal.get", {"id": deal})["COMPANY_ID"] == str(company)
    emu.ok("crm.deal.update", {"id": deal, "fields": {"COMPANY_ID": ""}})
    assert emu.ok("crm.deal.get", {"id": deal})["COMPANY_ID"] == "0"
    item = emu.ok("crm.item.get", {"entityTypeId": 2, "id": deal})["item"]
    assert item["companyId"] == 0  # crm.item types it


def test_a_company_without_comment_reads_empty(emu: Emu) -> None:
    company = emu.ok("crm.company.add", {"fields": {"TITLE": "Лютик"}})
    assert emu.ok("crm.company.get", {"id": company})["COMMENTS"] == ""


# The keys of the crm.company.get response in api-reference/crm/companies/crm-company-get.md, without the portal's
# own PARENT_ID_<n> and UF_CRM_<n>.
COMPANY_GET_KEYS = set(
    [
        "ID",
        "COMPANY_TYPE",
        "TITLE",
        "LOGO",
        "LEAD_ID",
        "HAS_PHONE",
        "HAS_EMAIL",
        "HAS_IMOL",
        "ASSIGNED_BY_ID",
        "CREATED_BY_ID",
        "MODIFY_BY_ID",
        "BANKING_DETAILS",
        "INDUSTRY",
        "REVENUE",
        "CURRENCY_ID",
        "EMPLOYEES",
        "COMMENTS",
        "DATE_CREATE",
        "DATE_MODIFY",
        "OPENED",
        "IS_MY_COMPANY",
        "ORIGINATOR_ID",
        "ORIGIN_ID",
        "ORIGIN_VERSION",
        "ADDRESS",
        "ADDRESS_2",
        "ADDRESS_CITY",
        "ADDRESS_POSTAL_CODE",
        "ADDRESS_REGION",
        "ADDRESS_PROVINCE",
        "ADDRESS_COUNTRY",
        "ADDRESS_COUNTRY_CODE",
        "ADDRESS_LOC_ADDR_ID",
        "ADDRESS_LEGAL",
        "REG_ADDRESS",
        "REG_ADDRESS_2",
        "REG_ADDRESS_CITY",
        "REG_ADDRESS_POSTAL_CODE",
        "REG_ADDRESS_REGION",
        "REG_ADDRESS_PROVINCE",
        "REG_ADDRESS_COUNTRY",
        "REG_ADDRESS_COUNTRY_CODE",
        "REG_ADDRESS_LOC_ADDR_ID",
        "UTM_SOURCE",
        "UTM_MEDIUM",
        "UTM_CAMPAIGN",
        "UTM_CONTENT",
        "UTM_TERM",
        "LAST_ACTIVITY_BY",
        "LAST_ACTIVITY_TIME",
        "LAST_COMMUNICATION_TIME",
    ]
)


def test_a_company_has_the_keys_of_the_captured_response(emu: Emu) -> None:
    company = emu.ok("crm.company.add", {"fields": {"TITLE": "Ромашка"}})
    got = emu.ok("crm.company.get", {"id": company})
    assert COMPANY_GET_KEYS - set(got) == set()
    assert got["HAS_IMOL"] == "N" and got["LOGO"] is None and got["REG_ADDRESS_CITY"] is None


def test_unset_user_fields_are_returned_empty_not_left_out(emu: Emu) -> None:
    emu.ok("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "PAID_AT", "USER_TYPE_ID": "date"}})
    emu.ok(
        "crm.deal.userfield.add",
        {"fields": {"FIELD_NAME": "TAGS", "USER_TYPE_ID": "string", "MULTIPLE": "Y"}},
    )
    deal = emu.ok("crm.deal.add", {"fields": {"TITLE": "Без полей"}})
    got = emu.ok("crm.deal.get", {"id": deal})
    assert got["UF_CRM_PAID_AT"] == "" and got["UF_CRM_TAGS"] == []
    (listed,) = emu.ok("crm.deal.list", {"filter": {"ID": deal}, "select": ["ID", "UF_*"]})
    assert listed["UF_CRM_PAID_AT"] == "" and listed["UF_CRM_TAGS"] == []


def test_payment_amounts_read_as_the_captures_show_them(emu: Emu) -> None:
    deal = emu.ok("crm.deal.add", {"fields": {"TITLE": "Оплата"}})
    payment = emu.ok("crm.item.payment.add", {"entityTypeId": 2, "entityId": deal})
    (short,) = emu.ok("crm.item.payment.list", {"entityTypeId": 2, "entityId": deal})
    assert short["sum"] == 0 and isinstance(short["sum"], int)
    emu.ok("sale.payment.update", {"id": payment, "fields": {"sum": 1176}})
    full = emu.ok("sale.payment.get", {"id": payment})["payment"]
    assert full["sum"] == 1176 and isinstance(full["sum"], int) and full["priceCod"] == "0.000000"
    emu.ok("sale.payment.update", {"id": payment, "fields": {"sum": "1176.5"}})
    assert emu.ok("sale.payment.get", {"id": payment})["payment"]["sum"] == 1176.5


def test_crm_item_gives_an_empty_company_or_contact_as_zero(emu: Emu) -> None:
    item = emu.ok("crm.item.add", {"entityTypeId": 31, "fields": {"title": "Счёт без клиента"}})["item"]
    assert item["companyId"] == 0 and item["contactId"] == 0  # crm-item-get.md capture: "companyId": 0
    (listed,) = emu.ok("crm.item.list", {"entityTypeId": 31, "filter": {"id": item["id"]}})["items"]
    assert listed["companyId"] == 0
