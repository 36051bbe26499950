"""Issue 3, point 7: crm.deal.* legacy semantics, crm.item.* views of the same store, stages, product rows."""

from __future__ import annotations

from conftest import Emu


def test_legacy_deal_strings_origin_and_immutable_category(emu: Emu) -> None:
    deal_id = emu.ok(
        "crm.deal.add",
        {
            "fields": {
                "TITLE": "Заказ",
                "OPPORTUNITY": 1500.5,
                "CATEGORY_ID": 1,
                "ORIGINATOR_ID": "1C",
                "ORIGIN_ID": "guid-1",
                "CONTACT_IDS": [3, 4],
                "NOT_A_FIELD": "x",
            }
        },
    )
    assert isinstance(deal_id, int)
    deal = emu.ok("crm.deal.get", {"id": deal_id})
    assert deal["ID"] == str(deal_id) and deal["OPPORTUNITY"] == "1500.50" and deal["CATEGORY_ID"] == "1"
    assert (
        deal["STAGE_ID"] == "C1:NEW" and deal["STAGE_SEMANTIC_ID"] == "P" and deal["COMPANY_ID"] == "0"
    )  # empty ids read back "0" (EMPTY_AS)
    assert "CONTACT_IDS" not in deal and "NOT_A_FIELD" not in deal and deal["ORIGIN_ID"] == "guid-1"
    assert (
        emu.ok("crm.deal.update", {"id": deal_id, "fields": {"CATEGORY_ID": 0, "STAGE_ID": "C1:WON"}}) is True
    )
    deal = emu.ok("crm.deal.get", {"id": deal_id})
    assert deal["CATEGORY_ID"] == "1" and deal["STAGE_ID"] == "C1:WON" and deal["CLOSED"] == "Y"
    assert deal["STAGE_SEMANTIC_ID"] == "S"
    assert [c["CONTACT_ID"] for c in emu.ok("crm.deal.contact.items.get", {"id": deal_id})] == [3, 4]
    assert emu.ok("crm.deal.delete", {"id": deal_id}) is True
    assert emu.call("crm.deal.get", {"id": deal_id})[1]["error_description"] == "Not found"


def test_crm_item_2_and_crm_deal_are_the_same_objects(emu: Emu) -> None:
    item = emu.ok(
        "crm.item.add",
        {
            "entityTypeId": 2,
            "fields": {"title": "Из item", "opportunity": 99.9, "originId": "g", "contactIds": [7]},
        },
    )["item"]
    assert item["id"] == 1 and item["opportunity"] == 99.9 and item["assignedById"] == 1
    legacy = emu.ok("crm.deal.get", {"id": 1})
    assert legacy["TITLE"] == "Из item" and legacy["OPPORTUNITY"] == "99.90" and legacy["ORIGIN_ID"] == "g"
    emu.ok("crm.deal.update", {"id": 1, "fields": {"TITLE": "Из legacy"}})
    assert emu.ok("crm.item.get", {"entityTypeId": 2, "id": 1})["item"]["title"] == "Из legacy"
    moved = emu.ok("crm.item.update", {"entityTypeId": 2, "id": 1, "fields": {"categoryId": 1}})["item"]
    assert moved["categoryId"] == 1 and moved["stageId"] == "C1:NEW"  # category changes only via crm.item
    assert moved["contactIds"] == [7] and len(emu.portal.deals()) == 1
    listed = emu.ok(
        "crm.item.list", {"entityTypeId": 2, "filter": {"=originId": "g"}, "select": ["id", "title"]}
    )
    assert listed == {"items": [{"id": 1, "title": "Из legacy"}]}


