"""`divide` in the mapping: a 1C row's amount over its quantity is the deal row's final unit price, to kopecks;
a zero quantity fails the record with its field named, and divide needs multiply."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.mapping.engine import map_record
from connector.mapping.schema import Mapping

TZ = ZoneInfo("Europe/Moscow")
RULE = {"multiply": ["СуммаСНДС"], "divide": "Количество", "type": "money"}


def spec(fields: dict[str, Any]) -> Mapping:
    return Mapping.model_validate(
        {"flow": "t", "source": {"entity": "Document_ЗаказКлиента", "date_field": None}, "fields": fields}
    )


def test_an_amount_over_the_quantity_to_kopecks() -> None:
    row = {"Ref_Key": "1", "DataVersion": "v", "СуммаСНДС": 1798.2, "Количество": 2}
    assert map_record(spec({"PRICE": RULE}), row, {}, TZ).fields["PRICE"] == "899.10"
    row = {**row, "СуммаСНДС": 100, "Количество": 3}
    assert map_record(spec({"PRICE": RULE}), row, {}, TZ).fields["PRICE"] == "33.33"


def test_a_zero_quantity_fails_the_record_naming_the_field() -> None:
    row = {"Ref_Key": "1", "DataVersion": "v", "СуммаСНДС": 100, "Количество": 0}
    mapped = map_record(spec({"PRICE": RULE}), row, {}, TZ)
    assert mapped.error is not None and "Количество = 0: cannot divide by zero" in mapped.error


def test_divide_needs_multiply() -> None:
    with pytest.raises(ValueError, match="so do divide and rate_of: give multiply too"):
        spec({"PRICE": {"source": "Сумма", "divide": "Количество"}})


def test_a_vat_rate_from_the_vat_inside_an_amount() -> None:
    rule = {"multiply": ["СуммаНДС"], "rate_of": "СуммаСНДС", "round": 0, "type": "number"}
    mapping = spec({"TAX_RATE": rule})
    row = {"Ref_Key": "1", "DataVersion": "v"}
    rates = [
        map_record(mapping, {**row, "СуммаНДС": vat, "СуммаСНДС": gross}, {}, TZ).fields["TAX_RATE"]
        for vat, gross in ((299.7, 1798.2), (30, 330), (16.67, 100), (0, 500), (0, 0))
    ]
    assert rates == ["20", "10", "20", "0", "0"]  # 16.67 of 100 is 20 % to kopecks; a free row has no rate
