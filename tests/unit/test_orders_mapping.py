"""The shipped orders mapping, the pure engine and the planner."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.engine.planner import plan
from connector.errors import ConfigError
from connector.ledger import Link
from connector.mapping.engine import map_record, needed_refs
from connector.mapping.schema import load_mapping, load_mappings

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Europe/Moscow")
SPEC = load_mapping(ROOT / "mappings" / "orders.yaml")
RUB, P1, P2, CONTRACT = (
    "3c2b1a00-8d2e-11ee-b9d1-0242ac120002",
    "9b8a7c01-8d2e-11ee-b9d1-0242ac120002",
    "9b8a7c02-8d2e-11ee-b9d1-0242ac120002",
    "5d4e3f03-8d2e-11ee-b9d1-0242ac120002",
)
LOOKUPS = {
    "currencies": {RUB: {"Ref_Key": RUB, "Code": "643"}},
    "contracts": {CONTRACT: {"Ref_Key": CONTRACT, "Номер": "Д-17/2024", "Дата": "2024-02-01T00:00:00"}},
    "products": {
        P1: {"Ref_Key": P1, "Description": "Профлист С8"},
        P2: {"Ref_Key": P2, "Description": 'Саморез "кровельный" & шайба'},
    },
}


def order(**changes: Any) -> dict[str, Any]:
    """The reference §10 order: 25 000 with two lines."""
    base = {
        "Ref_Key": "0cc1a3f0-9a1b-11ef-8f2a-00155d0a1b01",
        "DataVersion": "AAAAAQAAAAA=",
        "DeletionMark": False,
        "Number": "ЦБ00-000125",
        "Date": "2024-11-05T10:15:00",
        "Posted": True,
        "Валюта_Key": RUB,
        "СуммаДокумента": 25000,
        "Комментарий": "",
        "Менеджер_Key": "00000000-0000-0000-0000-000000000000",
        "Контрагент_Key": "7a3b2c12-8d2e-11ee-b9d1-0242ac120002",
        "Договор_Key": CONTRACT,
        "Товары": [
            # as УТ 11 publishes a row: prices with VAT (ЦенаВключаетНДС), 20 % inside the amount, no manual discount
            {
                "LineNumber": "1",
                "Номенклатура_Key": P1,
                "Количество": 10,
                "Цена": 1500,
                "Сумма": 15000,
                "СуммаНДС": 2500,
                "СуммаСНДС": 15000,
                "ПроцентРучнойСкидки": 0,
            },
            {
                "LineNumber": "2",
                "Номенклатура_Key": P2,
                "Количество": 5,
                "Цена": 2000,
                "Сумма": 10000,
                "СуммаНДС": 1666.67,
                "СуммаСНДС": 10000,
                "ПроцентРучнойСкидки": 0,
            },
        ],
    }
    base.update(changes)
    return base


VAT_20_NO_DISCOUNT = {"TAX_RATE": "20", "TAX_INCLUDED": "Y", "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": "0"}


def test_reference_order_maps_to_deal_fields_and_rows() -> None:
    m = map_record(SPEC, order(), LOOKUPS, TZ)
    assert m.error is None
    assert m.fields == {
        "TITLE": "Заказ ЦБ00-000125 от 05.11.2024",
        "OPPORTUNITY": "25000.00",
        "IS_MANUAL_OPPORTUNITY": "Y",
        "CURRENCY_ID": "RUB",
        "BEGINDATE": "2024-11-05",
        "UF_CRM_1C_ORDER_NUMBER": "ЦБ00-000125",
        "UF_CRM_1C_ORDER_DATE": "2024-11-05T10:15:00+03:00",
        "UF_CRM_1C_CONTRACT_NUMBER": "Д-17/2024",  # the order's contract, read by reference
        "UF_CRM_1C_CONTRACT_DATE": "2024-02-01",
        "ASSIGNED_BY_ID": 1,
        "COMMENTS": "",
        "COMPANY_ID": "",
        "CONTACT_ID": "",
    }
    assert m.on_create == {"CATEGORY_ID": 0}
    assert m.rows == [
        {"PRODUCT_NAME": "Профлист С8", "PRICE": "1500.00", "QUANTITY": "10"} | VAT_20_NO_DISCOUNT,
        {"PRODUCT_NAME": 'Саморез "кровельный" & шайба', "PRICE": "2000.00", "QUANTITY": "5"}
        | VAT_20_NO_DISCOUNT,
    ]
    assert m.key == order()["Ref_Key"] and m.version == "AAAAAQAAAAA="


def test_company_or_contact_is_picked_from_the_counterparty_link() -> None:
    cp = order()["Контрагент_Key"]
    company = map_record(SPEC, order(), {**LOOKUPS, "@links:counterparties": {cp: {"value": "17"}}}, TZ)
    contact = map_record(SPEC, order(), {**LOOKUPS, "@links:counterparties": {cp: {"value": "C_5"}}}, TZ)
    waiting = map_record(SPEC, order(), {**LOOKUPS, "@links:counterparties": {}}, TZ)
    assert (company.fields["COMPANY_ID"], company.fields["CONTACT_ID"]) == ("17", "")
    assert (contact.fields["COMPANY_ID"], contact.fields["CONTACT_ID"]) == ("", "5")
    assert waiting.deferred and "not synced yet by flow 'counterparties'" in str(waiting.error)


def test_links_translate_through_other_flows_and_missing_ones_defer() -> None:
    manager = "77777777-7777-7777-7777-777777777777"
    linked = {**LOOKUPS, "@links:managers": {manager: {"value": "42"}}}
    assert map_record(SPEC, order(Менеджер_Key=manager), linked, TZ).fields["ASSIGNED_BY_ID"] == "42"
    unmatched = map_record(SPEC, order(Менеджер_Key="88888888-8888-8888-8888-888888888888"), linked, TZ)
    assert unmatched.error is None and unmatched.fields["ASSIGNED_BY_ID"] == 1  # optional link: the default
    spec = SPEC.model_copy(deep=True)
    spec.fields["ASSIGNED_BY_ID"].default = None
    strict = map_record(spec, order(Менеджер_Key="88888888-8888-8888-8888-888888888888"), linked, TZ)
    assert (
        strict.error is not None and "not synced yet by flow 'managers'" in strict.error and strict.deferred
    )


def test_pipeline_rule_is_create_only_and_outside_the_hash() -> None:
    big = map_record(SPEC, order(СуммаДокумента=500000), LOOKUPS, TZ)
    small = map_record(SPEC, order(СуммаДокумента=500000.001), LOOKUPS, TZ)
    assert big.on_create == {"CATEGORY_ID": 1} and big.create_fields()["CATEGORY_ID"] == 1
    assert "CATEGORY_ID" not in big.fields and big.hash == small.hash


def test_empty_reference_in_a_row_is_named_and_nothing_else_breaks() -> None:
    bad = order()
    bad["Товары"][1]["Номенклатура_Key"] = "00000000-0000-0000-0000-000000000000"
    m = map_record(SPEC, bad, LOOKUPS, TZ)
    assert m.error is not None
    assert "ЦБ00-000125" in m.error and "Товары[2].PRODUCT_NAME: required" in m.error


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"СуммаДокумента": "двадцать"}, "OPPORTUNITY: expected a number"),
        ({"Date": "05/11/2024"}, "expected a date"),
        ({"Валюта_Key": "11111111-1111-1111-1111-111111111111"}, "was not found in lookup 'currencies'"),
        ({"Number": "   "}, "UF_CRM_1C_ORDER_NUMBER: required"),
        ({"СуммаДокумента": 1e20}, "out of range"),
        ({"Товары": None}, "expected the tabular section"),
    ],
)
def test_bad_values_give_clear_reasons(change: dict[str, Any], expected: str) -> None:
    m = map_record(SPEC, order(**change), LOOKUPS, TZ)
    assert m.error is not None and expected in m.error


def test_unknown_currency_code_fails_the_order_instead_of_becoming_rubles() -> None:
    usd = "3c2b1a00-0000-11ee-b9d1-0242ac120002"
    m = map_record(SPEC, order(Валюта_Key=usd), {**LOOKUPS, "currencies": {usd: {"Code": "999"}}}, TZ)
    assert m.error is not None and "CURRENCY_ID: value '999' is not in the map" in m.error


def test_long_title_is_truncated_and_padding_trimmed() -> None:
    m = map_record(SPEC, order(Number="  " + "Я" * 300 + "  "), LOOKUPS, TZ)
    assert m.error is None and len(m.fields["TITLE"]) == 255 and m.fields["TITLE"].endswith("…")


def test_hash_changes_with_content_only() -> None:
    a, b = map_record(SPEC, order(), LOOKUPS, TZ), map_record(SPEC, order(DataVersion="other"), LOOKUPS, TZ)
    c = map_record(SPEC, order(СуммаДокумента=25001), LOOKUPS, TZ)
    assert a.hash == b.hash != c.hash


def test_needed_refs_collects_header_and_row_references() -> None:
    need = needed_refs(SPEC, [order()])
    assert need == {
        "currencies": {RUB},
        "products": {P1, P2},
        "contracts": {CONTRACT},
        "@links:managers": set(),
        "@links:counterparties": {order()["Контрагент_Key"]},
    }


def test_planner_creates_updates_skips_and_fails() -> None:
    ok = map_record(SPEC, order(), LOOKUPS, TZ)
    changed = map_record(
        SPEC, order(Ref_Key="22222222-2222-2222-2222-222222222222", СуммаДокумента=1), LOOKUPS, TZ
    )
    same = map_record(SPEC, order(Ref_Key="33333333-3333-3333-3333-333333333333"), LOOKUPS, TZ)
    broken = map_record(SPEC, order(Ref_Key="44444444-4444-4444-4444-444444444444", Date="x"), LOOKUPS, TZ)
    links = {changed.key: Link(changed.key, "7", "old", None), same.key: Link(same.key, "8", same.hash, None)}
    actions, failed = plan([ok, changed, same, broken, ok], links)
    assert [(a.kind, a.target_id) for a in actions] == [("create", None), ("update", "7"), ("skip", "8")]
    assert [f.key for f in failed] == [broken.key]


def test_broken_mapping_files_name_file_line_and_key(tmp_path: Path) -> None:
    text = (ROOT / "mappings" / "orders.yaml").read_text(encoding="utf-8")
    (tmp_path / "orders.yaml").write_text(
        text.replace("lookup: products.Description", "lookup: goods.Description").replace(
            "    type: money\n    required: true", "    typ: money"
        ),
        encoding="utf-8",
    )
    (tmp_path / "other.yaml").write_text(
        "flow: Bad-Name\nsource: {entity: X}\nfields: {}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        load_mappings(tmp_path, ["orders"])
    joined = "\n".join(info.value.problems)
    assert "orders.yaml" in joined and "other.yaml" in joined
    assert "typ: unknown key; did you mean 'type'?" in joined
    assert "flow: String should match pattern" in joined
    assert "other.yaml:3: fields" in joined


def test_an_order_without_a_contract_maps_with_empty_contract_fields() -> None:
    m = map_record(SPEC, order(Договор_Key="00000000-0000-0000-0000-000000000000"), LOOKUPS, TZ)
    assert m.error is None
    assert not m.fields["UF_CRM_1C_CONTRACT_NUMBER"] and not m.fields["UF_CRM_1C_CONTRACT_DATE"]
