"""Mapping arithmetic for VAT and discounts of a deal's rows, and picking rows of a 1C tabular section by kind."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.errors import ConfigError
from connector.mapping.engine import map_record
from connector.mapping.schema import Mapping

TZ = ZoneInfo("Europe/Moscow")


def spec(fields: dict[str, Any]) -> Mapping:
    return Mapping.model_validate(
        {"flow": "t", "source": {"entity": "Catalog_Контрагенты", "date_field": None}, "fields": fields}
    )


def test_vat_inside_an_amount_at_the_row_rate_and_no_vat_without_a_rate() -> None:
    rule = {"multiply": ["PRICE", "QUANTITY"], "vat_at": "TAX_RATE", "type": "float"}
    mapping = spec({"VAT": rule})
    row = {"Ref_Key": "1", "DataVersion": "v", "PRICE": 120.0, "QUANTITY": 3.0}
    assert map_record(mapping, {**row, "TAX_RATE": 20}, {}, TZ).fields["VAT"] == 60.0
    assert map_record(mapping, {**row, "TAX_RATE": 10, "PRICE": 110.01}, {}, TZ).fields["VAT"] == 30.0
    assert map_record(mapping, {**row, "TAX_RATE": None}, {}, TZ).fields["VAT"] == 0.0


def test_a_discount_is_the_difference_of_two_products_to_kopecks() -> None:
    rule = {"multiply": ["PRICE_BRUTTO", "QUANTITY"], "minus": ["PRICE", "QUANTITY"], "type": "float"}
    row = {"Ref_Key": "1", "DataVersion": "v", "PRICE_BRUTTO": 999.0, "PRICE": 899.1, "QUANTITY": 3}
    assert map_record(spec({"D": rule}), row, {}, TZ).fields["D"] == 299.7


def test_minus_and_vat_need_multiply() -> None:
    with pytest.raises(ValueError, match="minus and vat_at work on multiply"):
        spec({"D": {"source": "PRICE", "vat_at": "TAX_RATE"}})


def test_rows_of_a_tabular_section_are_picked_by_kind() -> None:
    contacts = [
        {"Тип": "Телефон", "Представление": "+7 495 111-22-33"},
        {"Тип": "АдресЭлектроннойПочты", "Представление": "info@example.ru"},
        {"Тип": "Телефон", "Представление": "+7 912 000-00-01"},
        {"Тип": "Адрес", "Представление": "Москва"},
    ]
    section = {"source": "КонтактнаяИнформация"}
    mapping = spec(
        {
            "PHONE": {**section, "section": {"where": {"Тип": "Телефон"}, "column": "Представление"}},
            "EMAIL": {
                **section,
                "section": {"where": {"Тип": "АдресЭлектроннойПочты"}, "column": "Представление"},
            },
            "FAX": {**section, "section": {"where": {"Тип": "Факс"}, "column": "Представление"}},
        }
    )
    record = {"Ref_Key": "1", "DataVersion": "v", "КонтактнаяИнформация": contacts}
    fields = map_record(mapping, record, {}, TZ).fields
    assert fields["PHONE"] == ["+7 495 111-22-33", "+7 912 000-00-01"]
    assert fields["EMAIL"] == ["info@example.ru"] and fields["FAX"] == ""
    broken = map_record(mapping, {**record, "КонтактнаяИнформация": "x"}, {}, TZ)
    assert broken.error is not None and "КонтактнаяИнформация is not a tabular section" in broken.error


def test_a_section_needs_its_source() -> None:
    with pytest.raises((ValueError, ConfigError), match="section needs a source"):
        spec({"PHONE": {"const": "1", "section": {"where": {"Тип": "Телефон"}, "column": "Представление"}}})