def test_deal_fields_and_userfields_are_stored_and_returned(emu: Emu) -> None:
    assert (
        emu.ok(
            "crm.deal.userfield.add",
            {"fields": {"FIELD_NAME": "paid_date", "USER_TYPE_ID": "date", "LABEL": "Дата оплаты"}},
        )
        > 0
    )
    emu.ok(
        "crm.deal.userfield.add",
        {"fields": {"FIELD_NAME": "UF_CRM_TAGS", "USER_TYPE_ID": "string", "MULTIPLE": "Y"}},
    )
    emu.ok(
        "crm.deal.userfield.add",
        {
            "fields": {
                "FIELD_NAME": "KIND",
                "USER_TYPE_ID": "enumeration",
                "LIST": [{"VALUE": "Опт"}, {"VALUE": "Розница"}],
            }
        },
    )
    long_name = {"FIELD_NAME": "X" * 50, "USER_TYPE_ID": "string"}
    assert emu.call("crm.deal.userfield.add", {"fields": long_name})[1]["error"] == "ERROR_CORE"
    assert emu.call("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "NO_TYPE"}})[1]["error"] == ""
    assert (
        emu.call("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "PAID_DATE", "USER_TYPE_ID": "date"}})[
            1
        ]["error"]
        == "ERROR_CORE"
    )
    names = [r["FIELD_NAME"] for r in emu.ok("crm.deal.userfield.list", {})]
    assert names == ["UF_CRM_PAID_DATE", "UF_CRM_TAGS", "UF_CRM_KIND"]
    fields = emu.ok("crm.deal.fields")
    assert fields["UF_CRM_TAGS"]["isMultiple"] is True and fields["UF_CRM_PAID_DATE"]["isDynamic"] is True
    assert fields["CATEGORY_ID"]["isImmutable"] is True and fields["STAGE_ID"]["statusType"] == "DEAL_STAGE"
    option = fields["UF_CRM_KIND"]["items"][1]["ID"]
    emu.ok(
        "crm.deal.add",
        {"fields": {"UF_CRM_PAID_DATE": "2026-03-05", "UF_CRM_TAGS": ["a", "b"], "UF_CRM_KIND": option}},
    )
    deal = emu.ok("crm.deal.get", {"id": 1})
    assert deal["UF_CRM_PAID_DATE"] == "2026-03-05T03:00:00+03:00"
    assert deal["UF_CRM_TAGS"] == ["a", "b"] and deal["UF_CRM_KIND"] == option
    item = emu.ok("crm.item.get", {"entityTypeId": 2, "id": 1})["item"]
    assert item["ufCrm_TAGS"] == ["a", "b"]
    original = emu.ok("crm.item.get", {"entityTypeId": 2, "id": 1, "useOriginalUfNames": "Y"})["item"]
    assert original["UF_CRM_TAGS"] == ["a", "b"]
    assert "ufCrm_TAGS" in emu.ok("crm.item.fields", {"entityTypeId": 2})["fields"]


def test_product_rows_replace_all_and_recompute_opportunity(emu: Emu) -> None:
    emu.ok("crm.deal.add", {"fields": {"TITLE": "с товарами"}})
    rows = [
        {"PRODUCT_NAME": "Кабель", "PRICE": 100, "QUANTITY": 3},
        {"PRODUCT_NAME": "Розетка", "PRICE": 50.5},
    ]
    assert emu.ok("crm.deal.productrows.set", {"id": 1, "rows": rows}) is True
    got = emu.ok("crm.deal.productrows.get", {"id": 1})
    assert [(r["PRODUCT_NAME"], r["QUANTITY"], r["OWNER_TYPE"]) for r in got] == [
        ("Кабель", 3, "D"),
        ("Розетка", 1, "D"),
    ]
    assert isinstance(got[0]["ID"], str) and got[0]["PRICE"] == 100 and got[0]["PRICE_ACCOUNT"] == "100.00"
    assert emu.ok("crm.deal.get", {"id": 1})["OPPORTUNITY"] == "350.50"
    emu.ok("crm.deal.productrows.set", {"id": 1, "rows": [rows[1]]})
    assert len(emu.ok("crm.deal.productrows.get", {"id": 1})) == 1
    assert emu.ok("crm.deal.get", {"id": 1})["OPPORTUNITY"] == "50.50"
    emu.ok("crm.deal.update", {"id": 1, "fields": {"IS_MANUAL_OPPORTUNITY": "Y", "OPPORTUNITY": 7}})
    emu.ok("crm.deal.productrows.set", {"id": 1, "rows": rows})
    assert emu.ok("crm.deal.get", {"id": 1})["OPPORTUNITY"] == "7.00"


def test_categories_and_stage_directories(emu: Emu) -> None:
    cats = emu.ok("crm.category.list", {"entityTypeId": 2})["categories"]
    assert {c["id"]: c["isDefault"] for c in cats} == {0: "Y", 1: "N"}
    stages = emu.ok("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}, "order": {"SORT": "ASC"}})
    assert [s["STATUS_ID"] for s in stages] == [
        "NEW",
        "PREPARATION",
        "PREPAYMENT_INVOICE",
        "EXECUTING",
        "FINAL_INVOICE",
        "WON",
        "LOSE",
        "APOLOGY",
    ]
    assert stages[0]["EXTRA"] == {"SEMANTICS": "process", "COLOR": "#39A8EF"}
    assert (
        next(s["STATUS_ID"] for s in emu.ok("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE_1"}}))
        == "C1:NEW"
    )
    invoice = emu.ok("crm.status.list", {"filter": {"ENTITY_ID": "SMART_INVOICE_STAGE_3"}})
    assert {s["STATUS_ID"]: s["EXTRA"]["SEMANTICS"] for s in invoice} == {
        "DT31_3:N": "process",
        "DT31_3:S": "process",
        "DT31_3:P": "success",
        "DT31_3:D": "failure",
    }


