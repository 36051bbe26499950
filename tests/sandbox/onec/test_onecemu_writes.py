"""Writes and posting (reference checklist 18-23): codes, Russian business errors, DataVersion, load mode."""

from __future__ import annotations

from urllib.parse import unquote

from onecemu import OneC, error_of

ORDERS = "Document_ЗаказКлиента"


def _draft(onec: OneC, **extra: object) -> dict[str, object]:
    return {
        "Date": "2025-03-14T10:00:00",
        "Организация_Key": onec.refs["organization"],
        "Контрагент_Key": onec.refs["counterparty"],
        "Партнер_Key": onec.refs["partner"],
        "Товары": [
            {
                "Номенклатура_Key": onec.refs["product_a"],
                "Количество": "3",
                "Цена": "1500.00",
                "Сумма": "4500",
            }
        ],
        "Неизвестное": 1,
        **extra,
    }


def test_post_creates_with_201_location_and_generated_keys(onec: OneC) -> None:
    resp = onec.post(ORDERS, _draft(onec, Posted=True))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert unquote(resp.headers["Location"]).endswith(f"{ORDERS}(guid'{body['Ref_Key']}')")
    assert body["Ref_Key"] == body["Ref_Key"].lower() and body["DataVersion"] and body["Posted"] is False
    assert (
        body["Number"].startswith("ЦБ00-") and body["СуммаДокумента"] == 4500
    )  # from rows, numbers as strings
    assert (
        body["Товары"][0]["Количество"] == 3
        and body["ОбъектРасчетов_Key"] != "00000000-0000-0000-0000-000000000000"
    )
    assert "Неизвестное" not in body


def test_duplicate_key_wrong_type_and_missing_entity(onec: OneC) -> None:
    assert error_of(onec.post(ORDERS, _draft(onec, Ref_Key=onec.refs["order"])))[:2] == (400, "15")
    assert error_of(onec.post(ORDERS, _draft(onec, Date="завтра")))[:2] == (400, "4")
    assert error_of(onec.post(ORDERS, _draft(onec, СуммаДокумента="много")))[:2] == (400, "4")
    assert error_of(onec.post(ORDERS, _draft(onec, Date="2025-03-14T10:00:00Z")))[:2] == (400, "4")
    missing = f"{ORDERS}(guid'0cc1a3f0-9a1b-11ef-8f2a-00155d0a1bff')"
    assert error_of(onec.patch(missing, {"Комментарий": "x"})) == (404, "9", "Экземпляр сущности не найден")
    assert error_of(onec.post(missing + "/Post"))[:2] == (404, "9")


def test_patch_replaces_tabular_sections_whole_and_bumps_data_version(onec: OneC) -> None:
    ref = onec.refs["order"]
    before = onec.json(f"{ORDERS}(guid'{ref}')")
    resp = onec.patch(
        f"{ORDERS}(guid'{ref}')",
        {
            "Товары": [
                {"Номенклатура_Key": onec.refs["product_b"], "Количество": 1, "Цена": 2000, "Сумма": 2000}
            ]
        },
    )
    after = resp.json()
    assert resp.status_code == 200 and after["DataVersion"] != before["DataVersion"]
    assert [(r["LineNumber"], r["Номенклатура_Key"]) for r in after["Товары"]] == [
        ("1", onec.refs["product_b"])
    ]
    assert after["Комментарий"] == before["Комментарий"] and after["Posted"] is True


def test_put_replaces_and_delete_is_physical(onec: OneC) -> None:
    created = onec.post(ORDERS, _draft(onec)).json()
    key = f"{ORDERS}(guid'{created['Ref_Key']}')"
    put = onec.session.put(
        onec.root + key + "?$format=json",
        json={
            "Date": "2025-03-14T11:00:00",
            "Организация@odata.bind": f"Catalog_Организации(guid'{onec.refs['organization']}')",
            "Комментарий": "заменён",
        },
        timeout=10,
    ).json()
    assert put["Организация_Key"] == onec.refs["organization"] and put["Товары"] == []
    assert put["Контрагент_Key"] == "00000000-0000-0000-0000-000000000000"
    assert onec.session.delete(onec.root + key, timeout=10).status_code == 204
    assert error_of(onec.get(key, **{"$format": "json"}))[:2] == (404, "9")


