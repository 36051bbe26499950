"""Seed 003's whole-number paid % and shipped %: the shipped money mapping rounds the written fields down
(`round: 0`, `rounding: down`, `type: int`) while its stage rules read the unrounded facts, so 99.6 % paid shows 99
and never confirms the payment; the rounding rule itself, half up and down, on source and multiply fields."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.flows.facts import Payment, facts_of
from connector.mapping.engine import map_record
from connector.mapping.schema import Mapping, load_mapping

ROOT = Path(__file__).resolve().parents[2]
MOSCOW = ZoneInfo("Europe/Moscow")


def money() -> Mapping:
    return load_mapping(ROOT / "mappings" / "money.yaml")


def order_paid(paid: str, shipped: str) -> dict[str, Any]:
    order = {"Ref_Key": "o1", "Number": "ЦБ-1", "СуммаДокумента": 1000, "Товары": [{"Количество": 10}]}
    payments = [Payment("r:1", "r", "1", "2026-01-05T10:00:00", Decimal(paid), "bank", False)]
    facts = facts_of(order, payments, (Decimal(shipped), Decimal(0)), False, date(2026, 3, 10))
    return {**order, **facts}


def test_paid_percent_is_written_whole_and_rounded_down_but_the_stage_reads_the_exact_figure() -> None:
    mapped = map_record(money(), order_paid("996", "999.9"), {}, MOSCOW)
    assert mapped.error is None
    assert mapped.fields["UF_CRM_1C_PAID_PERCENT"] == 99  # 99.6 %: never shown as 100
    assert mapped.fields["UF_CRM_1C_SHIPPED_PERCENT"] == 99  # 99.99 %
    assert mapped.fields["STAGE_ID"] == "EXECUTING"  # partly paid, not "payment confirmed"
    full = map_record(money(), order_paid("1000", "1000"), {}, MOSCOW)
    assert (full.fields["UF_CRM_1C_PAID_PERCENT"], full.fields["STAGE_ID"]) == (100, "WON")


def spec(rule: dict[str, Any]) -> Mapping:
    return Mapping.model_validate(
        {"flow": "t", "source": {"entity": "Document_Т"}, "fields": {"UF_CRM_X": rule}}
    )


@pytest.mark.parametrize(
    ("rule", "value", "written"),
    [
        ({"source": "v", "type": "int", "round": 0}, "99.5", 100),
        ({"source": "v", "type": "int", "round": 0, "rounding": "down"}, "99.96", 99),
        ({"source": "v", "type": "number", "round": 1}, "12.345", "12.3"),
        ({"multiply": ["v", "q"], "type": "int", "round": 0}, "2.6", 8),  # 2.6 × 3 = 7.8
    ],
)
def test_round_then_convert(rule: dict[str, Any], value: str, written: Any) -> None:
    mapped = map_record(spec(rule), {"Ref_Key": "k", "v": value, "q": 3}, {}, MOSCOW)
    assert mapped.error is None and mapped.fields["UF_CRM_X"] == written


def test_a_fraction_without_a_rounding_rule_still_fails_the_record_with_its_reason() -> None:
    mapped = map_record(spec({"source": "v", "type": "int"}), {"Ref_Key": "k", "v": "99.6"}, {}, MOSCOW)
    assert mapped.error is not None and "UF_CRM_X" in mapped.error and "whole number" in mapped.error


def test_round_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="round"):
        spec({"source": "v", "type": "int", "round": 7})
