"""PHP request parsing, PHP-JSON shaping and batch references in the Bitrix24 sandbox."""

from __future__ import annotations

import json
from typing import Any

import pytest
from b24_1c_sandbox.bitrix24.batchrefs import php_number_string, substitute
from b24_1c_sandbox.bitrix24.php import (
    merge_params,
    parse_body,
    parse_str,
    php_array_to_python,
    php_json,
)

from connector.bitrix24.encoding import batch_command, http_build_query

# -- parse_str ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a[b][]=1&a[b][]=2", {"a": {"b": {"0": "1", "1": "2"}}}),
        ("a[0][c]=x&a[0][d]=y", {"a": {"0": {"c": "x", "d": "y"}}}),
        ("select[]=ID&select[]=TITLE", {"select": {"0": "ID", "1": "TITLE"}}),
        ("n[5]=a&n[]=b", {"n": {"5": "a", "6": "b"}}),
        ("n[x]=a&n[]=b", {"n": {"x": "a", "0": "b"}}),
        ("n[05]=a&n[]=b", {"n": {"05": "a", "0": "b"}}),
        ("a=1&a=2", {"a": "2"}),
        ("a[b]=1&a=2", {"a": "2"}),
        ("a=1&a[b]=2", {"a": {"b": "2"}}),
        ("a[b]=1&a[b][c]=2", {"a": {"b": {"c": "2"}}}),
        (
            "filter[%3EDATE_MODIFY]=2024-01-15T10%3A20%3A30%2B03%3A00",
            {"filter": {">DATE_MODIFY": "2024-01-15T10:20:30+03:00"}},
        ),
        (
            "filter[>DATE_MODIFY]=2024-01-15T10:20:30+03:00",
            {"filter": {">DATE_MODIFY": "2024-01-15T10:20:30 03:00"}},
        ),
        ("filter%5B%3EID%5D=5", {"filter": {">ID": "5"}}),
        ("v=a+b%2Bc%26d%25", {"v": "a b+c&d%"}),
        ("v=%D0%A1%D1%87%D1%91%D1%82", {"v": "Счёт"}),
        ("v=100%", {"v": "100%"}),
        ("flag&x=", {"flag": "", "x": ""}),
        ("&&a=1&&", {"a": "1"}),
        ("=1&[x]=2", {}),
        ("v=a=b", {"v": "a=b"}),
        # PHP rewrites ' ' and '.' in the top-level name only, never inside brackets.
        ("a.b=1&c+d=2", {"a_b": "1", "c_d": "2"}),
        ("x[a.b c]=1&filter[>DATE MODIFY.x]=2", {"x": {"a.b c": "1"}, "filter": {">DATE MODIFY.x": "2"}}),
        ("++a=1", {"a": "1"}),
        ("a[ ]=1&a[ ]=2&a[ x]=3", {"a": {"0": "1", "1": "2", " x": "3"}}),
        ("a[b=1", {"a_b": "1"}),
        ("a[b.c d=1", {"a_b_c_d": "1"}),
        ("a[x][b=1", {"a": {"x": "1"}}),
        ("a[b]junk=1", {"a": {"b": "1"}}),
        ("a[b]junk[c]=1", {"a": {"b": "1"}}),
        ("a[]=1&a[][x]=2", {"a": {"0": "1", "1": {"x": "2"}}}),
        ("a[][]=1", {"a": {"0": {"0": "1"}}}),
    ],
)
def test_parse_str_matches_php(query: str, expected: dict[str, Any]) -> None:
    assert parse_str(query) == expected


def test_parse_str_keeps_insertion_order_on_override() -> None:
    assert list(parse_str("a=1&b=2&a=3")) == ["a", "b"]


def test_parse_str_nesting_limit_drops_the_variable() -> None:
    deep_ok = "a" + "[x]" * 64 + "=1&b=2"
    too_deep = "a" + "[x]" * 65 + "=1&b=2"
    node: Any = parse_str(deep_ok)["a"]
    for _ in range(63):
        node = node["x"]
    assert node == {"x": "1"}
    assert parse_str(too_deep) == {"b": "2"}


# -- php_array_to_python --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"0": "ID", "1": "TITLE"}, ["ID", "TITLE"]),
        ({"1": "B", "0": "A"}, ["B", "A"]),  # PHP foreach order, not index order
        ({"0": "A", "2": "C"}, {"0": "A", "2": "C"}),
        ({"1": "A"}, {"1": "A"}),
        ({"00": "A"}, {"00": "A"}),
        ({"0": {"0": {"PRICE": "1"}}}, [[{"PRICE": "1"}]]),
        ({"rows": {"0": {"X": {"0": "a"}}}, "id": "5"}, {"rows": [{"X": ["a"]}], "id": "5"}),
        ({}, []),
        ([{"0": "a"}], [["a"]]),
        ("text", "text"),
    ],
)
def test_php_array_to_python(value: Any, expected: Any) -> None:
    assert php_array_to_python(value) == expected