def test_smart_invoice_and_smart_process_items(emu: Emu) -> None:
    emu.ok("crm.deal.add", {"fields": {"TITLE": "сделка"}})
    invoice = emu.ok(
        "crm.item.add",
        {
            "entityTypeId": 31,
            "fields": {
                "title": "Счёт 1",
                "parentId2": 1,
                "opportunity": 1200,
                "accountNumber": "СЧ-1",
                "xmlId": "1c-guid",
                "closedate": "2026-02-01",
                "mycompanyId": 1,
            },
        },
    )["item"]
    assert invoice["parentId2"] == 1 and invoice["stageId"] == "DT31_3:N" and invoice["entityTypeId"] == 31
    assert invoice["closedate"] == "2026-02-01T03:00:00+03:00" and invoice["mycompanyId"] == 1
    paid = emu.ok(
        "crm.item.update", {"entityTypeId": 31, "id": invoice["id"], "fields": {"stageId": "DT31_3:P"}}
    )
    assert paid["item"]["stageSemanticId"] == "S" and paid["item"]["previousStageId"] == "DT31_3:N"
    found = emu.ok("crm.item.list", {"entityTypeId": 31, "filter": {"=parentId2": 1, ">=opportunity": 1000}})
    assert [i["accountNumber"] for i in found["items"]] == ["СЧ-1"]
    assert (
        emu.call("crm.item.list", {"entityTypeId": 31, "filter": {"NOPE": 1}})[1]["error"]
        == "INVALID_ARG_VALUE"
    )
    spa = emu.ok("crm.item.add", {"entityTypeId": 1038, "fields": {"title": "Отгрузка", "parentId2": 1}})[
        "item"
    ]
    assert spa["stageId"] == "DT1038_5:NEW" and spa["categoryId"] == 5
    assert emu.ok("crm.item.delete", {"entityTypeId": 1038, "id": spa["id"]}) == []
    assert emu.call("crm.item.list", {"entityTypeId": 4242})[1]["error"] == "NOT_FOUND"


def test_item_productrows(emu: Emu) -> None:
    invoice = emu.ok("crm.item.add", {"entityTypeId": 31, "fields": {"title": "Счёт"}})["item"]
    row = emu.ok(
        "crm.item.productrow.add",
        {
            "fields": {
                "ownerType": "SI",
                "ownerId": invoice["id"],
                "productName": "Кабель",
                "price": 10,
                "quantity": 4,
            }
        },
    )
    assert row["productRow"]["ownerType"] == "SI" and row["productRow"]["price"] == 10
    assert emu.ok("crm.item.get", {"entityTypeId": 31, "id": invoice["id"]})["item"]["opportunity"] == 40
    listed = emu.ok("crm.item.productrow.list", {"filter": {"=ownerType": "SI", "=ownerId": invoice["id"]}})
    assert [r["productName"] for r in listed["productRows"]] == ["Кабель"]
    row_id = row["productRow"]["id"]
    emu.ok("crm.item.productrow.update", {"id": row_id, "fields": {"quantity": 5}})
    assert emu.ok("crm.item.productrow.get", {"id": row_id})["productRow"]["quantity"] == 5
    emu.ok(
        "crm.item.productrow.set",
        {
            "ownerType": "SI",
            "ownerId": invoice["id"],
            "productRows": [{"productName": "А", "price": 1}, {"productName": "Б", "price": 2}],
        },
    )
    assert emu.ok("crm.item.get", {"entityTypeId": 31, "id": invoice["id"]})["item"]["opportunity"] == 3
    last = emu.ok("crm.item.productrow.list", {"filter": {"=ownerType": "SI", "=ownerId": invoice["id"]}})
    emu.ok("crm.item.productrow.delete", {"id": last["productRows"][0]["id"]})
    assert emu.ok("crm.item.get", {"entityTypeId": 31, "id": invoice["id"]})["item"]["opportunity"] == 2
