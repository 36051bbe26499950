"""A deal row in one of the product's 1C packagings (a box of 12) becomes an order row with the packaging, its count,
the quantity in the product's own unit and the price per that unit; its amounts stay the deal's. Another unit
fails naming the row, the product and the unit; the mapping's packaging names are checked offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from connector.errors import RecordError
from connector.flows.deals_to_orders.products import EMPTY_REF, Units, packed
from connector.mapping.specs import OneCPackaging, OneCRef
from tests.unit.test_mapping_check_findings import folder, line_of, problems

PRODUCTS = "Catalog_Номенклатура"
UNITS = "Catalog_УпаковкиЕдиницыИзмерения"
PRODUCT, SET = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
PIECE = "33333333-3333-3333-3333-333333333333"
BOX = {"Ref_Key": "44444444-4444-4444-4444-444444444444", "Code": "8751", "Description": "кор (12 шт)",
       "Числитель": 12, "Знаменатель": 1}  # fmt: skip
HALF = {"Ref_Key": "55555555-5555-5555-5555-555555555555", "Code": "778", "Description": "уп (5 шт)",
        "Числитель": 10, "Знаменатель": 2}  # fmt: skip
SPEC = OneCRef(entity=UNITS, by="Code", unit_of="Номенклатура_Key", packaging=OneCPackaging())


class FakeBase:
    """The three reads Units makes: the product, its own unit, its packagings (filters recorded)."""

    tz = ZoneInfo("Europe/Moscow")

    def __init__(self, packagings: list[dict[str, Any]], packaging_set: str = SET) -> None:
        self.packagings = packagings
        self.packaging_set = packaging_set
        self.filters: list[str] = []

    def by_refs(self, entity: str, refs: list[str], select: list[str] | None = None) -> dict[str, Any]:
        if entity == PRODUCTS:
            row = {"Ref_Key": PRODUCT, "Description": "Профлист С8", "ЕдиницаИзмерения_Key": PIECE}
            return {PRODUCT: {**row, "НаборУпаковок_Key": self.packaging_set}}
        return {PIECE: {"Ref_Key": PIECE, "Code": "796", "Description": "шт"}}

    def query(self, entity: str, *, filter: str, select: list[str], orderby: str) -> list[dict[str, Any]]:
        assert entity == UNITS and {"Числитель", "Знаменатель", "Code", "Description"} <= set(select)
        self.filters.append(filter)
        return self.packagings


def _row(unit: object, quantity: float = 3, price: float = 1200) -> dict[str, Any]:
    return {"Номенклатура_Key": PRODUCT, "Упаковка_Key": unit, "Количество": quantity,
            "КоличествоУпаковок": quantity, "Цена": price, "Сумма": price * quantity}  # fmt: skip


def test_a_row_in_boxes_of_12_counts_pieces_and_prices_a_piece() -> None:
    base = FakeBase([BOX, HALF])
    units = Units(base)  # type: ignore[arg-type]
    out = units.row("Упаковка_Key", SPEC, PRODUCTS, _row(8751, 3, 1199.99), "Товары[2]")
    assert out == {
        "Номенклатура_Key": PRODUCT,
        "Упаковка_Key": BOX["Ref_Key"],
        "КоличествоУпаковок": 3.0,
        "Количество": 36.0,
        "Цена": 100.0,  # 1199.99 / 12 to kopecks; the row's Сумма stays the deal's
        "Сумма": 1199.99 * 3,
    }
    (flt,) = base.filters  # the product's packagings and its set's, one query
    assert f"Owner eq cast(guid'{PRODUCT}', 'Catalog_Номенклатура')" in flt
    assert f"Owner eq cast(guid'{SET}', 'Catalog_НаборыУпаковок')" in flt and "DeletionMark eq false" in flt


def test_the_coefficient_is_numerator_over_denominator_and_names_match_ignoring_case() -> None:
    units = Units(FakeBase([BOX, HALF]))  # type: ignore[arg-type]
    out = units.row("Упаковка_Key", SPEC, PRODUCTS, _row("УП (5 шт)", 1.5, 500), "Товары[1]")
    assert (out["Упаковка_Key"], out["Количество"], out["Цена"]) == (HALF["Ref_Key"], 7.5, 100.0)


def test_the_products_own_unit_leaves_the_packaging_empty_and_the_row_as_it_is() -> None:
    base = FakeBase([BOX])
    out = Units(base).row("Упаковка_Key", SPEC, PRODUCTS, _row("0796"), "Товары[1]")  # type: ignore[arg-type]
    assert out == {**_row("0796"), "Упаковка_Key": EMPTY_REF}
    assert base.filters == []  # a row in the own unit costs no packaging query


def test_a_unit_that_is_neither_fails_naming_the_row_the_product_the_unit_and_the_packagings() -> None:
    units = Units(FakeBase([BOX], packaging_set=EMPTY_REF))  # type: ignore[arg-type]
    with pytest.raises(RecordError) as caught:
        units.row("Упаковка_Key", SPEC, PRODUCTS, _row(166), "Товары[2]")
    assert caught.value.message == (
        "Товары[2].Упаковка_Key: the row's unit (166) of «Профлист С8» is not the unit 1C counts it in (796) nor "
        "one of its packagings in 1C (кор (12 шт) (8751)); change the row's unit in Bitrix24 or add the "
        "packaging to the product in 1C"
    )


def test_without_packaging_in_the_mapping_a_packaging_unit_still_fails() -> None:
    bare = SPEC.model_copy(update={"packaging": None})
    with pytest.raises(
        RecordError, match=r"the row's unit \(8751\) of «Профлист С8» is not the unit 1C counts"
    ):
        Units(FakeBase([BOX])).row("Упаковка_Key", bare, PRODUCTS, _row(8751), "Товары[1]")  # type: ignore[arg-type]


def test_a_packaging_without_a_coefficient_fails_the_row() -> None:
    with pytest.raises(RecordError, match=r"«кор \(12 шт\)» of «Профлист С8» has no coefficient in 1C"):
        packed(
            _row(8751), "Упаковка_Key", OneCPackaging(), {**BOX, "Числитель": 0}, "Товары[1]", "Профлист С8"
        )


def test_packaging_needs_unit_of() -> None:
    with pytest.raises(ValidationError, match="packaging works on a row's unit: give unit_of"):
        OneCRef(entity=UNITS, packaging=OneCPackaging())


def test_check_names_a_packaging_field_the_rows_do_not_write_at_its_line(tmp_path: Path) -> None:
    d = folder(
        tmp_path, deals_to_orders=("        count: КоличествоУпаковок", "        count: ЧислоУпаковок")
    )
    (found,) = problems(d)
    line = line_of(d, "deals_to_orders", "count: ЧислоУпаковок")
    assert found.startswith(f"{d / 'deals_to_orders.yaml'}:{line}: target.refs.Упаковка_Key.packaging.count:")
    assert "'ЧислоУпаковок' is not a field of rows.fields" in found and "КоличествоУпаковок" in found


def test_verify_names_each_packaging_attribute_1c_does_not_publish() -> None:
    from connector.flows.deals_to_orders.products import packaging_problems
    from connector.mapping.schema import load_mappings
    from connector.onec.metadata import EntityInfo

    spec = load_mappings(Path(__file__).resolve().parents[2] / "mappings", ["deals_to_orders"])[
        "deals_to_orders"
    ]
    rows = {n: "Edm.Double" for n in ("Упаковка_Key", "КоличествоУпаковок", "Количество", "Цена")}
    entities = {
        UNITS: EntityInfo(
            UNITS, {n: "Edm.String" for n in ("Code", "Description", "Owner", "Owner_Type", "Числитель")}
        ),
        PRODUCTS: EntityInfo(PRODUCTS, {"ЕдиницаИзмерения_Key": "Edm.Guid"}),
        "Document_ЗаказКлиента": EntityInfo("Document_ЗаказКлиента", {}, {"Товары": rows}),
    }
    key = "target.refs.Упаковка_Key.packaging"
    assert packaging_problems(entities, spec) == [
        (f"1C {UNITS} has no property 'Знаменатель'", key),
        (f"1C {PRODUCTS} has no property 'НаборУпаковок_Key'", key),
    ]
    entities[UNITS].properties["Знаменатель"] = "Edm.Double"
    entities[PRODUCTS].properties["НаборУпаковок_Key"] = "Edm.Guid"
    assert packaging_problems(entities, spec) == []
