"""Filter, order and select engine of the Bitrix24 sandbox's list methods."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from b24_1c_sandbox.bitrix24.filtering import FilterError, apply_select, compile_filter, sort_records
from b24_1c_sandbox.bitrix24.php import parse_str

from connector.bitrix24.encoding import http_build_query

FIELDS = {
    "ID": "integer",
    "TITLE": "string",
    "STAGE_ID": "crm_status",
    "OPPORTUNITY": "double",
    "COMPANY_ID": "crm_company",
    "CONTACT_ID": "crm_contact",
    "ASSIGNED_BY_ID": "user",
    "CATEGORY_ID": "crm_category",
    "CURRENCY_ID": "crm_currency",
    "OPENED": "char",
    "DATE_MODIFY": "datetime",
    "BEGINDATE": "date",
    "ORIGIN_ID": "string",
    "UF_CRM_FLAG": "boolean",
    "UF_CRM_KIND": "enumeration",
    "UF_CRM_TAGS": "string",
}

# Legacy crm.deal.* records: every scalar is a string, empty links are null.
DEALS: list[dict[str, Any]] = [
    {
        "ID": "5",
        "TITLE": "Deal #5",
        "STAGE_ID": "NEW",
        "OPPORTUNITY": "1000.00",
        "COMPANY_ID": "9",
        "CONTACT_ID": "3",
        "ASSIGNED_BY_ID": "1",
        "CATEGORY_ID": "0",
        "CURRENCY_ID": "RUB",
        "OPENED": "Y",
        "DATE_MODIFY": "2024-01-15T10:20:30+03:00",
        "BEGINDATE": "2024-01-15T03:00:00+03:00",
        "ORIGIN_ID": "guid-a",
        "UF_CRM_FLAG": "1",
        "UF_CRM_KIND": "45",
        "UF_CRM_TAGS": ["a", "b"],
    },
    {
        "ID": "410",
        "TITLE": "Поставка 100% & co",
        "STAGE_ID": "WON",
        "OPPORTUNITY": "19999.99",
        "COMPANY_ID": "0",
        "CONTACT_ID": None,
        "ASSIGNED_BY_ID": "7",
        "CATEGORY_ID": "2",
        "CURRENCY_ID": "EUR",
        "OPENED": "N",
        "DATE_MODIFY": "2024-01-15T10:20:31+03:00",
        "BEGINDATE": "2024-01-16T03:00:00+03:00",
        "ORIGIN_ID": "guid-b",
        "UF_CRM_FLAG": "0",
        "UF_CRM_KIND": "46",
        "UF_CRM_TAGS": ["c"],
    },
    {
        "ID": "41",
        "TITLE": "",
        "STAGE_ID": "C2:NEW",
        "OPPORTUNITY": "5",
        "COMPANY_ID": None,
        "CONTACT_ID": None,
        "ASSIGNED_BY_ID": "1",
        "CATEGORY_ID": "2",
        "CURRENCY_ID": "RUB",
        "OPENED": "Y",
        "DATE_MODIFY": "2024-01-16T00:00:00+03:00",
        "BEGINDATE": None,
        "ORIGIN_ID": None,
        "UF_CRM_FLAG": None,
        "UF_CRM_KIND": None,
        "UF_CRM_TAGS": [],
    },
]


def ids(
    filter: Any,
    *,
    strict: bool = False,
    records: list[dict[str, Any]] | None = None,
    fields: dict[str, str] | None = None,
    **kwargs: Any,
) -> list[str]:
    predicate = compile_filter(filter, fields or FIELDS, strict=strict, **kwargs)
    return [str(r.get("ID", r.get("id"))) for r in (DEALS if records is None else records) if predicate(r)]


# -- every prefix ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"ID": 5}, ["5"]),
        ({"=ID": "410"}, ["410"]),
        ({"!ID": 5}, ["410", "41"]),
        ({"!=ID": 5}, ["410", "41"]),
        ({">ID": 5}, ["410", "41"]),
        ({">=ID": 41}, ["410", "41"]),
        ({"<ID": 41}, ["5"]),
        ({"<=ID": "41"}, ["5", "41"]),
        ({"@ID": [5, "41"]}, ["5", "41"]),
        ({"!@ID": [5, "41"]}, ["410"]),
        ({"%TITLE": "ПОСТАВКА"}, ["410"]),
        ({"%TITLE": "100%"}, ["410"]),
        ({"=%TITLE": "deal%"}, ["5"]),
        ({"%=TITLE": "%co"}, ["410"]),
        ({"=%TITLE": "deal"}, []),
        ({"=%TITLE": "Deal #_"}, ["5"]),
        ({"!%TITLE": "deal"}, ["410", "41"]),
        ({"!=%TITLE": "deal%"}, ["410", "41"]),
        ({"!%=TITLE": "%co"}, ["5", "41"]),
    ],
)
def test_each_operator(filter: dict[str, Any], expected: list[str]) -> None:
    assert ids(filter) == expected


def test_conditions_are_anded() -> None:
    assert ids({"STAGE_ID": "NEW", "ASSIGNED_BY_ID": 1}) == ["5"]
    assert ids({">ID": 5, "CURRENCY_ID": "RUB"}) == ["41"]


# -- typing ---------------------------------------------------------------------------------------------------


def test_integer_fields_compare_numerically_not_as_strings() -> None:
    # As strings "410" < "5" and "41" < "5"; a real portal compares numbers.
    assert ids({">ID": "5"}) == ["410", "41"]
    assert ids({"<ID": 100}) == ["5", "41"]


def test_double_fields_compare_numerically() -> None:
    assert ids({">OPPORTUNITY": 999.5}) == ["5", "410"]
    assert ids({"OPPORTUNITY": 1000}) == ["5"]
    assert ids({"<OPPORTUNITY": "19999.99"}) == ["5", "41"]
    assert ids({">=OPPORTUNITY": "19999.99"}) == ["410"]


def test_integer_filter_values_are_read_like_php_intval() -> None:
    assert ids({"ID": "5abc"}) == ["5"]
    assert ids({"ID": "5.9"}) == ["5"]
    assert ids({"ID": "abc"}) == []


def test_typed_records_from_crm_item_work_too() -> None:
    items = [
        {"id": 253, "opportunity": 19000, "stageId": "NEW"},
        {"id": 9, "opportunity": 1.5, "stageId": "WON"},
    ]
    fields = {"id": "integer", "opportunity": "double", "stageId": "crm_status"}
    assert ids({">id": "10"}, records=items, fields=fields, strict=True) == ["253"]
    assert ids({"STAGEID": "won"}, records=items, fields=fields, strict=True) == ["9"]
    assert ids({"<=opportunity": 1.5}, records=items, fields=fields, strict=True) == ["9"]


def test_keys_match_case_insensitively() -> None:
    assert ids({">id": 40, "stage_id": "won"}) == ["410"]


def test_strings_compare_case_insensitively() -> None:
    assert ids({"CURRENCY_ID": "rub"}) == ["5", "41"]
    assert ids({"OPENED": "n"}) == ["410"]


def test_booleans() -> None:
    assert ids({"UF_CRM_FLAG": 1}) == ["5"]
    assert ids({"UF_CRM_FLAG": "Y"}) == ["5"]
    assert ids({"UF_CRM_FLAG": 0}) == ["410"]
    assert ids({"UF_CRM_FLAG": False}) == ["410"]
    assert ids({"OPENED": True}) == ["5", "41"]


def test_enumeration_uses_option_ids() -> None:
    assert ids({"UF_CRM_KIND": 46}) == ["410"]
    assert ids({"@UF_CRM_KIND": ["45", "46"]}) == ["5", "410"]


# -- empties, NULLs, lists ------------------------------------------------------------------------------------


def test_equals_empty_string_matches_null_and_empty() -> None:
    assert ids({"ORIGIN_ID": ""}) == ["41"]
    assert ids({"TITLE": ""}) == ["41"]
    # "no company" is "0" or null on a legacy portal
    assert ids({"COMPANY_ID": ""}) == ["410", "41"]
    assert ids({"!COMPANY_ID": ""}) == ["5"]
    assert ids({"!ORIGIN_ID": ""}) == ["5", "410"]


def test_negation_includes_nulls() -> None:
    assert ids({"!=CONTACT_ID": 3}) == ["410", "41"]
    assert ids({"!STAGE_ID": "NEW"}) == ["410", "41"]


def test_comparisons_never_match_nulls() -> None:
    assert ids({"<CONTACT_ID": 100}) == ["5"]
    assert ids({"<BEGINDATE": "2030-01-01"}) == ["5", "410"]


def test_equals_with_a_list_is_in() -> None:
    assert ids({"STAGE_ID": ["WON", "C2:NEW"]}) == ["410", "41"]
    assert ids({"!STAGE_ID": ["WON", "C2:NEW"]}) == ["5"]


def test_in_accepts_the_php_array_shape_from_a_query_string() -> None:
    filter = parse_str(http_build_query({"filter": {"@ID": ["410", "41"]}}))["filter"]
    assert filter == {"@ID": {"0": "410", "1": "41"}}
    assert ids(filter) == ["410", "41"]


def test_empty_in_list_matches_nothing() -> None:
    assert ids({"@ID": []}) == []
    assert ids({"!@ID": []}) == ["5", "410", "41"]


def test_multiple_fields_match_any_element() -> None:
    assert ids({"UF_CRM_TAGS": "b"}) == ["5"]
    assert ids({"!UF_CRM_TAGS": "b"}) == ["410", "41"]
    assert ids({"UF_CRM_TAGS": ""}) == ["41"]
    assert ids({"%UF_CRM_TAGS": "C"}) == ["410"]


# -- dates ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({">DATE_MODIFY": "2024-01-15T10:20:30+03:00"}, ["410", "41"]),
        ({">=DATE_MODIFY": "2024-01-15T10:20:31+03:00"}, ["410", "41"]),
        # same instants written with other offsets
        ({">=DATE_MODIFY": "2024-01-15T07:20:31+00:00"}, ["410", "41"]),
        ({">=DATE_MODIFY": "2024-01-15T07:20:31Z"}, ["410", "41"]),
        ({"<DATE_MODIFY": "2024-01-15T09:20:31+02:00"}, ["5"]),
        ({"DATE_MODIFY": "2024-01-15T02:20:30-05:00"}, ["5"]),
        # one-second granularity: fractions are dropped
        ({"DATE_MODIFY": "2024-01-15T10:20:30.999+03:00"}, ["5"]),
        ({">DATE_MODIFY": "2024-01-15T10:20:30.999+03:00"}, ["410", "41"]),
        # no offset: portal time (+03:00 by default)
        ({"<=DATE_MODIFY": "2024-01-15T10:20:30"}, ["5"]),
        ({"DATE_MODIFY": "2024-01-16"}, ["41"]),
        ({"<DATE_MODIFY": "2024-01-16"}, ["5", "410"]),
        # the portal's local format is accepted too
        ({">=DATE_MODIFY": "15.01.2024 10:20:31"}, ["410", "41"]),
        ({"DATE_MODIFY": "not a date"}, []),
    ],
)
def test_datetime_filters(filter: dict[str, Any], expected: list[str]) -> None:
    assert ids(filter) == expected


def test_naive_filter_values_follow_the_portal_offset() -> None:
    utc = dt.UTC
    # 10:20:30 UTC is 13:20:30+03:00, after every record but the midnight one.
    assert ids({">=DATE_MODIFY": "2024-01-15T10:20:30"}, portal_offset=utc) == ["41"]
    assert ids({">=DATE_MODIFY": "2024-01-15T10:20:30+03:00"}, portal_offset=utc) == ["5", "410", "41"]


def test_datetime_objects_in_filters() -> None:
    moment = dt.datetime(2024, 1, 15, 7, 20, 31, tzinfo=dt.UTC)
    assert ids({">=DATE_MODIFY": moment}) == ["410", "41"]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"BEGINDATE": "2024-01-15"}, ["5"]),
        ({"BEGINDATE": "2024-01-15T00:00:00+03:00"}, ["5"]),
        # 22:00 UTC on the 14th is already the 15th in the portal's +03:00
        ({"BEGINDATE": "2024-01-14T22:00:00+00:00"}, ["5"]),
        ({">BEGINDATE": "2024-01-15"}, ["410"]),
        ({">=BEGINDATE": "15.01.2024"}, ["5", "410"]),
        ({"BEGINDATE": ""}, ["41"]),
    ],
)
def test_date_filters_compare_days(filter: dict[str, Any], expected: list[str]) -> None:
    assert ids(filter) == expected


def test_date_fields_use_the_rendered_day_of_shifted_midnight() -> None:
    records = [{"ID": "1", "BEGINDATE": "2024-08-30T02:00:00+02:00"}]
    assert ids(
        {"BEGINDATE": "2024-08-30"}, records=records, portal_offset=dt.timezone(dt.timedelta(hours=2))
    ) == ["1"]


# -- logic ----------------------------------------------------------------------------------------------------


def test_or_logic() -> None:
    assert ids({"logic": "OR", "0": {"=ID": 5}, "1": {"%TITLE": "постав"}}) == ["5", "410"]


def test_logic_is_case_insensitive_and_defaults_to_and() -> None:
    assert ids({"LOGIC": "or", "0": {"ID": 5}, "1": {"ID": 41}}) == ["5", "41"]
    assert ids({"logic": "AND", "0": {">ID": 5}, "1": {"<ID": 100}}) == ["41"]
    assert ids({"0": {">ID": 5}, "1": {"<ID": 100}}) == ["41"]


def test_nested_or_inside_and() -> None:
    filter: dict[str, Any] = {
        "CATEGORY_ID": 2,
        "0": {"logic": "OR", "0": {"STAGE_ID": "WON"}, "1": {"0": {"CURRENCY_ID": "RUB"}, "1": {"<ID": 100}}},
    }
    assert ids(filter) == ["410", "41"]
    filter["0"]["1"]["1"] = {"<ID": 10}
    assert ids(filter) == ["410"]


def test_or_from_a_query_string_and_from_json_lists() -> None:
    query = http_build_query({"filter": {"logic": "OR", "0": {"ID": 5}, "1": {"@ID": [41]}}})
    assert ids(parse_str(query)["filter"]) == ["5", "41"]
    assert ids({"logic": "OR", "0": {"ID": 5}, "1": {"ID": 41}, "2": [{"ID": 410}]}) == ["5", "410", "41"]


def test_dropped_condition_does_not_make_an_or_group_always_true() -> None:
    # LIKE on a status field is dropped; the OR keeps only its other branch.
    assert ids({"logic": "OR", "0": {"%STAGE_ID": "zzz"}, "1": {"ID": 5}}) == ["5"]
    assert ids({"ID": 5, "0": {"logic": "OR", "0": {"%STAGE_ID": "x"}, "1": {"%COMPANY_ID": "y"}}}) == ["5"]


def test_unknown_logic() -> None:
    assert ids({"logic": "XOR", "0": {"ID": 5}, "1": {"ID": 41}}) == []
    with pytest.raises(FilterError) as err:
        ids({"logic": "XOR", "0": {"ID": 5}}, strict=True)
    assert err.value.code == "INVALID_ARG_VALUE"


# -- LIKE on status/link fields, unknown fields, bad filters -------------------------------------------------


@pytest.mark.parametrize(
    "filter",
    [
        {"%STAGE_ID": "zzz"},
        {"=%COMPANY_ID": "9%"},
        {"%CONTACT_ID": "nothing"},
        {"!%ASSIGNED_BY_ID": "1"},
        {"%=STAGE_ID": "x"},
        {"!=%STAGE_ID": "%"},
    ],
)
@pytest.mark.parametrize("strict", [False, True])
def test_like_on_status_and_link_fields_is_ignored(filter: dict[str, Any], strict: bool) -> None:
    assert ids(filter, strict=strict) == ["5", "410", "41"]


def test_like_applies_to_other_field_types() -> None:
    assert ids({"%CURRENCY_ID": "ur"}) == ["410"]
    assert ids({"=%ORIGIN_ID": "guid-_"}) == ["5", "410"]


@pytest.mark.parametrize("key", ["NOPE", ">=NOPE", "!%NOPE", "@NOPE"])
def test_unknown_field_strict_raises(key: str) -> None:
    with pytest.raises(FilterError) as err:
        ids({key: 1}, strict=True)
    assert err.value.code == "INVALID_ARG_VALUE"
    assert err.value.message == "Invalid filter: field 'NOPE' is not allowed in filter"
    assert str(err.value) == err.value.message


def test_unknown_field_legacy_is_ignored() -> None:
    assert ids({"NOPE": 1, "ID": 5}) == ["5"]
    assert ids({"><ID": [1, 10]}) == ["5", "410", "41"]


def test_unknown_field_inside_an_or_group_is_also_checked_in_strict_mode() -> None:
    with pytest.raises(FilterError):
        ids({"logic": "OR", "0": {"ID": 5}, "1": {"NOPE": 1}}, strict=True)


@pytest.mark.parametrize("filter", ["ID=5", 5, True])
@pytest.mark.parametrize("strict", [False, True])
def test_filter_must_be_an_array(filter: Any, strict: bool) -> None:
    with pytest.raises(FilterError) as err:
        compile_filter(filter, FIELDS, strict=strict)
    assert (err.value.code, err.value.message) == ("", "Parameter 'filter' must be array.")


@pytest.mark.parametrize("filter", [None, [], {}])
def test_absent_or_empty_filter_matches_everything(filter: Any) -> None:
    assert ids(filter, strict=True) == ["5", "410", "41"]


def test_unknown_field_type_in_schema_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        compile_filter({}, {"X": "money"}, strict=False)


# -- sort_records ---------------------------------------------------------------------------------------------


def order_ids(order: Any, records: list[dict[str, Any]] | None = None) -> list[str]:
    return [str(r["ID"]) for r in sort_records(DEALS if records is None else records, order, FIELDS)]


def test_sort_integers_numerically() -> None:
    assert order_ids({"ID": "ASC"}) == ["5", "41", "410"]
    assert order_ids({"id": "desc"}) == ["410", "41", "5"]


def test_sort_doubles_numerically() -> None:
    assert order_ids({"OPPORTUNITY": "DESC"}) == ["410", "5", "41"]


def test_sort_multi_key() -> None:
    assert order_ids({"CURRENCY_ID": "ASC", "ID": "DESC"}) == ["410", "41", "5"]
    assert order_ids({"ASSIGNED_BY_ID": "ASC", "OPPORTUNITY": "ASC"}) == ["41", "5", "410"]


def test_sort_nulls_first_ascending_last_descending() -> None:
    assert order_ids({"ORIGIN_ID": "ASC"}) == ["41", "5", "410"]
    assert order_ids({"ORIGIN_ID": "DESC"}) == ["410", "5", "41"]


def test_sort_datetimes_by_instant_across_offsets() -> None:
    records = [
        {"ID": "1", "DATE_MODIFY": "2024-01-15T10:00:00+03:00"},
        {"ID": "2", "DATE_MODIFY": "2024-01-15T08:30:00+00:00"},
        {"ID": "3", "DATE_MODIFY": "2024-01-15T09:00:00+03:00"},
    ]
    assert order_ids({"DATE_MODIFY": "ASC"}, records) == ["3", "1", "2"]


def test_sort_is_stable_and_ignores_unknown_fields() -> None:
    assert order_ids({"NOPE": "ASC"}) == ["5", "410", "41"]
    assert order_ids({"CATEGORY_ID": "DESC"}) == ["410", "41", "5"]
    assert order_ids(None) == ["5", "410", "41"]
    assert order_ids([]) == ["5", "410", "41"]


def test_sort_does_not_mutate_input() -> None:
    records = list(DEALS)
    sort_records(records, {"ID": "DESC"}, FIELDS)
    assert records == DEALS


@pytest.mark.parametrize("direction", ["UP", "", "ASCENDING", 1, None])
def test_bad_order_direction(direction: Any) -> None:
    with pytest.raises(FilterError) as err:
        sort_records(DEALS, {"ID": direction}, FIELDS)
    assert (err.value.code, err.value.message) == (
        "ERROR_ARGUMENT",
        "Order direction should be one of {ASC|DESC}",
    )


def test_bad_direction_on_an_unknown_field_still_fails() -> None:
    with pytest.raises(FilterError):
        sort_records(DEALS, {"NOPE": "sideways"}, FIELDS)


def test_order_must_be_an_array() -> None:
    with pytest.raises(FilterError) as err:
        sort_records(DEALS, "ID", FIELDS)
    assert (err.value.code, err.value.message) == ("", "Parameter 'order' must be array.")


# -- apply_select ---------------------------------------------------------------------------------------------

RECORD = {
    "ID": "5",
    "TITLE": "Deal",
    "STAGE_ID": "NEW",
    "UF_CRM_A": "1",
    "UF_CRM_B": None,
    "PHONE": [{"VALUE": "+7"}],
}
STANDARD = ["ID", "TITLE", "STAGE_ID", "UF_CRM_A"]


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        (None, ["ID", "TITLE", "STAGE_ID", "UF_CRM_A", "UF_CRM_B"]),
        ([], ["ID", "TITLE", "STAGE_ID", "UF_CRM_A", "UF_CRM_B"]),
        (["*"], ["ID", "TITLE", "STAGE_ID"]),
        (["UF_*"], ["ID", "UF_CRM_A", "UF_CRM_B"]),
        (["*", "UF_*"], ["ID", "TITLE", "STAGE_ID", "UF_CRM_A", "UF_CRM_B"]),
        (["TITLE"], ["ID", "TITLE"]),
        (["title", "uf_crm_b"], ["ID", "TITLE", "UF_CRM_B"]),
        (["PHONE"], ["ID", "PHONE"]),
        (["*", "PHONE"], ["ID", "TITLE", "STAGE_ID", "PHONE"]),
        (["NOPE"], ["ID"]),
        ("TITLE", ["ID", "TITLE"]),
    ],
)
def test_apply_select(select: Any, expected: list[str]) -> None:
    assert list(apply_select(RECORD, select, STANDARD)) == expected


def test_apply_select_keeps_values_and_can_drop_id() -> None:
    assert apply_select(RECORD, ["UF_CRM_B"], STANDARD) == {"ID": "5", "UF_CRM_B": None}
    assert apply_select(RECORD, ["TITLE"], STANDARD, always=()) == {"TITLE": "Deal"}