def test_post_and_unpost_with_validation(onec: OneC) -> None:
    ref = onec.post(ORDERS, _draft(onec)).json()["Ref_Key"]
    key = f"{ORDERS}(guid'{ref}')"
    versions = [onec.json(key)["DataVersion"]]
    assert onec.post(key + "/Post", PostingModeOperational="false").status_code == 200
    assert onec.json(key)["Posted"] is True
    versions.append(onec.json(key)["DataVersion"])
    assert onec.post(key + "/Unpost()").status_code == 200 and onec.json(key)["Posted"] is False
    versions.append(onec.json(key)["DataVersion"])
    assert onec.post(key + "/Post()").status_code == 200
    assert len(set(versions)) == 3
    assert error_of(onec.get(key + "/Post", **{"$format": "json"}))[:2] == (405, "19")


def test_business_errors_are_500_minus_one_in_russian(onec: OneC) -> None:
    empty = onec.post(
        ORDERS, {"Date": "2025-03-14T10:00:00", "Организация_Key": onec.refs["organization"]}
    ).json()
    status, code, text = error_of(onec.post(f"{ORDERS}(guid'{empty['Ref_Key']}')/Post"))
    assert (status, code) == (500, "-1")
    assert text.startswith(f'Не удалось провести "Заказ клиента {empty["Number"]} от 14.03.2025 10:00:00"')
    assert 'Поле "Контрагент" не заполнено' in text and '"Товары"' in text
    zero = onec.post(
        ORDERS, _draft(onec, Товары=[{"Номенклатура_Key": onec.refs["product_a"], "Количество": 0}])
    )
    assert "Количество" in error_of(onec.post(f"{ORDERS}(guid'{zero.json()['Ref_Key']}')/Post"))[2]


def test_operational_posting_of_a_past_dated_document_fails(onec: OneC) -> None:
    ref = onec.post(ORDERS, _draft(onec, Date="2025-03-01T09:00:00")).json()["Ref_Key"]
    key = f"{ORDERS}(guid'{ref}')/Post"
    status, code, text = error_of(onec.post(key, PostingModeOperational="true"))
    assert (status, code) == (500, "-1") and "задним числом" in text
    assert onec.post(key, PostingModeOperational="false").status_code == 200
    today = onec.post(ORDERS, _draft(onec, Date="2025-03-14T11:00:00")).json()["Ref_Key"]
    assert onec.post(f"{ORDERS}(guid'{today}')/Post", PostingModeOperational="true").status_code == 200


def test_deletion_mark_on_a_posted_document_unposts_it(onec: OneC) -> None:
    key = f"Document_ПоступлениеБезналичныхДенежныхСредств(guid'{onec.refs['receipt']}')"
    marked = onec.patch(key, {"DeletionMark": True}).json()
    assert marked["DeletionMark"] is True and marked["Posted"] is False
    assert "Помеченный на удаление" in error_of(onec.post(key + "/Post"))[2]


def test_if_match_is_ignored_unless_strict(onec: OneC) -> None:
    key = f"{ORDERS}(guid'{onec.refs['order']}')"
    stale = {"If-Match": "AAAAAAAAAAA="}
    assert onec.patch(key, {"Комментарий": "1"}, headers=stale).status_code == 200
    onec.app.knobs.strict_if_match = True
    assert onec.patch(key, {"Комментарий": "2"}, headers=stale).status_code == 412
    current = onec.json(key)["DataVersion"]
    assert onec.patch(key, {"Комментарий": "3"}, headers={"If-Match": current}).status_code == 200


def test_data_load_mode_skips_business_logic(onec: OneC) -> None:
    header = {"1C_OData-DataLoadMode": "true"}
    loaded = onec.post(ORDERS, _draft(onec, СуммаДокумента=1), headers=header).json()
    assert (
        loaded["СуммаДокумента"] == 1
        and loaded["ОбъектРасчетов_Key"] == "00000000-0000-0000-0000-000000000000"
    )
    onec.ib.closed_before = "2025-01-01T00:00:00"
    old = _draft(onec, Date="2024-12-31T10:00:00")
    assert error_of(onec.post(ORDERS, old))[:2] == (500, "-1")
    assert onec.post(ORDERS, old, headers=header).status_code == 201
    bare = onec.post(ORDERS, {"Date": "2025-03-14T10:00:00"}, headers=header).json()
    assert onec.post(f"{ORDERS}(guid'{bare['Ref_Key']}')/Post", headers=header).status_code == 200
