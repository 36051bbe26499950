"""Wire encoding used by the Bitrix24 REST client: PHP query strings, batch commands, PHP-JSON maps."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from b24_1c_sandbox.bitrix24.php import parse_str, php_array_to_python

from connector.bitrix24.encoding import batch_command, http_build_query, normalize_php_map, scalar_to_wire

TRICKY = "a&b=c+d%25e#f[g]h?i/j Счёт №1 ~!*'()"


# -- http_build_query: exact output ---------------------------------------------------------------------------


def test_bracket_syntax_for_dicts_and_lists() -> None:
    query = http_build_query(
        {
            "filter": {">ID": 5, "ORIGINATOR_ID": "1C"},
            "order": {"ID": "ASC"},
            "select": ["ID", "TITLE"],
            "rows": [{"PRICE": 1.5, "QUANTITY": 2}],
        }
    )
    assert query == (
        "filter[%3EID]=5&filter[ORIGINATOR_ID]=1C&order[ID]=ASC&select[0]=ID&select[1]=TITLE"
        "&rows[0][PRICE]=1.5&rows[0][QUANTITY]=2"
    )


def test_values_are_quote_plus_encoded() -> None:
    assert http_build_query({"v": "a&b+c%d#e[f]g h"}) == "v=a%26b%2Bc%25d%23e%5Bf%5Dg+h"
    assert http_build_query({"v": "Привет"}) == "v=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82"


def test_operator_keys_are_encoded_so_equals_sign_cannot_split_the_pair() -> None:
    query = http_build_query({"filter": {"=%TITLE": "Ivan%"}})
    assert query == "filter[%3D%25TITLE]=Ivan%25"
    assert parse_str(query) == {"filter": {"=%TITLE": "Ivan%"}}


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (True, "Y"),
        (False, "N"),
        (None, ""),
        (0, "0"),
        (-17, "-17"),
        (1.5, "1.5"),
        (1e-7, "0.0000001"),
        (1e20, "100000000000000000000"),
        (-2.5e-5, "-0.000025"),
        (Decimal("19999.99"), "19999.99"),
        (Decimal("1.50"), "1.50"),
        (Decimal("1E+3"), "1000"),
        (
            dt.datetime(2024, 1, 15, 10, 20, 30, 999, tzinfo=dt.timezone(dt.timedelta(hours=3))),
            "2024-01-15T10:20:30+03:00",
        ),
        (dt.date(2024, 1, 15), "2024-01-15"),
        ("", ""),
    ],
)
def test_scalar_rendering(value: Any, wire: str) -> None:
    assert scalar_to_wire(value) == wire


def test_scalars_in_a_query() -> None:
    assert (
        http_build_query({"a": True, "b": False, "c": None, "d": 1e21})
        == "a=Y&b=N&c=&d=1000000000000000000000"
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity")])
def test_non_finite_numbers_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        http_build_query({"x": value})


def test_unsupported_value_type_is_refused() -> None:
    with pytest.raises(TypeError):
        http_build_query({"x": {1, 2}})
    with pytest.raises(TypeError):
        http_build_query({"x": b"bytes"})


@pytest.mark.parametrize(
    "params",
    [
        {"filter": {"a]b": 1}},
        {"filter": {"a[b": 1}},
        {"a[b]": 1},
        {"filter": {"": 1}},
        {"filter": {" ": 1}},
        {"": 1},
        {"fields.TITLE": 1},
        {"my key": 1},
    ],
)
def test_keys_php_cannot_read_back_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        http_build_query(params)


def test_non_string_keys() -> None:
    assert http_build_query({"a": {0: "x", 7: "y"}}) == "a[0]=x&a[7]=y"
    with pytest.raises(TypeError):
        http_build_query({"a": {True: "x"}})


def test_empty_containers_are_omitted_like_php() -> None:
    assert http_build_query({"select": [], "filter": {}, "id": 5}) == "id=5"
    assert http_build_query({}) == ""


# -- round trips through the sandbox's PHP parse_str -----------------------------------------------------------

ROUND_TRIPS: list[dict[str, Any]] = [
    {"id": "410"},
    {"filter": {">DATE_MODIFY": "2024-01-15T10:20:30+03:00", "!%TITLE": TRICKY}},
    {"fields": {"TITLE": TRICKY, "PHONE": {"0": {"VALUE": "+7 (999) 123-45-67", "VALUE_TYPE": "WORK"}}}},
    {"filter": {"logic": "OR", "0": {"=ORIGIN_ID": "Ф&Ы"}, "1": {"@ID": {"0": "1", "1": "2"}}}},
    {"a": {"b": {"c": {"d": {"e": "%%%2B+"}}}}, "z": "#"},
    {"rows": {"0": {"PRODUCT_NAME": "Товар [1] & co", "PRICE": "1.5"}, "1": {"PRODUCT_NAME": "x=y"}}},
    {"cmd": {"c1": "crm.deal.list?filter[%3EID]=1&select[0]=ID", "c 2": "user.get?ID=$result[c1][0][ID]"}},
    {"k": "line1\r\nline2\ttab", "e": ""},
]


@pytest.mark.parametrize("params", ROUND_TRIPS)
def test_round_trip_through_parse_str(params: dict[str, Any]) -> None:
    assert parse_str(http_build_query(params)) == params


def test_round_trip_of_lists_via_php_array_view() -> None:
    params = {"select": ["ID", "TITLE", "UF_CRM_1"], "rows": [{"PRICE": "1"}, {"PRICE": TRICKY}]}
    parsed = parse_str(http_build_query(params))
    assert parsed["select"] == {"0": "ID", "1": "TITLE", "2": "UF_CRM_1"}
    assert php_array_to_python(parsed) == params


# -- batch_command --------------------------------------------------------------------------------------------


def test_batch_command_shape() -> None:
    cmd = batch_command("crm.deal.list", {"filter": {">ID": 100}, "order": {"ID": "ASC"}, "select": ["ID"]})
    assert cmd == "crm.deal.list?filter[%3EID]=100&order[ID]=ASC&select[0]=ID"
    assert batch_command("crm.deal.fields", {}) == "crm.deal.fields"
    assert batch_command("crm.deal.list", {"select": []}) == "crm.deal.list"


def test_batch_references_are_encoded_and_decode_to_the_exact_reference() -> None:
    cmd = batch_command("crm.deal.list", {"filter": {">ID": "$result[page_1][49][ID]"}, "start": -1})
    method, _, query = cmd.partition("?")
    assert method == "crm.deal.list"
    assert "$" not in query and "%24result%5Bpage_1%5D%5B49%5D%5BID%5D" in query
    assert parse_str(query) == {"filter": {">ID": "$result[page_1][49][ID]"}, "start": "-1"}


def test_batch_command_survives_double_encoding_in_a_form_body() -> None:
    cmd = batch_command("crm.deal.update", {"id": 7, "fields": {"TITLE": "A&B %26 C"}})
    outer = http_build_query({"halt": 0, "cmd": {"c1": cmd}})
    assert "%2526" in outer  # the literal "%26" in the value, encoded twice
    received = parse_str(outer)["cmd"]["c1"]
    assert received == cmd
    method, _, query = received.partition("?")
    assert method == "crm.deal.update"
    assert parse_str(query) == {"id": "7", "fields": {"TITLE": "A&B %26 C"}}


@pytest.mark.parametrize("method", ["", "crm.deal.list?x=1", "crm deal", "crm.deal.list#frag"])
def test_batch_command_rejects_bad_method(method: str) -> None:
    with pytest.raises(ValueError):
        batch_command(method, {})


# -- normalize_php_map ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], {}),
        ({}, {}),
        (None, {}),
        (
            [{"error": "", "error_description": "Not found"}, {"error": "X"}],
            {"0": {"error": "", "error_description": "Not found"}, "1": {"error": "X"}},
        ),
        ({"35943": {"ID": "35943"}}, {"35943": {"ID": "35943"}}),
        ({"c1": 50, "c2": 100}, {"c1": 50, "c2": 100}),
        ((1, 2), {"0": 1, "1": 2}),
    ],
)
def test_normalize_php_map(value: Any, expected: dict[str, Any]) -> None:
    assert normalize_php_map(value) == expected


def test_normalize_php_map_keeps_inner_values_untouched() -> None:
    inner = [{"ID": "1"}]
    assert normalize_php_map({"c1": inner})["c1"] is inner


@pytest.mark.parametrize("value", ["oops", 5, True])
def test_normalize_php_map_rejects_scalars(value: Any) -> None:
    with pytest.raises(TypeError):
        normalize_php_map(value)
