"""The comparison that decides whether a found object already holds what we would write."""

from __future__ import annotations

import pytest

from connector.compare import changed_fields, same_rows, same_value


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        ("1500.00", 1500.0),
        ("1500", "1500.004"),
        ("Y", True),
        ("N", False),
        ("0", "N"),
        ("1", "Y"),
        (None, ""),
        ("", None),
        ("2024-01-05T00:00:00+03:00", "2024-01-05"),
        ("2024-01-05T10:00:00+03:00", "2024-01-05T07:00:00+00:00"),
        ("Заказ 12 от 05.01.2024", "Заказ 12 от 05.01.2024 "),
    ],
)
def test_equal_spellings(current: object, wanted: object) -> None:
    assert same_value(current, wanted)


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        ("1500.00", 1500.01),
        ("N", True),
        ("0", "Y"),
        (None, "x"),
        ("0", ""),
        ("2024-01-06T00:00:00+03:00", "2024-01-05"),
        ("2024-01-05T10:00:00+03:00", "2024-01-05T10:00:00+00:00"),
        ("RUB", "USD"),
    ],
)
def test_different_values(current: object, wanted: object) -> None:
    assert not same_value(current, wanted)


def test_changed_fields_ignores_engine_notes_and_reports_differences() -> None:
    now = {"TITLE": "A", "OPPORTUNITY": "10.00", "X": "1"}
    assert changed_fields(now, {"TITLE": "A", "OPPORTUNITY": 10, "@note": 1}) == {}
    assert changed_fields(now, {"TITLE": "B", "OPPORTUNITY": 10}) == {"TITLE": "B"}


def test_rows_compare_by_position_and_written_fields() -> None:
    now = [{"PRODUCT_NAME": "Кирпич", "PRICE": "10.00", "QUANTITY": "3", "ID": "7"}]
    assert same_rows(now, [{"PRODUCT_NAME": "Кирпич", "PRICE": 10, "QUANTITY": 3}])
    assert not same_rows(now, [{"PRODUCT_NAME": "Кирпич", "PRICE": 10, "QUANTITY": 4}])
    assert not same_rows(now, [])