# -- php_json -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected_json"),
    [
        ({}, "[]"),
        ({"result": {}, "result_error": {}}, '{"result":[],"result_error":[]}'),
        ({0: "a", 1: "b"}, '["a","b"]'),
        ({"0": {"error": "X"}, "1": {"error": "Y"}}, '[{"error":"X"},{"error":"Y"}]'),
        ({"35943": {"ID": "35943"}}, '{"35943":{"ID":"35943"}}'),
        ({"1": "a", "0": "b"}, '{"1":"a","0":"b"}'),
        ({"0": "a", "2": "b"}, '{"0":"a","2":"b"}'),
        ({"00": "a"}, '{"00":"a"}'),
        ({"c1": {"0": {"ID": "1"}}, "c2": []}, '{"c1":[{"ID":"1"}],"c2":[]}'),
        ([{}, {"k": {}}], '[[],{"k":[]}]'),
        ({5: {"a": 1.5, "b": None, "c": True}}, '{"5":{"a":1.5,"b":null,"c":true}}'),
    ],
)
def test_php_json(value: Any, expected_json: str) -> None:
    assert json.dumps(php_json(value), separators=(",", ":")) == expected_json


def test_php_json_does_not_mutate_input() -> None:
    value: dict[str, Any] = {"a": {}}
    php_json(value)
    assert value == {"a": {}}


# -- merge_params and parse_body ------------------------------------------------------------------------------


def test_merge_params_body_wins_at_top_level_only() -> None:
    query = {"id": "1", "filter": {"A": "1", "B": "2"}, "auth": "t"}
    body = {"id": "2", "filter": {"A": "9"}}
    assert merge_params(query, body) == {"id": "2", "filter": {"A": "9"}, "auth": "t"}
    assert query["id"] == "1"


JSON_BODY = json.dumps({"filter": {">DATE_MODIFY": "2024-01-15T10:20:30+03:00"}, "select": ["ID"]}).encode()


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", " application/json ;x"]
)
def test_parse_body_json(content_type: str) -> None:
    assert parse_body(content_type, JSON_BODY) == {
        "filter": {">DATE_MODIFY": "2024-01-15T10:20:30+03:00"},
        "select": ["ID"],
    }


@pytest.mark.parametrize(
    "content_type", ["text/json", "application/json-patch", None, "Application/JSON", ""]
)
def test_parse_body_non_exact_json_type_goes_through_parse_str(content_type: str | None) -> None:
    parsed = parse_body(content_type, JSON_BODY)
    assert "filter" not in parsed and "select" not in parsed
    assert parse_body(content_type, b"id=5&fields[TITLE]=A%26B") == {"id": "5", "fields": {"TITLE": "A&B"}}


@pytest.mark.parametrize(
    "raw", [b"{bad json", b"", b"NaN", b'{"a": NaN}', b"\xff\xfe", b'"text"', b"42", b"null"]
)
def test_parse_body_invalid_or_scalar_json_is_empty(raw: bytes) -> None:
    assert parse_body("application/json", raw) == {}


def test_parse_body_json_list_becomes_positional_params() -> None:
    assert parse_body("application/json", b'[123, {"POST_MESSAGE": "hi"}]') == {
        "0": 123,
        "1": {"POST_MESSAGE": "hi"},
    }


def test_parse_body_form_urlencoded() -> None:
    raw = http_build_query({"fields": {"TITLE": "Сделка & co", "OPPORTUNITY": "1.5"}}).encode()
    assert parse_body("application/x-www-form-urlencoded; charset=UTF-8", raw) == {
        "fields": {"TITLE": "Сделка & co", "OPPORTUNITY": "1.5"},
    }


def _multipart(boundary: str, parts: list[tuple[str, bytes, str]]) -> bytes:
    chunks = []
    for disposition, payload, extra in parts:
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n{extra}\r\n".encode()
            + payload
            + b"\r\n"
        )
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


def test_parse_body_multipart_with_brackets_cyrillic_and_files() -> None:
    raw = _multipart(
        "b0undary",
        [
            ('name="fields[TITLE]"', "Счёт №1\r\nвторая строка".encode(), ""),
            ('name="fields[PHONE][0][VALUE]"', b"+7 999 & 100%", ""),
            ('name="select[]"', b"ID", ""),
            ('name="select[]"', b"TITLE", ""),
            ('name="upload"; filename="a.txt"', b"file body", "Content-Type: text/plain\r\n"),
            ('name="cp1251"', "Тест".encode("cp1251"), "Content-Type: text/plain; charset=windows-1251\r\n"),
        ],
    )
    assert parse_body("multipart/form-data; boundary=b0undary", raw) == {
        "fields": {"TITLE": "Счёт №1\r\nвторая строка", "PHONE": {"0": {"VALUE": "+7 999 & 100%"}}},
        "select": {"0": "ID", "1": "TITLE"},
        "cp1251": "Тест",
    }


def test_parse_body_multipart_without_boundary_is_empty() -> None:
    assert parse_body("multipart/form-data", b"garbage") == {}


# -- batch references -----------------------------------------------------------------------------------------

