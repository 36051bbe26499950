"""1C packagings (УТ 11 Catalog_УпаковкиЕдиницыИзмерения): the catalog publishes each packaging's coefficient
(Числитель / Знаменатель) and its owner (the product, or the packaging set the product names), and an order row
with a packaging posts only when Количество = КоличествоУпаковок × the coefficient."""

from __future__ import annotations

from typing import Any

from b24_1c_sandbox.dataset import packaging_ref, packaging_set_ref
from onecemu import OneC, error_of

ORDERS = "Document_ЗаказКлиента"
PACKAGINGS = "Catalog_УпаковкиЕдиницыИзмерения"


def _owned_by(onec: OneC, ref: str, kind: str) -> list[tuple[str, str, float, float]]:
    rows = onec.json(
        PACKAGINGS,
        **{
            "$filter": f"Owner eq cast(guid'{ref}', '{kind}')",
            "$select": "Code,Description,Числитель,Знаменатель,Owner_Type",
            "$orderby": "Description",
        },
    )["value"]
    assert all(r["Owner_Type"] == f"StandardODATA.{kind}" for r in rows)
    return [(r["Code"], r["Description"], r["Числитель"], r["Знаменатель"]) for r in rows]


def test_packagings_carry_their_coefficient_and_owner(onec: OneC) -> None:
    first, second = onec.data.products[0], onec.data.products[1]
    assert _owned_by(onec, first["Ref_Key"], "Catalog_Номенклатура") == [
        ("8751", "кор (12 шт)", 12, 1),
        ("778", "уп (5 шт)", 10, 2),
    ]
    shared = packaging_set_ref("Коробки по 6 шт")
    assert second["НаборУпаковок_Key"] == shared
    assert _owned_by(onec, shared, "Catalog_НаборыУпаковок") == [("8751", "кор (6 шт)", 6, 1)]
    units = _owned_by(onec, packaging_set_ref("Базовые единицы измерения"), "Catalog_НаборыУпаковок")
    assert ("796", "шт", 1, 1) in units
    meta = onec.get("$metadata").text
    assert '<Property Name="Owner_Type"' in meta and '<Property Name="Числитель"' in meta


def _order(onec: OneC, row: dict[str, Any]) -> str:
    body = {
        "Date": "2025-03-14T10:00:00",
        "Организация_Key": onec.refs["organization"],
        "Контрагент_Key": onec.refs["counterparty"],
        "Партнер_Key": onec.refs["partner"],
        "Товары": [{"Цена": 100, "Сумма": 3600, **row}],
    }
    return str(onec.post(ORDERS, body).json()["Ref_Key"])


def _post(onec: OneC, ref: str) -> Any:
    return onec.post(f"{ORDERS}(guid'{ref}')/Post", PostingModeOperational="false")


def test_a_packaged_row_posts_when_its_quantity_is_the_packagings_times_the_coefficient(onec: OneC) -> None:
    product = onec.data.products[0]["Ref_Key"]
    box = packaging_ref(0, "8751")
    row = {"Номенклатура_Key": product, "Упаковка_Key": box, "КоличествоУпаковок": 3}
    assert _post(onec, _order(onec, {**row, "Количество": 36})).status_code == 200
    half = {**row, "Упаковка_Key": packaging_ref(0, "778"), "КоличествоУпаковок": 1.5}  # 10/2 each
    assert _post(onec, _order(onec, {**half, "Количество": 7.5})).status_code == 200

    status, code, text = error_of(_post(onec, _order(onec, {**row, "Количество": 3})))
    assert (status, code) == (500, "-1")
    assert 'Количество в строке 1 списка "Товары" (3) не равно' in text and "3 × 12 = 36" in text


def test_a_row_without_packaging_counts_its_packagings_in_the_products_own_unit(onec: OneC) -> None:
    product = onec.data.products[0]["Ref_Key"]
    plain = {"Номенклатура_Key": product, "КоличествоУпаковок": 4}
    assert _post(onec, _order(onec, {**plain, "Количество": 4})).status_code == 200
    assert "4 × 1 = 4" in error_of(_post(onec, _order(onec, {**plain, "Количество": 5})))[2]


def test_a_packaging_of_another_product_or_of_its_set_is_judged_by_the_rows_product(onec: OneC) -> None:
    second = onec.data.products[1]["Ref_Key"]  # its packagings are those of the shared set
    shared_box = packaging_ref("Коробки по 6 шт", "8751")
    row = {"Номенклатура_Key": second, "КоличествоУпаковок": 2, "Количество": 12}
    assert _post(onec, _order(onec, {**row, "Упаковка_Key": shared_box})).status_code == 200
    text = error_of(_post(onec, _order(onec, {**row, "Упаковка_Key": packaging_ref(0, "8751")})))[2]
    assert 'Упаковка "кор (12 шт)" в строке 1 списка "Товары" не относится к номенклатуре' in text