ACCUM: dict[str, dict[str, Any]] = {
    "result": {
        "get_user": {"ID": "1", "UF_DEPARTMENT": [7, 9], "NAME": "Иван", "EMPTY": None, "ACTIVE": True},
        "list": [{"ID": "410"}, {"ID": "411"}],
        "items": {"items": [{"id": 253, "opportunity": 1.5}]},
        "add": 394,
        "add_str": "394",
    },
    "next": {"list": 50},
    "total": {"list": 120},
    "time": {"list": {"duration": 0.25}},
    "error": {"bad": {"error": "", "error_description": "Not found"}},
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # whole value -> raw node, of any type
        ("$result[get_user][UF_DEPARTMENT][0]", 7),
        ("$result[get_user][UF_DEPARTMENT]", [7, 9]),
        ("$result[list][1][ID]", "411"),
        ("$result[items][items][0][id]", 253),
        ("$result[add]", 394),
        ("$next[list]", 50),
        ("$total[list]", 120),
        ("$time[list][duration]", 0.25),
        ("$error[bad][error_description]", "Not found"),
        # embedded -> stringified scalars
        ("ID:$result[add]", "ID:394"),
        ("Deal $result[get_user][NAME] #$result[list][0][ID]", "Deal Иван #410"),
        ("x $result[items][items][0][opportunity]", "x 1.5"),
        ("$total[list] rows", "120 rows"),
        # embedded non-scalars, booleans and nulls leave the text as is (PHP is_numeric/is_string)
        ("in $result[get_user][UF_DEPARTMENT]", "in $result[get_user][UF_DEPARTMENT]"),
        ("flag $result[get_user][ACTIVE]", "flag $result[get_user][ACTIVE]"),
        # missing segment -> deepest existing node
        ("$result[list][0][NOPE]", {"ID": "410"}),
        ("$result[list][7][ID]", [{"ID": "410"}, {"ID": "411"}]),
        ("$result[get_user][EMPTY]", ACCUM["result"]["get_user"]),  # isset(null) is false
        ("x $result[list][0][NOPE]", "x $result[list][0][NOPE]"),
        ("x $result[list][0][ID][NOPE]", "x 410"),
        # a missing command key stops at the section; embedded it is a map, so the text stays
        ("pre $result[nokey][ID]", "pre $result[nokey][ID]"),
        ("$result[nokey]", ACCUM["result"]),
        # no path, unknown accumulator, different case, nothing to do
        ("$result", "$result"),
        ("$foo[list]", "$foo[list]"),
        ("$RESULT[add]", None),
        ("x $RESULT[add]", "x $RESULT[add]"),
        ("price $5", "price $5"),
        # PHP string offsets on a scalar string node
        ("$result[add_str][0]", "3"),
        ("$result[add][0]", 394),
    ],
)
def test_substitute_rules(value: str, expected: Any) -> None:
    assert substitute(value, ACCUM) == expected


def test_substitute_walks_nested_params_and_keeps_keys() -> None:
    params = {
        "filter": {">ID": "$result[list][1][ID]", "@ID": {"0": "$result[list][0][ID]", "1": "5"}},
        "fields": {"COMMENTS": "after $result[add]", "$result[add]": "k"},
        "start": "-1",
        "n": 3,
    }
    assert substitute(params, ACCUM) == {
        "filter": {">ID": "411", "@ID": {"0": "410", "1": "5"}},
        "fields": {"COMMENTS": "after 394", "$result[add]": "k"},
        "start": "-1",
        "n": 3,
    }


def test_substitute_returns_copies_of_nodes() -> None:
    node = substitute("$result[get_user][UF_DEPARTMENT]", ACCUM)
    node.append(99)
    assert ACCUM["result"]["get_user"]["UF_DEPARTMENT"] == [7, 9]


def test_substitute_reference_runs_to_whitespace() -> None:
    # PHP's regex takes everything up to whitespace as one reference path.
    assert substitute("$result[list][0][ID],$result[add]", ACCUM) == "410"
    assert substitute("a $result[list][0][ID],x", ACCUM) == "a 410"


def test_substitute_after_parsing_an_encoded_batch_command() -> None:
    cmd = batch_command("crm.deal.list", {"filter": {">ID": "$result[list][1][ID]"}, "select": ["ID"]})
    _, _, query = cmd.partition("?")
    assert substitute(parse_str(query), ACCUM) == {"filter": {">ID": "411"}, "select": {"0": "ID"}}


def test_substitute_with_empty_accumulators() -> None:
    assert substitute("$result[a]", {"result": {}}) == {}
    assert substitute("$result[a]", {}) == "$result[a]"


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (5, "5"),
        (-12, "-12"),
        (1.5, "1.5"),
        (100.0, "100"),
        (0.1 + 0.2, "0.3"),
        (1e20, "1.0E+20"),
        (1.5e-7, "1.5E-7"),
        (-0.0, "-0"),
        (float("inf"), "INF"),
        (float("nan"), "NAN"),
    ],
)
def test_php_number_string(number: float, text: str) -> None:
    assert php_number_string(number) == text
